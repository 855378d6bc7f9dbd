r"""The move protocol of the reference sampler.

A move is one kind of Markov step that leaves each rung's law :math:`\pi_r` invariant. It is
built once per molecule from the shared :class:`~geomgen.conformers.reference.sampler.System`
(molecule, torsions, force field, settings), may find that it does not apply (no flippable ring,
a rate of 0), and then acts on any rung of any chain: a sweep of a rung runs the moves of the
schedule (:data:`~geomgen.conformers.reference.moves.schedule.SCHEDULE`) in order, each
:meth:`Move.sweep` making its expected number of :meth:`Move.step` calls. A move owns its
statistics (tried, accepted) and its entries of the diagnostics, and declares its settings
(:class:`~geomgen.conformers.reference.options.Option`): fields of ``SamplerConfig`` and, where
they have flags, options of ``geomgen reference``.

A move between the states of slow discrete sites (a nitrogen's two pyramids, an amide's E and
Z, a ring's two chairs) also says what those states are: :meth:`Move.flip_site` (the involution
on one site, also used to put a chain's start in a chosen state), and, for sites whose state is a
well-defined quantity, :meth:`Move.states` (0/1 indicators the convergence rule monitors); these
work whatever the move's rate, so starts are over-dispersed in every discrete state even when a
move is off (and the rule then says the chains did not mix).

Adding a move is one module with a :class:`Move` subclass and one entry in the schedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from geomgen.conformers.reference.options import Option

if TYPE_CHECKING:
    import numpy as np

    from geomgen.conformers.reference.ladder import Rung
    from geomgen.conformers.reference.sampler import System


class Move:
    """Base class of a sampler move.

    Class attributes:
        name (str): what the statistics and diagnostics call it (``<name>_acceptance``).
        options (tuple of Option): the settings it reads from the config.
        rate_option (str, optional): the setting holding its expected count per sweep; the
            default :meth:`sweep` makes a Poisson number of steps with that mean.

    Subclasses implement :meth:`step` (and :meth:`sweep` for a fixed number of passes),
    set :attr:`applicable` and may add :meth:`extra_diagnostics`.
    """

    name: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()
    rate_option: ClassVar[str | None] = None

    def __init__(self, system: System):
        self.system = system
        self.cfg = system.cfg
        self.tried = 0
        self.accepted = 0

    @property
    def rate(self) -> float:
        """Expected steps per sweep (Poisson mean) from :attr:`rate_option`."""
        return float(getattr(self.cfg, self.rate_option)) if self.rate_option else 0.0

    @property
    def applicable(self) -> bool:
        """Whether the sweep runs this move on this molecule with these settings."""
        return self.rate > 0

    def sweep(self, rung: Rung, adapt: bool) -> None:
        """This move's part of one sweep of ``rung``: a Poisson number of steps of mean
        :attr:`rate`. ``adapt`` is True during warm-up."""
        for _ in range(rung.rng.poisson(self.rate)):
            self.step(rung, adapt)

    def step(self, rung: Rung, adapt: bool = False) -> None:
        """Propose a new state of ``rung`` and accept or reject it."""
        raise NotImplementedError

    def use_basins(self, minima) -> None:
        """Called once per run, before the chains start, with the sampler's basin search
        (:class:`~geomgen.conformers.reference.basins.Minima`; not called without one): a move
        may fix here what it takes from the search (e.g. the darts of
        :class:`~geomgen.conformers.reference.moves.darting.DartMove`)."""

    def end_warmup(self) -> None:
        """Called once when every chain has finished its warm-up and before the first kept
        sweep: a move may fix here what it learned in warm-up (e.g. its rate). Nothing may change
        after it, so the kernel of the kept sweeps is fixed and leaves each rung's law invariant."""

    # -- discrete states ----------------------------------------------------------------------
    #: the kind of discrete site this move changes ("nitrogen", "amide", "ring"), or None
    state_name: ClassVar[str | None] = None

    @property
    def flip_sites(self) -> int:
        """How many sites :meth:`flip_site` acts on (0 for a move without discrete states)."""
        return 0

    def flip_site(self, pos: np.ndarray, k: int) -> np.ndarray:
        """A copy of ``pos [N, 3]`` with site ``k`` in its other state (the move's involution)."""
        raise NotImplementedError

    @property
    def monitored(self) -> list[int]:
        """The sites whose state :meth:`states` reports (a state that graph symmetry relabels, e.g.
        the pyramid of an NMe2 nitrogen, is not a quantity and is not reported)."""
        return []

    def state_labels(self) -> list[str]:
        """Names of the :attr:`monitored` sites (``<state_name>-<k>``)."""
        return [f"{self.state_name}-{k}" for k in self.monitored]

    def states(self, positions: np.ndarray) -> np.ndarray:
        """0/1 state of every :attr:`monitored` site. Shapes: positions ``[S, N, 3]`` -> ``[S, K]`` bool."""
        import numpy as np

        return np.zeros((len(positions), 0), dtype=bool)

    def set_states(self, pos: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``pos`` with each :attr:`monitored` site flipped where its state differs from ``target [K]``."""
        now = self.states(pos[None])[0]
        for k, site in enumerate(self.monitored):
            if bool(now[k]) != bool(target[k]):
                pos = self.flip_site(pos, site)
        return pos

    def randomize(self, pos: np.ndarray, rng) -> np.ndarray:
        """``pos`` with each site that is not :attr:`monitored` flipped with probability 1/2."""
        monitored = set(self.monitored)
        for k in range(self.flip_sites):
            if k not in monitored and rng.random() < 0.5:
                pos = self.flip_site(pos, k)
        return pos

    def metropolis(self, rung: Rung, new: np.ndarray, log_correction: float = 0.0) -> bool:
        """Accept ``new`` with probability min(1, pi_r(new) / pi_r(current) * exp(log_correction))
        and count the try: a symmetric proposal with unit Jacobian has ``log_correction`` 0, an
        asymmetric one log q(reverse) - log q(forward)."""
        ok = rung.metropolis(new, log_correction)
        self.tried += 1
        self.accepted += ok
        return ok

    # -- statistics ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.tried = self.accepted = 0

    @property
    def acceptance(self) -> float:
        """Fraction of the tries accepted so far (0 if none)."""
        return self.accepted / max(self.tried, 1)

    def extra_diagnostics(self) -> dict:
        """This move's diagnostics besides its acceptance (e.g. how many rings it flips)."""
        return {}

    def diagnostics(self) -> dict:
        return {f"{self.name}_acceptance": self.acceptance, **self.extra_diagnostics()}

