"""Reconstruction losses as modules with one interface: ``loss(x, y) -> [B]``.

A loss that owns an amortizer (:class:`AmortizedSlicedWassersteinLoss`) exposes it as
``.amortizer``; a training system gives it its own optimizer with ``maximize=True`` (the
amortizer maximises the distance the autoencoder minimises).
"""

from __future__ import annotations

from torch import Tensor, nn

from geomgen.pointclouds.losses.sliced import (
    check_pair,
    distributional_sliced_wasserstein,
    max_sliced_wasserstein,
    projected_wasserstein,
    pth_root,
    sliced_wasserstein,
    vmf_projections,
)


class SlicedWassersteinLoss(nn.Module):
    r"""Sliced Wasserstein loss, see :func:`geomgen.pointclouds.losses.sliced_wasserstein`.

    .. math::
        \mathrm{SW}_p(X, Y) = \big(\mathbb{E}_{\theta \sim \mathcal{U}(S^{d-1})} W_p^p(\theta_\# X, \theta_\# Y)\big)^{1/p}

    Args:
        n_projections (int, optional): L (default 100).
        p (float, optional): order (default 2).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(self, n_projections: int = 100, p: float = 2.0):
        super().__init__()
        self.n_projections, self.p = n_projections, p

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return sliced_wasserstein(x, y, n_projections=self.n_projections, p=self.p)


class MaxSlicedWassersteinLoss(nn.Module):
    r"""Max-sliced Wasserstein loss (T projected gradient-ascent steps), see
    :func:`geomgen.pointclouds.losses.max_sliced_wasserstein`.

    .. math::
        \mathrm{Max\text{-}SW}_p(X, Y) = \max_{\theta \in S^{d-1}} W_p(\theta_\# X, \theta_\# Y)

    Args:
        n_iters (int, optional): T (default 50).
        lr (float, optional): ascent step size (default 1.0).
        p (float, optional): order (default 2).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(self, n_iters: int = 50, lr: float = 1.0, p: float = 2.0):
        super().__init__()
        self.n_iters, self.lr, self.p = n_iters, lr, p

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return max_sliced_wasserstein(x, y, n_iters=self.n_iters, lr=self.lr, p=self.p)


class DistributionalSlicedWassersteinLoss(nn.Module):
    r"""v-DSW loss (T ascent steps on the vMF location), see
    :func:`geomgen.pointclouds.losses.distributional_sliced_wasserstein`.

    .. math::
        \mathrm{v\text{-}DSW}_p(X, Y) = \max_{\epsilon} \big(\mathbb{E}_{\theta \sim \mathrm{vMF}(\epsilon, \kappa)}
        W_p^p(\theta_\# X, \theta_\# Y)\big)^{1/p}

    Args:
        n_projections (int, optional): L (default 100).
        concentration (float, optional): :math:`\kappa` (default 10).
        n_iters (int, optional): T (default 50).
        lr (float, optional): ascent step size (default 1.0).
        p (float, optional): order (default 2).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(
        self, n_projections: int = 100, concentration: float = 10.0, n_iters: int = 50, lr: float = 1.0, p: float = 2.0
    ):
        super().__init__()
        self.n_projections, self.concentration = n_projections, concentration
        self.n_iters, self.lr, self.p = n_iters, lr, p

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return distributional_sliced_wasserstein(
            x,
            y,
            n_projections=self.n_projections,
            concentration=self.concentration,
            n_iters=self.n_iters,
            lr=self.lr,
            p=self.p,
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
    both players their gradients (the autoencoder descends them; the amortizer's optimizer is
    built with ``maximize=True``). Gradients therefore reach ``amortizer`` only when the loss
    is called in training mode; in eval mode the location is detached.

    Args:
        amortizer (nn.Module): ``f_psi(x, y) -> [B, d]`` unit vectors, e.g.
            :class:`~geomgen.pointclouds.losses.SelfAttentionAmortizer`.
        n_projections (int, optional): L (default 100; ignored when ``concentration`` is None).
        concentration (float, optional): :math:`\kappa`, or None for a single direction (default 10).
        p (float, optional): order (default 2).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B]``.
    """

    def __init__(self, amortizer: nn.Module, n_projections: int = 100, concentration: float | None = 10.0, p: float = 2.0):
        super().__init__()
        if concentration is not None and concentration < 0:
            raise ValueError(f"AmortizedSlicedWassersteinLoss: concentration must be >= 0 or None, got {concentration}")
        self.amortizer = amortizer
        self.n_projections, self.concentration, self.p = n_projections, concentration, p

    def projections(self, x: Tensor, y: Tensor) -> Tensor:
        """Directions ``[B, L, d]`` (``L = 1`` without concentration), differentiable in psi."""
        eps = self.amortizer(x.detach(), y.detach())
        if self.concentration is None:
            return eps.unsqueeze(1)
        return vmf_projections(eps, self.concentration, self.n_projections)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        check_pair(x, y, "AmortizedSlicedWassersteinLoss")
        theta = self.projections(x, y)
        if not self.training:
            theta = theta.detach()
        return pth_root(projected_wasserstein(x, y, theta, self.p).mean(-1), self.p)


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
    "MaxSlicedWassersteinLoss",
    "DistributionalSlicedWassersteinLoss",
    "AmortizedSlicedWassersteinLoss",
    "ChamferLoss",
    "EarthMoversLoss",
]

