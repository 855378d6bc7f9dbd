r"""MALA steps: Metropolis-adjusted Langevin moves of all atoms (bond lengths, angles, ring
puckers). The step size adapts during warm-up only (towards ``mala_accept_target``), then is
frozen; it is kept per rung (``rung.log_tau``).

.. math::
    x' = x - \tau \nabla u(x) + \sqrt{2\tau}\,\xi,\qquad \xi \sim \mathcal N(0, I),

accepted with the Metropolis-Hastings ratio of the Gaussian proposal densities (Roberts and
Tweedie, Bernoulli 1996).
"""

from __future__ import annotations

import math

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option


def langevin_step(rung, adapt: bool, target: float) -> tuple[bool, float]:
    """One MALA step of ``rung``; returns (accepted, acceptance probability). With ``adapt``,
    ``rung.log_tau`` moves towards acceptance ``target``."""
    tau = math.exp(rung.log_tau)
    if rung.grad is None:
        rung.grad = rung.grad_u(rung.pos)
    noise = rung.rng.standard_normal(rung.pos.shape)
    new = rung.pos - tau * rung.grad + math.sqrt(2 * tau) * noise
    e, bar = rung.terms(new)
    u = rung.reduced(e, bar)
    g_new = None
    if not math.isfinite(u):
        accept_prob = 0.0
    else:
        g_new = rung.grad_u(new)
        fwd = -((new - rung.pos + tau * rung.grad) ** 2).sum() / (4 * tau)
        bwd = -((rung.pos - new + tau * g_new) ** 2).sum() / (4 * tau)
        accept_prob = math.exp(min(0.0, rung.u - u + bwd - fwd))
    accepted = rung.rng.random() < accept_prob
    if accepted:
        rung.set_state(new, e, bar)
        rung.grad = g_new
    if adapt:
        rung.log_tau += 0.1 * (accept_prob - target)
        rung.log_tau = min(max(rung.log_tau, math.log(1e-7)), math.log(1e-1))
    return accepted, accept_prob


class MALAMove(Move):
    """``mala_per_sweep`` steps per sweep; counted after warm-up only."""

    name = "mala"
    options = (
        Option("mala_per_sweep", 0, "MALA steps per sweep; 0 means one per two movable bonds (at least 1), a negative "
                                    "value none (rigid internal geometry, for diagnostics only)."),
        Option("mala_accept_target", 0.6, "warm-up target acceptance of MALA (default 0.6).", low=0.0, closed=False),
    )

    def __init__(self, system):
        super().__init__(system)
        n = self.cfg.mala_per_sweep
        self.n_steps = max(n, 0) if n else max(1, (len(system.movable) + 1) // 2)

    @property
    def applicable(self) -> bool:
        return self.n_steps > 0

    def sweep(self, rung, adapt: bool) -> None:
        for _ in range(self.n_steps):
            self.step(rung, adapt)

    def step(self, rung, adapt: bool = False) -> None:
        accepted, _ = langevin_step(rung, adapt, self.cfg.mala_accept_target)
        if not adapt:
            self.tried += 1
            self.accepted += accepted
