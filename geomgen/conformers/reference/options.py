"""Settings of the reference sampler, declared once: a field of
:class:`~geomgen.conformers.reference.sampler.SamplerConfig`, its check and, where it has one,
its ``geomgen reference`` flag.

The sampler's own settings are :data:`CORE_OPTIONS`; each move declares its settings as the
``options`` of its class (:mod:`~geomgen.conformers.reference.moves`), so a new move brings its
fields and flags with it. Nothing here imports numpy or RDKit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One setting.

    Args:
        name (str): the field of ``SamplerConfig``.
        default: its default.
        help (str): one sentence for the docstring and ``--help``.
        flags (tuple of str): ``geomgen reference`` flags (default none: not on the command line).
        cli_default: the command line's default where it differs from ``default``.
        low (float, optional): the smallest value allowed (default: no bound).
        closed (bool): whether ``low`` itself is allowed (default True).
        inf_ok (bool): whether ``+inf`` is allowed (reals only; default False).
        choices (tuple of str, optional): the allowed values of a string setting.
    """

    name: str
    default: object
    help: str
    flags: tuple[str, ...] = ()
    cli_default: object = None
    low: float | None = None
    closed: bool = True
    inf_ok: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def type(self) -> type:
        return type(self.default)

    def problem(self, value) -> str | None:
        """Why ``value`` is not allowed (``"must be ..., got ..."``), or ``None``."""
        if self.choices is not None:
            return None if value in self.choices else f"must be one of {', '.join(self.choices)}, got {value!r}"
        if isinstance(self.default, bool) or self.low is None and self.type is not float:
            return None
        if self.type is int:
            return f"must be at least {self.low}, got {value}" if value < self.low else None
        bad = math.isnan(value) or (math.isinf(value) and not (self.inf_ok and value > 0))
        if self.low is not None:
            bad = bad or value < self.low or (value == self.low and not self.closed)
        if not bad:
            return None
        if self.low is None:
            what = "a number"
        elif self.closed:
            what = "non-negative" if self.low == 0 else f"at least {self.low:g}"
        else:
            what = "positive" if self.low == 0 else f"above {self.low:g}"
        return f"must be {what}{'' if self.inf_ok else ' and finite'}, got {value}"


def _h(text: str) -> str:
    return " ".join(text.split())


#: the settings of the sampler itself (chains, ladder, rounds, caps, convergence targets, seed);
#: the moves' settings are declared by the moves
CORE_OPTIONS: tuple[Option, ...] = (
    Option("temperature", 300.0, "K (default 300).", ("--temperature",), low=0.0, closed=False),
    Option("n_chains", 4, "independent chains (replica ladders), at least 2 (default 4).", ("--chains",), low=2),
    Option("n_samples", 400, "pooled samples returned (default 400; the command line's 300).", ("-n", "--num-samples"),
           cli_default=300, low=1),
    Option("max_samples", 0, _h("""with more than ``n_samples``, the pooled samples returned grow with the run's effective
           sample size, up to this: the smallest torsion ESS, rounded, clipped to [``n_samples``, ``max_samples``]. The
           stored samples are what a verification compares, and they resolve no more than their count, so an ensemble
           with an ESS of thousands stored as 1,600 samples may never reach an ``agreement_target`` (default 0: always
           ``n_samples``)."""), low=0),
    Option("ladder", "hamiltonian", _h("""``hamiltonian`` (scale the rotatable bonds' torsion terms) or ``temperature``
           (default ``hamiltonian``)."""), choices=("hamiltonian", "temperature")),
    Option("n_replicas", 1, _h("""rungs per ladder; 1 means no replica exchange (default 1: at equal wall time a ladder
           did not pay on MOSES-sized molecules, see evaluation/conformers/sampler_efficiency.md)."""), ("--replicas",), low=1),
    Option("lambda_min", 0.0, "torsion-term scale of the top rung of a Hamiltonian ladder, in [0, 1) (default 0)."),
    Option("ladder_terms", "torsion", _h("""what a Hamiltonian ladder scales: ``torsion`` (default) or
           ``torsion+electrostatic`` (also the intramolecular electrostatics,
           :class:`~geomgen.conformers.reference.barrier.ElectrostaticTerm`, which hold hydrogen-bonded states in
           vacuum); an option, not the default (evaluation/conformers/sampler_efficiency_hbond.md)."""), choices=("torsion", "torsion+electrostatic")),
    Option("ladder_bonds", "rotatable", _h("""whose torsion terms a Hamiltonian ladder scales: the rotatable bonds (``rotatable``,
           default) or those and the partial double bonds of the amide flips (``rotatable+partial``: amides, esters,
           carbamates, acids), so that the upper rungs cross their E/Z barriers and swaps carry the states down."""),
           choices=("rotatable", "rotatable+partial")),
    Option("t_max", 600.0, "temperature of the top rung of a temperature ladder, K (default 600).", low=0.0, closed=False),
    Option("adapt_ladder", True, "equalise neighbour swap rates during warm-up (default True)."),
    Option("warmup_sweeps", 200, "sweeps discarded per chain while step sizes and ladder adapt (default 200).", low=0),
    Option("round_sweeps", 200, "sweeps per chain between convergence checks (default 200).", low=1),
    Option("check_growth", 0.1, _h("""the convergence rule is checked after a round only once the chains have grown by this share
           since the last check (and always at a cap): every check reads the whole history, so checking every round costs
           time quadratic in the run's length (a third of a 50,000-sweep run), geometric spacing a constant factor, for
           at most this share of extra sweeps past the first round that passes (default 0.1; 0 checks every round)."""),
           low=0.0),
    Option("min_sweeps", 200, "lower bound on recorded sweeps per chain (default 200).", low=0),
    Option("max_sweeps", 6000, "cap on recorded sweeps per chain (default 6000; the command line's 20000).",
           ("--max-sweeps",), cli_default=20000, low=1),
    Option("max_seconds", math.inf, "wall-time cap per molecule; checked between rounds (default inf).",
           ("--max-seconds",), low=0.0, closed=False, inf_ok=True),
    Option("max_cpu_seconds", math.inf, _h("""cap on the CPU time of this process (single-threaded), so a budget means
           the same work on a busy machine as on an idle one (default inf)."""), low=0.0, closed=False, inf_ok=True),
    Option("give_up_after", 0.25, _h("""share of ``max_cpu_seconds`` after which a molecule whose chains have each stayed in one
           state of a monitored discrete site, not the same state in every chain, is stopped as not converged: with no
           transition in that time, the rest of the budget cannot bring the site's ESS to the target (default 0.25;
           0 never stops early)."""), low=0.0),
    Option("projection_margin", 2.0, _h("""after ``give_up_after`` of ``max_cpu_seconds``, a molecule is also stopped as not
           converged when, extrapolated to the cap at its rate so far (effective sample size in proportion to CPU time,
           the inter-half W1 of a well-mixed torsion as its inverse square root), some torsion's or discrete state's ESS
           would stay below ``ess_target`` / margin, or a torsion's inter-half W1 above margin x ``w1_target``: the
           rest of the budget is then short by more than the margin (default 2; 0 never projects)."""), low=0.0),
    Option("rhat_target", 1.05, "convergence: split R-hat of every torsion below (default 1.05).", ("--rhat",),
           low=1.0, closed=False),
    Option("ess_target", 100.0, "convergence: effective sample size of every torsion at least (default 100).", ("--ess",),
           low=0.0, closed=False),
    Option("w1_target", 0.1, "convergence: inter-half circular W1 of every torsion at most, rad (default 0.1).", ("--w1",),
           low=0.0, closed=False),
    Option("state_gap_target", 0.1, _h("""convergence: the populations of every monitored discrete state (amide E/Z, nitrogen
           configuration) in the two halves of the chains differ by at most (default 0.1)."""), ("--state-gap",),
           low=0.0, closed=False),
    Option("agreement_target", 0.0, _h("""convergence, once the rule holds: the probability that a rerun by an *exact* sampler at this
           run's effective sizes would agree with it by the verification rule
           (:func:`~geomgen.conformers.reference.verification.self_agreement`) at least this; the run goes on until
           it does, so the ESS a molecule gets is what its torsions need (default 0: not checked)."""), ("--agreement",),
           low=0.0),
    Option("basin_search", 0, _h("""starts of an independent search for low-energy basins made before the chains: over-dispersed
           starts like the chains' own (their discrete states drawn at random), each minimised with MMFF94, the distinct minima
           kept (:mod:`~geomgen.conformers.reference.basins`); it gives the ``basin_starts`` and the ``basin_tolerance``
           check (default 0: no search)."""), ("--basin-search",), low=0),
    Option("basin_starts", 0, _h("""chains started at the search's lowest distinct minima instead of an over-dispersed start, so
           that some chain starts in each of the basins that matter most, which random starts may all miss (default 0)."""),
           ("--basin-starts",), low=0),
    Option("basin_tolerance", math.inf, _h("""convergence, with ``basin_search``: the lowest search minimum may lie at most this far
           (kcal/mol) below every basin that the run's lowest-energy samples relax into; further, the run missed a basin
           and is not converged (default inf: not checked)."""), ("--basin-tolerance",), low=0.0, inf_ok=True),
    Option("own_embeddings", True, _h("""start each chain from its own ETKDGv3 embedding (with the seed's stereo) rather than
           from the seed, its discrete states spread over the chains (default True)."""), low=None),
    Option("seed", 0, "random seed (default 0)."),
)
