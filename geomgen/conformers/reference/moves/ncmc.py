r"""NCMC torsion moves (nonequilibrium candidate Monte Carlo; Nilmeier et al., PNAS 2011).

Rotate a rotatable torsion by a well-to-well jump :math:`\delta = \pm(c + \epsilon)`,
:math:`c \in \{\pi, 2\pi/3\}`, :math:`\epsilon` Gaussian (a law symmetric under
:math:`\delta \to -\delta`), in K increments :math:`\Phi` of :math:`\delta/K`, with ``ncmc_relax``
MALA steps :math:`\mathcal K` between increments, in the palindromic order
:math:`\Phi\,\mathcal K\,\Phi \cdots \mathcal K\,\Phi`; accept with probability
:math:`\min(1, e^{-W})`, :math:`W = \sum_k [u(y_k) - u(x_{k-1})]` with :math:`u = -\log \pi_r`,
the sum over the increments only.

*Invariance:* the reverse path is the same protocol with :math:`-\delta` (equally likely); each
:math:`\Phi` is a rigid rotation (volume-preserving); each :math:`\mathcal K` satisfies
:math:`\pi_r(y)\mathcal K(y, x) = \pi_r(x)\mathcal K(x, y)`, so the ratio of reverse to forward
path densities is :math:`\prod_k \pi_r(y_k)/\pi_r(x_k)`, and
:math:`\pi_r(x') P_{\mathrm{rev}} / (\pi_r(x) P_{\mathrm{fwd}}) = \prod_k \pi_r(y_k)/\pi_r(x_{k-1}) = e^{-W}`:
the Metropolis-Hastings rule on paths. The relaxation lets bond angles follow the rotation, so a
flip of a conjugated aryl-carbonyl does not pay the strain a rigid flip from a relaxed geometry
carries.
"""

from __future__ import annotations

import math

import numpy as np

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.moves.mala import langevin_step
from geomgen.conformers.reference.moves.rigid_torsion import rotate_side
from geomgen.conformers.reference.options import Option


def ncmc_path(rung, j: int, k: int, idx: np.ndarray, delta: float, n_steps: int, n_relax: int,
              accept_target: float) -> float:
    r"""Run one NCMC path on ``rung`` and return its work :math:`W` (reduced units; ``inf`` if a
    proposal has no finite energy, the path then stopped there): rotate the atoms ``idx`` about
    the axis j -> k by ``delta`` in ``n_steps`` increments with ``n_relax`` MALA steps (frozen step
    size) between them. ``rung`` is left at the path's last state."""
    work = 0.0
    for step in range(n_steps):
        new = rotate_side(rung.pos, j, k, idx, delta / n_steps)
        e, bar = rung.terms(new)
        u = rung.reduced(e, bar)
        work += u - rung.u
        if not math.isfinite(work):
            return math.inf
        rung.set_state(new, e, bar)
        if step < n_steps - 1:
            for _ in range(n_relax):
                langevin_step(rung, False, accept_target)
    return work


def ncmc_rotation(rung, j: int, k: int, idx: np.ndarray, delta: float, n_steps: int, n_relax: int,
                  accept_target: float) -> bool:
    r"""One NCMC move on ``rung``: the path of :func:`ncmc_path`, accepted with probability
    :math:`\min(1, e^{-W})` (the module docstring), else the start is restored.

    The caller draws ``delta`` from a law symmetric under :math:`\delta \to -\delta`; that and
    this protocol are what make the move exact. Returns whether the path was accepted."""
    saved = (rung.pos, rung.e, rung.bar, rung.u, rung.grad)
    work = ncmc_path(rung, j, k, idx, delta, n_steps, n_relax, accept_target)
    if math.isfinite(work) and math.log(rung.rng.random() + 1e-300) < -work:
        return True
    rung.pos, rung.e, rung.bar, rung.u, rung.grad = saved
    return False


class NCMCMove(Move):
    """A Poisson number (mean ``ncmc_per_sweep``) of NCMC moves per sweep, each on a random
    torsion of :attr:`index`."""

    name = "ncmc"
    rate_option = "ncmc_per_sweep"
    options = (
        Option("ncmc_per_sweep", 0.0, "expected NCMC torsion moves per sweep (a Poisson number); 0 or negative for none "
                                      "(default 0: at equal wall time NCMC did not pay on MOSES-sized molecules, see "
                                      "evaluation/conformers/sampler_efficiency.md)."),
        Option("ncmc_torsions", "conjugated", "which rotatable torsions get NCMC moves: ``conjugated`` (bonds RDKit marks "
                                              "conjugated: aryl-carbonyl, aryl-N, aryl-O, biaryl, where the barriers are) "
                                              "or ``all`` (default ``conjugated``).", choices=("conjugated", "all")),
        Option("ncmc_steps", 10, "rotation increments K of an NCMC move (default 10).", low=1),
        Option("ncmc_relax", 1, "MALA steps between increments (default 1).", low=0),
        Option("ncmc_jitter", 0.25, "scale (rad) of the Gaussian jitter around the NCMC jumps of +-pi and +-2 pi / 3 "
                                    "(default 0.25).", low=0.0),
    )

    def __init__(self, system):
        super().__init__(system)
        ts, mol = system.torsions, system.mol
        #: the torsions NCMC moves (indices into the system's torsions)
        self.index = [t for t in range(len(ts))
                      if self.cfg.ncmc_torsions == "all" or mol.GetBondWithIdx(int(ts.bonds[t])).GetIsConjugated()]
        self.moving = [np.flatnonzero(m) for m in ts.moving]

    @property
    def applicable(self) -> bool:
        return bool(self.index) and self.rate > 0

    def step(self, rung, adapt: bool = False) -> None:
        t = self.index[int(rung.rng.integers(len(self.index)))]
        cfg, rng = self.cfg, rung.rng
        # a well-to-well jump: +-pi (two-fold rotors, e.g. conjugated) or +-2 pi / 3 (three-fold),
        # with Gaussian jitter; the law of delta is symmetric under delta -> -delta
        centre = math.pi if rng.random() < 0.5 else 2 * math.pi / 3
        delta = (centre + rng.normal(0.0, cfg.ncmc_jitter)) * (1.0 if rng.random() < 0.5 else -1.0)
        j, k = self.system.torsions.atoms[t, 1], self.system.torsions.atoms[t, 2]
        self.tried += 1
        self.accepted += ncmc_rotation(rung, j, k, self.moving[t], delta, cfg.ncmc_steps, cfg.ncmc_relax,
                                       cfg.mala_accept_target)

    def extra_diagnostics(self) -> dict:
        return {"n_ncmc_torsions": len(self.index)}
