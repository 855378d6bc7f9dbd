r"""Amide flips: an exact NCMC move between the E/Z states of partial double bonds.

The C(=X)-N and C(=X)-O bonds of amides (secondary and tertiary), thioamides, ureas, carbamates,
N-acyl sulfonamides, amidines, esters and carbonates (the partial double bonds of
:mod:`geomgen.conformers.torsions`, which no torsion move rotates) have barriers of 13-20
kcal/mol: rigid torsion moves and MALA never cross them, so without this move a chain keeps the
E/Z state of its start (a tertiary amide such as ``CCN(C)C(C)=O`` is about 40/60 in MMFF94 at
300 K).

**Sites** (:func:`~geomgen.conformers.discrete_states.partial_double_bonds`, defined with their
states and the rigid flip in :mod:`geomgen.conformers.discrete_states`). Each bond (j, k), j the carbonyl-like carbon and k the
N or O, that matches ``[NX3]-[CX3]=[O,S,NX2]`` or ``[OX2]-[CX3]=[O,S]`` and is not in a ring. Its
reference atoms are, on each end, the neighbour other than the partner with the highest
canonical rank (``breakTies=False``), heavy atoms first: i on j (the C=X atom or the carbonyl's
substituent, whichever ranks higher) and l on k. A carboxylic acid's O-H has no heavy neighbour
on O, so its hydrogen is the reference there: acids are included (syn/anti). An end whose two
top candidates are graph-equivalent (a primary amide's NH2, N,N-dimethyl, an N-acyl piperidine)
has no E/Z state to sample -- the flip is a relabelling by a graph automorphism, which the
symmetry move already makes -- and is left out. The moving atoms are those of the smaller side,
as for a rotatable torsion (:func:`~geomgen.conformers.torsions.torsion_set_from_atoms`).

**States** (:func:`amide_states`). Site s is *cis* when its reference dihedral
:math:`\phi_s = \angle(i, j, k, l)` has :math:`|\phi_s| < \pi/2`, else *trans*. This is a label
by canonical ranks, not the chemical E/Z or cis/trans name: for N-methylacetamide the references
are the two methyl carbons, so the common trans-NMA (methyls anti, H and O anti) is *trans*; on the
C-N bond of a methyl carbamate the carbonyl carbon's reference is the ester oxygen, not the
carbonyl oxygen, so there *cis* puts the N substituent on the ester oxygen's side.

**The move.** Pick a site uniformly; draw :math:`\delta = \pm(\pi + \epsilon)`, the sign fair
and :math:`\epsilon \sim \mathcal N(0, \sigma^2)` (``amide_flip_jitter``), a law symmetric under
:math:`\delta \to -\delta`; rotate the site's moving side by :math:`\delta/K` about j -> k in K
increments :math:`\Phi` (``amide_flip_steps``) with ``amide_flip_relax`` MALA steps
:math:`\mathcal K` (frozen step size) between them, in the order
:math:`\Phi\,\mathcal K\,\Phi \cdots \mathcal K\,\Phi`, and accept with
:math:`\min(1, e^{-W})`, :math:`W = \sum_k [u(y_k) - u(x_{k-1})]`, :math:`u = -\log\pi_r`, the sum
over the increments only (:func:`~geomgen.conformers.reference.moves.ncmc.ncmc_rotation`).

*Invariance* (the NCMC argument of :mod:`~geomgen.conformers.reference.moves.ncmc`, Nilmeier et
al., PNAS 2011, applied to a bond outside the rotatable set): the site and the law of
:math:`\delta` do not depend on the state and the law is symmetric, so the reverse path is the
same protocol with :math:`-\delta`, equally likely. Each :math:`\Phi` is a rigid rotation of the
moving side about an axis through the two bond atoms, which it does not move, so
:math:`\Phi_{-\delta/K} = \Phi_{\delta/K}^{-1}` and its Jacobian is 1; each :math:`\mathcal K`
satisfies :math:`\pi_r(y)\mathcal K(y, x) = \pi_r(x)\mathcal K(x, y)`. The ratio of reverse to
forward path densities is therefore :math:`\prod_k \pi_r(y_k)/\pi_r(x_k)`, and
:math:`\pi_r(x')P_{\mathrm{rev}} / (\pi_r(x)P_{\mathrm{fwd}}) = \prod_k \pi_r(y_k)/\pi_r(x_{k-1}) = e^{-W}`:
accepting with :math:`\min(1, e^{-W})` is the Metropolis-Hastings rule on paths, so :math:`\pi_r`
is invariant on every rung of a ladder (the amide terms are not in :math:`E_{\mathrm{bar}}`, which
changes nothing in the argument). The relaxation lets the pyramidalisation and bond angles at the
nitrogen follow the rotation through the barrier, where a rigid flip of pi from a relaxed geometry
lands strained.

*Tuning, measured* (CCN(C)C(C)=O, 2 x 600 sweeps of the evaluation settings, 2026-12-03):
acceptance 0.052 with 10 increments and 1 relaxation step, 0.019 with 5, 0.015 with 20 increments
and 3 steps, 0.008 with 30 and 5; a restrained-torsion protocol (a harmonic restraint of 100-300
kcal/mol/rad^2 on the reference dihedral, its centre moved with each increment, relaxation under
the restrained law, exact by the same path argument) gave 0.050 / 0.024 / 0.016 at 1 / 3 / 3
steps and cost 3x the CPU: short relaxations add work variance faster than they remove strain, so
neither was adopted. Better-mixed amide states need a longer protocol or a ladder that scales the
amide torsion terms.

*Rate.* An NCMC flip costs about as much as the rest of a sweep (10 increments and 10 MALA
steps); on an N-acylsulfonamide at 2 flips per sweep they took 70 % of the sampler's time, on a
triacetylated nucleoside (three esters) 62 %. Where they are hardly ever accepted that time is
lost to every other move, so after the warm-up (:meth:`AmideFlipMove.end_warmup`, once every
chain has warmed up and before the first kept sweep) each site :math:`k` gets a factor
:math:`f_k = \min(1, \max(0.1, a_k / a_0))`, :math:`a_0` = ``amide_flip_adapt``: flips pick site
:math:`k` with probability :math:`f_k / \sum_j f_j` and the rate is multiplied by the mean
factor. :math:`a_k` estimates the site's equilibrium acceptance from the warm-up's tries of all
chains, counted by the state the flip started from: at equilibrium the accepted flips balance,
:math:`p_0 a_{0 \to 1} = p_1 a_{1 \to 0}`, so the acceptance is
:math:`p_0 a_{0 \to 1} + p_1 a_{1 \to 0} \le 2 \min(a_{0 \to 1}, a_{1 \to 0})`, and
:math:`a_k` is that bound (over the directions tried at least 20 times; a site with no such
direction keeps factor 1). Pooled over directions the warm-up overstated it: over-dispersed starts
put sites in strained states that the first flips leave easily (the nucleoside: 0.0078 in
warm-up, 0.0004 afterwards, so the pooled rule kept the full rate); the way out of the favoured
state is the bottleneck and the start does not bias its count. The factors are fixed from then
on, so the kept sweeps run one fixed kernel (a mixture, with fixed weights, of flips that are
each exact) and the move stays exact; a site whose flips are rare still gets a tenth of the tries.
Tried and not kept: the pooled acceptance of the later half of the warm-up only (or of its last
200 tries): on the nucleoside it still exceeded 0.005; a handful of acceptances decided it.

*Tried and not kept: coupled neighbours.* Turning each rotatable torsion that shares an atom with
the flipped bond by :math:`\pm(\pi + \epsilon)` in the same path (random order and signs, so the
move stays exact). On the 2-acylaminothiazole ``COCC(=O)Nc1nc(-c2ccc(SC)cc2)cs1``, whose Z seed
is 1.4 kcal/mol above the E minimum, a rigid flip of the amide alone from the minimised seed lands
1,474 kcal/mol higher (the acyl group on the thiazole), with both neighbours turned 10.4 (van der
Waals 6.7, electrostatics 5.2; minimised, 1.0 below the start); yet acceptance stayed at 0-0.0007
with 10 to 60 increments and 1 to 5 relaxation steps, the residual strain relaxing through soft
modes that a few MALA steps do not move; on CCN(C)C(C)=O it fell from 0.055 to 0.045 (half the
flips coupled) and on acetanilide from 0.0017 to 0.0006 (2 x 400 sweeps, 2026-12-03; ad hoc
measurements, the code was not kept). Secondary
anilides and similar amides whose states differ by the placement of a neighbouring ring are mixed
by no move here; over-dispersed starts let the convergence rule see it (their chains disagree),
so such molecules are labelled not converged rather than wrong.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from geomgen.conformers.discrete_states import (  # noqa: F401 (the sites, states and flip: re-exported)
    AmideSite,
    amide_states,
    flip_amide,
    partial_double_bonds,
    site_states,
)
from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.moves.ncmc import ncmc_rotation
from geomgen.conformers.reference.options import Option


class AmideFlipMove(Move):
    """A Poisson number (mean ``amide_flips_per_sweep``) of NCMC flips per sweep, each of a random
    site of :func:`partial_double_bonds` (module docstring)."""

    name = "amide_flip"
    state_name: ClassVar[str] = "amide"
    rate_option = "amide_flips_per_sweep"
    options = (
        Option("amide_flips_per_sweep", 0.0, "expected NCMC E/Z flips per sweep of amide, urea, carbamate, ester and "
                                             "similar partial double bonds (a Poisson number); 0 for none (default 0): "
                                             "without them a chain keeps the E/Z states of its start.",
               ("--amide-flips",), low=0.0),
        Option("amide_flip_steps", 10, "rotation increments K of an amide flip (default 10).", low=1),
        Option("amide_flip_relax", 1, "MALA steps between the increments of an amide flip (default 1).", low=0),
        Option("amide_flip_jitter", 0.2, "scale (rad) of the Gaussian jitter around the amide flip's +-pi "
                                         "(default 0.2).", low=0.0),
        Option("amide_flip_adapt", 0.005, "warm-up acceptance below which a site's amide flips are made less often: "
                                          "after warm-up each site's share of the flips is multiplied by min(1, a / "
                                          "this), at least 0.1, a = twice its lower acceptance of the two directions "
                                          "(default 0.005; 0 keeps the rate).", low=0.0),
    )

    def __init__(self, system):
        super().__init__(system)
        #: the sites, found whatever the rate (the state hooks use them for over-dispersed starts)
        self.sites = partial_double_bonds(system.mol)
        #: the rate's multiplier (the mean of the sites' factors), fixed by :meth:`end_warmup`; the
        #: warm-up acceptance (pooled) and each site's factor
        self.rate_factor, self.warmup_acceptance = 1.0, None
        self.site_factors = np.ones(len(self.sites))
        #: warm-up tries and acceptances per site and start state (0: trans, 1: cis)
        self._tries = np.zeros((len(self.sites), 2), dtype=np.int64)
        self._accepts = np.zeros((len(self.sites), 2), dtype=np.int64)

    @property
    def rate(self) -> float:
        return float(self.cfg.amide_flips_per_sweep) * self.rate_factor

    def end_warmup(self) -> None:
        """Fix the sites' factors and the rate from the warm-up's tries (module docstring, *Rate*)."""
        if self.warmup_acceptance is not None or self.tried < 20:
            return
        self.warmup_acceptance = self.acceptance
        if self.cfg.amide_flip_adapt > 0:
            self.site_factors = self.factors(self._tries, self._accepts, self.cfg.amide_flip_adapt)
            self.rate_factor = float(self.site_factors.mean())
        self._site_p = self.site_factors / self.site_factors.sum()

    @staticmethod
    def factors(tries: np.ndarray, accepts: np.ndarray, adapt: float, min_tries: int = 20) -> np.ndarray:
        """Each site's rate factor from its tries and acceptances ``[K, 2]`` by start state:
        min(1, max(0.1, a / adapt)), a = 2 x the lowest acceptance of a direction tried at least
        ``min_tries`` times (1 where none was)."""
        rate = np.where(tries >= min_tries, accepts / np.maximum(tries, 1), np.inf)
        a = 2 * rate.min(axis=1)
        return np.where(np.isfinite(a), np.clip(a / adapt, 0.1, 1.0), 1.0)

    @property
    def applicable(self) -> bool:
        return self.rate > 0 and bool(self.sites)

    def step(self, rung, adapt: bool = False) -> None:
        cfg, rng = self.cfg, rung.rng
        if self.warmup_acceptance is None:
            i = int(rng.integers(len(self.sites)))
            start = int(site_states([self.sites[i]], rung.pos)[0, 0])
        else:
            i = int(rng.choice(len(self.sites), p=self._site_p))
        site = self.sites[i]
        delta = (math.pi + rng.normal(0.0, cfg.amide_flip_jitter)) * (1.0 if rng.random() < 0.5 else -1.0)
        j, k = site.bond
        ok = ncmc_rotation(rung, j, k, site.moving, delta, cfg.amide_flip_steps, cfg.amide_flip_relax, cfg.mala_accept_target)
        self.tried += 1
        self.accepted += ok
        if self.warmup_acceptance is None:
            self._tries[i, start] += 1
            self._accepts[i, start] += ok

    # -- discrete states (the Move hooks) ---------------------------------------------------------
    @property
    def flip_sites(self) -> int:
        return len(self.sites)

    def flip_site(self, pos: np.ndarray, k: int) -> np.ndarray:
        """A copy of ``pos [N, 3]`` with site ``k`` rigidly flipped by pi (:func:`flip_amide`): the
        other state, strained until relaxed (minimise an over-dispersed start before use)."""
        return flip_amide(pos, self.sites[k])

    @property
    def monitored(self) -> list[int]:
        """Every site: ends with graph-equivalent candidates are not sites at all."""
        return list(range(len(self.sites)))

    def states(self, positions: np.ndarray) -> np.ndarray:
        """``[S, K]`` bool: whether each site is *cis* (:func:`amide_states`)."""
        return site_states(self.sites, positions)

    def extra_diagnostics(self) -> dict:
        return {"n_amide_bonds": len(self.sites), "amide_flip_rate_factor": self.rate_factor,
                "amide_flip_warmup_acceptance": self.warmup_acceptance,
                "amide_flip_site_factors": [round(float(f), 4) for f in self.site_factors]}
