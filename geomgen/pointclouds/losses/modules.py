"""Reconstruction losses as modules with one interface: ``loss(x, y) -> [B]``.

A loss that owns an amortizer (:class:`AmortizedSlicedWassersteinLoss`) exposes it as
``.amortizer`` and builds its optimizer (:meth:`~AmortizedSlicedWassersteinLoss.make_amortizer_optimizer`,
Adam with ``maximize=True``: the amortizer maximises the distance the autoencoder minimises).
The Lightning system steps that optimizer itself (manual optimisation); outside Lightning the
loss can own and step it (:meth:`~AmortizedSlicedWassersteinLoss.configure_amortizer_optimizer`,
:meth:`~AmortizedSlicedWassersteinLoss.amortizer_step`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from geomgen.pointclouds.losses.energy import Energy, energy_based_sliced_wasserstein
from geomgen.pointclouds.losses.quasi import Construction, Randomization, quasi_sliced_wasserstein
from geomgen.pointclouds.losses.random_path import (
    importance_weighted_random_path_sliced_wasserstein,
    random_path_sliced_wasserstein,
)
from geomgen.pointclouds.losses.sliced import (
    DEFAULT_N_PROJECTIONS,
    AscentOptimizer,
    _projected_checked,
    check_pair,
    distributional_sliced_wasserstein,
    max_sliced_wasserstein,
    pth_root,
    sliced_wasserstein,
    vmf_projections,
)


class SlicedWassersteinLoss(nn.Module):
    r"""Sliced Wasserstein loss, see :func:`geomgen.pointclouds.losses.sliced_wasserstein`.

    .. math::
        \mathrm{SW}_p(X, Y) = \big(\mathbb{E}_{\theta \sim \mathcal{U}(S^{d-1})} W_p^p(\theta_\# X, \theta_\# Y)\big)^{1/p}

    Args:
        n_projections (int, optional): L (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        p (float, optional): order (default 2).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(self, n_projections: int = DEFAULT_N_PROJECTIONS, p: float = 2.0):
        super().__init__()
        self.n_projections, self.p = n_projections, p

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return sliced_wasserstein(x, y, n_projections=self.n_projections, p=self.p)


class EnergyBasedSlicedWassersteinLoss(nn.Module):
    r"""Energy-based sliced Wasserstein loss (importance-sampling estimate), see
    :func:`geomgen.pointclouds.losses.energy_based_sliced_wasserstein`.

    .. math::
        \mathrm{EBSW}_p(X, Y) = \big(\mathbb{E}_{\theta \sim \sigma_{X,Y}} W_p^p(\theta_\# X, \theta_\# Y)\big)^{1/p},
        \qquad \sigma_{X,Y}(\theta) \propto f\big(W_p^p(\theta_\# X, \theta_\# Y)\big)

    Args:
        n_projections (int, optional): L uniform proposals (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        p (float, optional): order (default 2).
        energy (str, optional): ``"exp"`` or ``"poly"`` (default ``"exp"``).
        power (float, optional): k of ``"poly"`` (default 1).
        detach_weights (bool, optional): no gradient through the importance weights (default False).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(
        self,
        n_projections: int = DEFAULT_N_PROJECTIONS,
        p: float = 2.0,
        energy: Energy = "exp",
        power: float = 1.0,
        detach_weights: bool = False,
    ):
        super().__init__()
        self.n_projections, self.p, self.energy, self.power, self.detach_weights = n_projections, p, energy, power, detach_weights

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return energy_based_sliced_wasserstein(
            x, y, n_projections=self.n_projections, p=self.p, energy=self.energy, power=self.power,
            detach_weights=self.detach_weights,
        )  # fmt: skip


class QuasiSlicedWassersteinLoss(nn.Module):
    r"""Quasi-sliced Wasserstein loss (QSW, or randomized QSW), see
    :func:`geomgen.pointclouds.losses.quasi_sliced_wasserstein`.

    .. math::
        \mathrm{QSW}_p(X, Y) = \Big(\frac{1}{L}\sum_{l=1}^{L} W_p^p(\theta_{l\#} X, \theta_{l\#} Y)\Big)^{1/p},
        \qquad \{\theta_l\} \text{ a low-discrepancy point set on } S^{d-1}

    Args:
        n_projections (int, optional): L (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        p (float, optional): order (default 2).
        construction (str, optional): ``"fibonacci"``, ``"sobol_equal_area"``, ``"sobol_gaussian"``
            or ``"spiral"`` (default ``"fibonacci"``).
        randomize (str, optional): None (fixed directions), ``"rotation"`` (a random rotation of
            the point set at every call) or ``"scramble"`` (Sobol constructions) (default None).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(
        self,
        n_projections: int = DEFAULT_N_PROJECTIONS,
        p: float = 2.0,
        construction: Construction = "fibonacci",
        randomize: Randomization | None = None,
    ):
        super().__init__()
        self.n_projections, self.p, self.construction, self.randomize = n_projections, p, construction, randomize

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return quasi_sliced_wasserstein(
            x, y, n_projections=self.n_projections, p=self.p, construction=self.construction, randomize=self.randomize
        )


class RandomPathSlicedWassersteinLoss(nn.Module):
    r"""Random-path projection sliced Wasserstein loss (RPSW, or IWRPSW), see
    :func:`geomgen.pointclouds.losses.random_path_sliced_wasserstein` and
    :func:`geomgen.pointclouds.losses.importance_weighted_random_path_sliced_wasserstein`.

    .. math::
        \mathrm{RPSW}_p(X, Y) = \big(\mathbb{E}_{\theta} W_p^p(\theta_\# X, \theta_\# Y)\big)^{1/p},
        \qquad \theta \sim \mathrm{vMF}\Big(\frac{x - y}{\|x - y\|}, \kappa\Big),\ x \sim X,\ y \sim Y

    Args:
        n_projections (int, optional): L (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        concentration (float, optional): :math:`\kappa` of the perturbation, None for none (default 10).
        p (float, optional): order (default 2).
        importance_weighted (bool, optional): IWRPSW, the directions weighted by the energy of
            their projected distance (default False).
        energy (str, optional): ``"exp"`` or ``"poly"``, for IWRPSW (default ``"exp"``).
        power (float, optional): k of ``"poly"`` (default 1).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(
        self,
        n_projections: int = DEFAULT_N_PROJECTIONS,
        concentration: float | None = 10.0,
        p: float = 2.0,
        importance_weighted: bool = False,
        energy: Energy = "exp",
        power: float = 1.0,
    ):
        super().__init__()
        self.n_projections, self.concentration, self.p = n_projections, concentration, p
        self.importance_weighted, self.energy, self.power = importance_weighted, energy, power

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        kw = dict(n_projections=self.n_projections, concentration=self.concentration, p=self.p)
        if self.importance_weighted:
            return importance_weighted_random_path_sliced_wasserstein(x, y, energy=self.energy, power=self.power, **kw)
        return random_path_sliced_wasserstein(x, y, **kw)


class MaxSlicedWassersteinLoss(nn.Module):
    r"""Max-sliced Wasserstein loss (T gradient-ascent steps on the direction), see
    :func:`geomgen.pointclouds.losses.max_sliced_wasserstein`.

    .. math::
        \mathrm{Max\text{-}SW}_p(X, Y) = \max_{\theta \in S^{d-1}} W_p(\theta_\# X, \theta_\# Y)

    Args:
        n_iters (int, optional): T (default 50).
        lr (float, optional): ascent step size (default 0.2 for ``"normalized"``, 1.0 for ``"projected"``, 1e-4 for ``"adam"``).
        p (float, optional): order (default 2).
        optimizer (str, optional): ``"normalized"`` gradient ascent (default: scale-free),
            ``"projected"`` or ``"adam"`` as the official code.

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``; ``forward(x, y, return_direction=True)``
          -> ``([B], [B, d])``, the value and the optimised direction.
    """

    def __init__(self, n_iters: int = 50, lr: float | None = None, p: float = 2.0, optimizer: AscentOptimizer = "normalized"):
        super().__init__()
        self.n_iters, self.lr, self.p, self.optimizer = n_iters, lr, p, optimizer

    def forward(self, x: Tensor, y: Tensor, return_direction: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        return max_sliced_wasserstein(
            x, y, n_iters=self.n_iters, lr=self.lr, p=self.p, optimizer=self.optimizer, return_direction=return_direction
        )


class DistributionalSlicedWassersteinLoss(nn.Module):
    r"""v-DSW loss (T ascent steps on the vMF location), see
    :func:`geomgen.pointclouds.losses.distributional_sliced_wasserstein`.

    .. math::
        \mathrm{v\text{-}DSW}_p(X, Y) = \max_{\epsilon} \big(\mathbb{E}_{\theta \sim \mathrm{vMF}(\epsilon, \kappa)}
        W_p^p(\theta_\# X, \theta_\# Y)\big)^{1/p}

    Args:
        n_projections (int, optional): L (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        concentration (float, optional): :math:`\kappa` (default 10).
        n_iters (int, optional): T (default 50).
        lr (float, optional): ascent step size (default 0.2 for ``"normalized"``, 1.0 for ``"projected"``, 1e-4 for ``"adam"``).
        p (float, optional): order (default 2).
        optimizer (str, optional): ``"normalized"`` gradient ascent (default: scale-free),
            ``"projected"`` or ``"adam"`` as the official code.

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``; ``forward(x, y, return_direction=True)``
          -> ``([B], [B, d])``, the value and the optimised vMF location.
    """

    def __init__(
        self,
        n_projections: int = DEFAULT_N_PROJECTIONS,
        concentration: float = 10.0,
        n_iters: int = 50,
        lr: float | None = None,
        p: float = 2.0,
        optimizer: AscentOptimizer = "normalized",
    ):
        super().__init__()
        self.n_projections, self.concentration = n_projections, concentration
        self.n_iters, self.lr, self.p, self.optimizer = n_iters, lr, p, optimizer

    def forward(self, x: Tensor, y: Tensor, return_direction: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        return distributional_sliced_wasserstein(
            x,
            y,
            n_projections=self.n_projections,
            concentration=self.concentration,
            n_iters=self.n_iters,
            lr=self.lr,
            p=self.p,
            optimizer=self.optimizer,
            return_direction=return_direction,
        )


class AmortizedSlicedWassersteinLoss(nn.Module):
    r"""Amortized v-DSW (or amortized Max-SW): an amortizer predicts the location from the pair.

    .. math::
        \mathcal{L}(X, Y) = \big(\mathbb{E}_{\theta \sim \mathrm{vMF}(f_\psi(X, Y), \kappa)}
        W_p^p(\theta_\# X, \theta_\# Y)\big)^{1/p},\qquad
        \min_{\text{autoencoder}} \max_\psi\ \mathcal{L}

    With ``concentration=None`` the amortizer output is the single direction (amortized
    Max-SW). The amortizer reads detached clouds, so the autoencoder gets no gradient through
    it; the vMF samples are reparameterised, so one backward pass of the returned value gives
    both players their gradients (the autoencoder descends them; the amortizer's optimizer,
    :meth:`make_amortizer_optimizer`, has ``maximize=True``). Gradients therefore reach
    ``amortizer`` only when the loss is called in training mode; in eval mode the location is
    detached.

    Outside Lightning the loss can own its amortizer optimizer::

        loss = AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(kind="linformer"))
        loss.configure_amortizer_optimizer(lr=1e-3, betas=(0.0, 0.9))
        for x in loader:
            recon = autoencoder(x)
            ae_opt.zero_grad()
            loss(x, recon).mean().backward()  # gradients for the autoencoder and the amortizer
            ae_opt.step()
            loss.amortizer_step()              # one ascent step with those gradients

    Args:
        amortizer (nn.Module): ``f_psi(x, y) -> [B, d]`` unit vectors, e.g.
            :class:`~geomgen.pointclouds.losses.SelfAttentionAmortizer`.
        n_projections (int, optional): L (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`,
            100; ignored when ``concentration`` is None).
        concentration (float, optional): :math:`\kappa`, or None for a single direction (default 1,
            the official code's; with 10, the default until 2026-12-06, the amortizers reconstructed
            worse than SW in Table 1 at convergence, ``evaluation/pointclouds/RESULTS.md``).
        p (float, optional): order (default 2).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``; ``forward(x, y, return_direction=True)``
          -> ``([B], [B, d])``, the value and the amortizer's location (detached).
    """

    def __init__(
        self,
        amortizer: nn.Module,
        n_projections: int = DEFAULT_N_PROJECTIONS,
        concentration: float | None = 1.0,
        p: float = 2.0,
    ):
        super().__init__()
        if concentration is not None and concentration < 0:
            raise ValueError(f"AmortizedSlicedWassersteinLoss: concentration must be >= 0 or None, got {concentration}")
        self.amortizer = amortizer
        self.n_projections, self.concentration, self.p = n_projections, concentration, p
        self._amortizer_optimizer: torch.optim.Optimizer | None = None

    def _location_and_projections(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        eps = self.amortizer(x.detach(), y.detach())
        if self.concentration is None:
            return eps, eps.unsqueeze(1)
        return eps, vmf_projections(eps, self.concentration, self.n_projections)

    def projections(self, x: Tensor, y: Tensor) -> Tensor:
        """Directions ``[B, L, d]`` (``L = 1`` without concentration), differentiable in psi."""
        return self._location_and_projections(x, y)[1]

    def forward(self, x: Tensor, y: Tensor, return_direction: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        check_pair(x, y, "AmortizedSlicedWassersteinLoss")
        eps, theta = self._location_and_projections(x, y)
        if not self.training:
            theta = theta.detach()
        value = pth_root(_projected_checked(x, y, theta, self.p).mean(-1), self.p)
        return (value, eps.detach()) if return_direction else value

    def make_amortizer_optimizer(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
        r"""A new Adam over the amortizer's parameters with ``maximize=True`` (the ascent player).

        The one definition of the amortizer's optimizer: the Lightning system builds it here, and
        so does :meth:`configure_amortizer_optimizer`. The official code uses ``lr=1e-3,
        betas=(0.0, 0.9)``.

        Args:
            lr (float, optional): learning rate (default 1e-3).
            betas (tuple of float, optional): Adam's :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        """
        return torch.optim.Adam(self.amortizer.parameters(), lr=lr, betas=tuple(betas), maximize=True)

    def configure_amortizer_optimizer(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
        """Build the amortizer's optimizer (:meth:`make_amortizer_optimizer`) and keep it for
        :meth:`amortizer_step`; returns it (for its state dict, or a scheduler). For use outside
        Lightning: the Lightning system builds and steps its own."""
        self._amortizer_optimizer = self.make_amortizer_optimizer(lr=lr, betas=betas)
        return self._amortizer_optimizer

    @property
    def amortizer_optimizer(self) -> torch.optim.Optimizer | None:
        """The optimizer kept by :meth:`configure_amortizer_optimizer` (None before)."""
        return self._amortizer_optimizer

    def amortizer_step(self, x: Tensor | None = None, y: Tensor | None = None) -> Tensor | None:
        r"""One ascent step of the amortizer with the optimizer of :meth:`configure_amortizer_optimizer`.

        * ``amortizer_step()``: step with the gradients the amortizer already holds, i.e. those
          of the last backward pass of this loss in training mode (the one-backward scheme of the
          Lightning system: no extra cost), then clear them.
        * ``amortizer_step(x, y)``: clear the amortizer's gradients, evaluate the loss on the
          detached pair, back-propagate into the amortizer only and step (the official code's
          scheme: one more forward and backward of the loss, none through the autoencoder).
          Returns the objective before the step, ``[B]``, detached.

        Args:
            x (Tensor, optional): ``[B, N, d]``.
            y (Tensor, optional): ``[B, M, d]`` (both or neither).
        """
        opt = self._amortizer_optimizer
        if opt is None:
            raise RuntimeError(
                "AmortizedSlicedWassersteinLoss.amortizer_step: no optimizer; call "
                "configure_amortizer_optimizer(lr=..., betas=...) first"
            )
        if (x is None) != (y is None):
            raise ValueError("AmortizedSlicedWassersteinLoss.amortizer_step: pass both x and y, or neither")
        value = None
        if x is not None:
            opt.zero_grad(set_to_none=True)
            with torch.enable_grad():
                x, y = x.detach(), y.detach()
                check_pair(x, y, "AmortizedSlicedWassersteinLoss.amortizer_step")
                theta = self._location_and_projections(x, y)[1]
                value = pth_root(_projected_checked(x, y, theta, self.p).mean(-1), self.p)
                value.mean().backward()
            value = value.detach()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return value


class ChamferLoss(nn.Module):
    r"""Chamfer distance as a loss, see :func:`geomgen.metrics.chamfer_distance`.

    .. math::
        \mathrm{CD}(X, Y) = \frac{1}{N}\sum_i \min_j \|x_i - y_j\|^2 + \frac{1}{M}\sum_j \min_i \|x_i - y_j\|^2

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        from geomgen.metrics import chamfer_distance

        return chamfer_distance(x, y)


class EarthMoversLoss(nn.Module):
    r"""Earth mover's distance as a loss, see :func:`geomgen.metrics.earth_movers_distance`.

    .. math::
        \mathrm{EMD}(X, Y) = \min_{\sigma} \frac{1}{N}\sum_i \|x_i - y_{\sigma(i)}\|

    Shapes:
        - x, y: ``[B, N, d]`` -> ``[B]``.
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        from geomgen.metrics import earth_movers_distance

        return earth_movers_distance(x, y)


__all__ = [
    "SlicedWassersteinLoss",
    "EnergyBasedSlicedWassersteinLoss",
    "QuasiSlicedWassersteinLoss",
    "RandomPathSlicedWassersteinLoss",
    "MaxSlicedWassersteinLoss",
    "DistributionalSlicedWassersteinLoss",
    "AmortizedSlicedWassersteinLoss",
    "ChamferLoss",
    "EarthMoversLoss",
]

