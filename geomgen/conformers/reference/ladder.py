r"""The replica ladder of the reference sampler: rungs and their swaps.

Rung r samples

.. math::
    \pi_r(x) \propto \exp\big(-\beta_r\,[E(x) - (1 - \lambda_r)\,E_{\mathrm{bar}}(x)]\big);

rung 0 (:math:`\lambda_0 = 1`, :math:`\beta_0 = 1/k_BT`) is the target. After every sweep,
neighbouring rungs (even pairs, then odd pairs, alternately) exchange configurations with
probability :math:`\min(1, \pi_r(x_s)\pi_s(x_r) / (\pi_r(x_r)\pi_s(x_s)))`. During warm-up the
spacing adapts so that neighbouring swap rates equalise (rungs 0 and the top stay fixed).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from geomgen.conformers.reference.sampler import System


class Rung:
    """One rung's state: its law (lambda, kT), its current configuration with cached energies,
    its MALA step (``log_tau``) and the parity of its mirror moves (``mirrored``)."""

    def __init__(self, sys: System, pos: np.ndarray, lam: float, kt: float, rng: np.random.Generator):
        self.sys, self.rng = sys, rng
        self.lam, self.kt = lam, kt
        self.log_tau = math.log(2e-4)
        self.mirrored = False  # parity of the mirror moves so far
        self.set_state(np.array(pos, dtype=np.float64))

    # -- energies -----------------------------------------------------------------------------
    def terms(self, pos: np.ndarray) -> tuple[float, float]:
        """(E_MMFF, E_bar) of ``pos``; E_bar is only evaluated when this rung scales it."""
        e = self.sys.mmff.energy(pos)
        return e, (self.sys.barrier.energy(pos) if self.lam < 1.0 else math.nan)

    def reduced(self, e: float, bar: float, lam: float | None = None, kt: float | None = None) -> float:
        lam = self.lam if lam is None else lam
        kt = self.kt if kt is None else kt
        return (e if lam >= 1.0 else e - (1.0 - lam) * bar) / kt

    def set_state(self, pos, e=None, bar=None) -> None:
        self.pos = pos
        if e is None:
            e, bar = self.terms(pos)
        self.e, self.bar = e, bar
        self.u = self.reduced(e, bar)
        self.grad = None

    def bar_energy(self) -> float:
        if math.isnan(self.bar):
            self.bar = self.sys.barrier.energy(self.pos)
        return self.bar

    def set_law(self, lam: float, kt: float) -> None:
        """Move this rung to another law (ladder adaptation during warm-up)."""
        self.lam, self.kt = lam, kt
        if lam < 1.0:
            self.bar_energy()
        self.u = self.reduced(self.e, self.bar)
        self.grad = None

    def grad_u(self, pos: np.ndarray) -> np.ndarray:
        g = self.sys.mmff.grad(pos)
        if self.lam < 1.0:
            g = g - (1.0 - self.lam) * self.sys.barrier.energy_grad(pos)[1]
        return g / self.kt

    # -- moves --------------------------------------------------------------------------------
    def metropolis(self, new: np.ndarray, log_correction: float = 0.0) -> bool:
        """Accept ``new`` with probability min(1, pi_r(new) / pi_r(current) * exp(log_correction)):
        the rule of every move whose proposal has unit Jacobian (``log_correction``: 0 for a
        symmetric proposal, log q(reverse) - log q(forward) for another)."""
        e, bar = self.terms(new)
        u = self.reduced(e, bar)
        if math.log(self.rng.random() + 1e-300) < self.u - u + log_correction:
            self.set_state(new, e, bar)
            return True
        return False

    def sweep(self, adapt: bool) -> None:
        """One sweep: every move of the system's schedule, in order."""
        for move in self.sys.schedule:
            move.sweep(self, adapt)


class Ladder:
    """One chain: rungs 0 (the target) .. R-1, with swaps and warm-up ladder adaptation."""

    def __init__(self, sys: System, start: np.ndarray, rng: np.random.Generator):
        cfg = sys.cfg
        self.sys, self.rng = sys, rng
        r = cfg.n_replicas
        # gaps between neighbouring rungs (lambda or log T), adapted during warm-up
        self.gaps = np.full(max(r - 1, 0), 1.0 / max(r - 1, 1))
        lams, kts = self.laws()
        self.rungs = [Rung(sys, start, lam, kt, rng) for lam, kt in zip(lams, kts)]
        self.swap_tried = np.zeros(max(r - 1, 0))
        self.swap_accepted = np.zeros(max(r - 1, 0))
        self.swap_avg = np.full(max(r - 1, 0), 0.5)
        self.parity = 0

    def laws(self) -> tuple[list[float], list[float]]:
        """(lambda, kT) of every rung."""
        cfg, r = self.sys.cfg, self.sys.cfg.n_replicas
        frac = np.concatenate([[0.0], np.cumsum(self.gaps)]) if r > 1 else np.zeros(1)
        frac = frac / frac[-1] if r > 1 else frac
        if cfg.ladder == "hamiltonian":
            lams = list(1.0 - (1.0 - cfg.lambda_min) * frac)
            kts = [self.sys.kt0] * r
        else:
            lams = [1.0] * r
            kts = list(self.sys.kt0 * np.exp(frac * math.log(cfg.t_max / cfg.temperature)))
        return lams, kts

    def _swap_log_ratio(self, a: Rung, b: Rung) -> float:
        # pi_a(x_b) pi_b(x_a) / (pi_a(x_a) pi_b(x_b)) with u = -log pi
        if a.lam < 1.0 or b.lam < 1.0:
            a.bar_energy()
            b.bar_energy()
        ua_b = a.reduced(b.e, b.bar)
        ub_a = b.reduced(a.e, a.bar)
        return (a.u + b.u) - (ua_b + ub_a)

    def swaps(self, adapt: bool) -> None:
        for p in range(self.parity, len(self.rungs) - 1, 2):
            a, b = self.rungs[p], self.rungs[p + 1]
            log_r = self._swap_log_ratio(a, b)
            prob = math.exp(min(0.0, log_r)) if math.isfinite(log_r) else 0.0
            if adapt:
                self.swap_avg[p] = 0.9 * self.swap_avg[p] + 0.1 * prob
            else:
                self.swap_tried[p] += 1
            if self.rng.random() < prob:
                if not adapt:
                    self.swap_accepted[p] += 1
                a_state = (a.pos, a.e, a.bar, a.mirrored)
                b_state = (b.pos, b.e, b.bar, b.mirrored)
                a.pos, a.e, a.bar, a.mirrored = b_state
                b.pos, b.e, b.bar, b.mirrored = a_state
                for rung in (a, b):
                    rung.set_law(rung.lam, rung.kt)  # recompute u under its own law, drop cached gradient
        self.parity ^= 1

    def adapt_ladder(self) -> None:
        """Spread the rungs so that neighbouring swap rates equalise (warm-up only)."""
        if len(self.gaps) < 2:
            return
        self.gaps = self.gaps * np.exp(self.swap_avg - self.swap_avg.mean())
        self.gaps /= self.gaps.sum()
        for rung, lam, kt in zip(self.rungs, *self.laws()):
            rung.set_law(lam, kt)

    def sweep(self, adapt: bool) -> None:
        for rung in self.rungs:
            rung.sweep(adapt)
        if len(self.rungs) > 1:
            self.swaps(adapt)
