r"""Torsion moves proposed from a torsion law (e.g. the network's): an exact Metropolis-Hastings
step that jumps a rotatable torsion straight into the law's modes.

A rigid torsion move (:mod:`~geomgen.conformers.reference.moves.rigid_torsion`) proposes a
rotation from a law that knows nothing of the molecule: most uniform proposals land on a barrier
or a clash. When a good guess of each torsion's law is at hand -- the von Mises mixture that
VonMisesNet predicts for it -- a proposal drawn from that guess lands where the torsion's wells
are, and the Metropolis-Hastings ratio corrects for whatever the guess gets wrong.

**The move.** Pick a rotatable torsion :math:`t` (:func:`~geomgen.conformers.torsions.rotatable_torsions`,
the sampler's torsions) uniformly; read its dihedral :math:`\theta = \phi_t(x)`; draw
:math:`\theta' \sim q_t`, the law's density of torsion :math:`t` on the circle; propose
:math:`x'`: the moving side of the torsion rotated rigidly about its bond so that
:math:`\phi_t(x') = \theta'`; accept with

.. math::
    \min\Big(1,\ \frac{\pi_r(x')\, q_t(\theta)}{\pi_r(x)\, q_t(\theta')}\Big).

*Invariance.* The rotation about the bond is an isometry of the moving side that keeps every
other internal coordinate of the torsion's four atoms (its Jacobian is 1), so the proposal's
density from :math:`x` to :math:`x'` is :math:`q_t(\theta')/K` and that of the reverse move,
which must draw :math:`\theta` from :math:`x'`, is :math:`q_t(\theta)/K` (:math:`K` torsions,
the same rotation with the opposite angle). With these densities the ratio above is the
Metropolis-Hastings ratio, so :math:`\pi_r` is invariant whatever :math:`q_t` is, as long as it
is positive everywhere (a von Mises mixture is) and fixed while the chain runs: the law is given
once, before the first sweep. This is an independence sampler on one coordinate at a time
(Tierney, Ann. Statist. 22, 1701 (1994)); it mixes fast where :math:`q_t` is close to the
torsion's conditional law and costs one energy evaluation per step, like a rigid move.

The move applies only when a law was given (:meth:`TorsionLawMove.use_law`) and its rate
``law_moves_per_sweep`` is positive: the reference builds never use it (their chains must not
depend on a network), the generator's Boltzmann mode does
(:func:`~geomgen.conformers.reference.sampler.refine`).
"""

from __future__ import annotations

import math

import numpy as np

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option
from geomgen.conformers.torsions import dihedral_angles, rotate_side

_LOG_2PI = math.log(2.0 * math.pi)


class TorsionProposal:
    """Fixed von Mises mixtures, one per torsion, as numpy arrays: the proposal law of
    :class:`TorsionLawMove`.

    Args:
        weights: ``[T, K]`` mixture weights (each row non-negative, summing to 1).
        loc: ``[T, K]`` component means (rad).
        concentration: ``[T, K]`` component concentrations (positive).

    Raises:
        ValueError: arrays of different shapes, a concentration that is not positive and
            finite, or weights that are negative or do not sum to 1.
    """

    def __init__(self, weights, loc, concentration):
        from scipy.special import i0e

        w = np.asarray(weights, dtype=np.float64)
        mu = np.asarray(loc, dtype=np.float64)
        kappa = np.asarray(concentration, dtype=np.float64)
        if not (w.ndim == 2 and w.shape == mu.shape == kappa.shape):
            raise ValueError(f"TorsionProposal: weights, loc and concentration must share one [T, K] shape, got "
                             f"{w.shape}, {mu.shape}, {kappa.shape}")
        if not np.all(np.isfinite(kappa) & (kappa > 0)):
            raise ValueError("TorsionProposal: every concentration must be positive and finite")
        if np.any(w < 0) or not np.allclose(w.sum(1), 1.0, atol=1e-6):
            raise ValueError("TorsionProposal: each torsion's weights must be non-negative and sum to 1")
        self.weights, self.loc, self.concentration = w / w.sum(1, keepdims=True), mu, kappa
        self._cum = np.cumsum(self.weights, axis=1)
        # log of each component's normalising constant 2 pi I0(kappa), through the scaled Bessel function
        self._log_norm = _LOG_2PI + np.log(i0e(kappa)) + kappa
        self._log_w = np.log(np.maximum(self.weights, 1e-300))

    @classmethod
    def from_mixture(cls, mixture) -> TorsionProposal:
        """From a :class:`~geomgen.distributions.VonMisesMixture` of batch shape ``[T]``."""
        w = mixture.log_weights.exp().detach().double().cpu().numpy()
        return cls(w, mixture.loc.detach().double().cpu().numpy(), mixture.concentration.detach().double().cpu().numpy())

    def __len__(self) -> int:
        return len(self.weights)

    def sample(self, t: int, rng: np.random.Generator) -> float:
        """One angle in ``[-pi, pi)`` from torsion ``t``'s mixture."""
        k = min(int(np.searchsorted(self._cum[t], rng.random() * self._cum[t, -1], side="right")), self.weights.shape[1] - 1)
        theta = rng.vonmises(self.loc[t, k], self.concentration[t, k])
        return (theta + math.pi) % (2.0 * math.pi) - math.pi

    def log_prob(self, t: int, theta: float) -> float:
        """Log density (per radian, on the circle) of torsion ``t``'s mixture at ``theta``."""
        terms = self._log_w[t] + self.concentration[t] * (np.cos(theta - self.loc[t]) - 1.0) + self.concentration[t] - self._log_norm[t]
        top = float(terms.max())
        return top + math.log(float(np.exp(terms - top).sum()))


class TorsionLawMove(Move):
    """A Poisson number (mean ``law_moves_per_sweep``) of torsion moves per sweep proposed from the
    law given to :meth:`use_law` (module docstring)."""

    name = "law"
    rate_option = "law_moves_per_sweep"
    options = (
        Option("law_moves_per_sweep", 0.0, "torsion moves per sweep proposed from a given torsion law (Metropolis-Hastings; "
                                            "only where a law is given, as in the generator's Boltzmann mode; default 0).",
               low=0.0),
    )

    def __init__(self, system):
        super().__init__(system)
        ts = system.torsions
        self.atoms = np.asarray(ts.atoms, dtype=int).reshape(-1, 4)
        self.moving = [np.flatnonzero(m) for m in ts.moving]
        # rotating the side with l by +delta about j -> k turns the dihedral by +delta; the side with i needs -delta
        self.signs = [1.0 if m[q[3]] else -1.0 for m, q in zip(ts.moving, self.atoms)]
        self.law: TorsionProposal | None = None

    def use_law(self, law: TorsionProposal | None) -> None:
        """Fix the proposal law (one mixture per torsion of the system), before the first sweep."""
        if law is not None and len(law) != len(self.atoms):
            raise ValueError(f"TorsionLawMove: the law has {len(law)} torsions, the molecule {len(self.atoms)}")
        self.law = law

    @property
    def applicable(self) -> bool:
        return self.rate > 0 and self.law is not None and len(self.atoms) > 0

    def step(self, rung, adapt: bool = False) -> None:
        t = int(rung.rng.integers(len(self.atoms)))
        theta = float(dihedral_angles(rung.pos, self.atoms[t : t + 1])[0])
        new_theta = self.law.sample(t, rung.rng)
        j, k = int(self.atoms[t, 1]), int(self.atoms[t, 2])
        new = rotate_side(rung.pos, j, k, self.moving[t], self.signs[t] * (new_theta - theta))
        self.metropolis(rung, new, self.law.log_prob(t, theta) - self.law.log_prob(t, new_theta))
