"""Sliced-Wasserstein distances between batches of point clouds: SW, Max-SW and v-DSW."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor

from geomgen.distributions import VonMisesFisher


def check_pair(x: Tensor, y: Tensor, name: str) -> None:
    """Raise ``ValueError`` (quoting both shapes) unless x: [B, N, d] and y: [B, M, d]."""
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"{name}: expected x [B, N, d] and y [B, M, d], got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[1] == 0 or y.shape[1] == 0:
        raise ValueError(f"{name}: empty point cloud, got {tuple(x.shape)} and {tuple(y.shape)}")


def _check_p(p: float, name: str) -> None:
    if p < 1:
        raise ValueError(f"{name}: p must be >= 1, got {p}")


def random_projections(
    n: int, d: int, *, generator: torch.Generator | None = None, like: Tensor | None = None
) -> Tensor:
    r"""``n`` directions drawn uniformly on :math:`S^{d-1}` (normalised Gaussians).

    Args:
        n (int): number of directions.
        d (int): ambient dimension.
        generator (torch.Generator, optional): random source (default: torch's global one).
        like (Tensor, optional): the new tensor takes its dtype and device (default float32, CPU).

    Shapes:
        - output: ``[n, d]``.
    """
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    if generator is not None and device is not None and generator.device != device:
        th = torch.randn(n, d, generator=generator, dtype=dtype, device=generator.device).to(device)
    else:
        th = torch.randn(n, d, generator=generator, dtype=dtype, device=device)
    return th / th.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)


def _wasserstein_1d_pp(xs: Tensor, ys: Tensor, p: float) -> Tensor:
    """W_p^p between uniform empirical measures given sorted values along the last dim.

    ``xs: [..., N]`` and ``ys: [..., M]`` sorted ascending. Equal sizes pair order statistics;
    unequal sizes integrate ``|F^{-1}(t) - G^{-1}(t)|^p`` exactly over the merged quantile levels.
    """
    n, m = xs.shape[-1], ys.shape[-1]
    if n == m:
        return (xs - ys).abs().pow(p).mean(-1)
    qa = torch.arange(1, n + 1, dtype=torch.float64, device=xs.device) / n
    qb = torch.arange(1, m + 1, dtype=torch.float64, device=xs.device) / m
    q = torch.cat([qa, qb]).sort().values
    w = torch.diff(q, prepend=q.new_zeros(1)).to(xs.dtype)
    ia = torch.searchsorted(qa, q).clamp_max(n - 1)
    ib = torch.searchsorted(qb, q).clamp_max(m - 1)
    return ((xs[..., ia] - ys[..., ib]).abs().pow(p) * w).sum(-1)


def projected_wasserstein(x: Tensor, y: Tensor, projections: Tensor, p: float = 2) -> Tensor:
    r"""One-dimensional :math:`W_p^p` between the clouds projected on each direction.

    .. math::
        W_p^p(\theta_\# X, \theta_\# Y) = \frac{1}{N}\sum_{i=1}^{N}
        \big|\mathrm{sort}(X\theta)_i - \mathrm{sort}(Y\theta)_i\big|^p

    (for N != M the quantile functions are integrated exactly). Differentiable in ``x``,
    ``y`` and ``projections``.

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``.
        projections (Tensor): ``[L, d]`` shared by the batch or ``[B, L, d]`` per pair.
        p (float, optional): order (default 2).

    Shapes:
        - output: ``[B, L]``.
    """
    check_pair(x, y, "projected_wasserstein")
    if projections.dim() == 2:
        projections = projections.unsqueeze(0).expand(x.shape[0], -1, -1)
    if projections.dim() != 3 or projections.shape[0] != x.shape[0] or projections.shape[2] != x.shape[2]:
        raise ValueError(
            f"projected_wasserstein: projections must be [L, d] or [B, L, d] for x {tuple(x.shape)}, "
            f"got {tuple(projections.shape)}"
        )
    # contiguous operands: bmm on transposed views is ~100x slower in float64
    projections = projections.contiguous()
    xp = torch.bmm(projections, x.transpose(1, 2).contiguous()).sort(dim=-1).values  # [B, L, N]
    yp = torch.bmm(projections, y.transpose(1, 2).contiguous()).sort(dim=-1).values  # [B, L, M]
    return _wasserstein_1d_pp(xp, yp, p)


def pth_root(v: Tensor, p: float) -> Tensor:
    """``v ** (1/p)`` with a finite (zero) gradient where ``v == 0``."""
    tiny = torch.finfo(v.dtype).tiny
    return torch.where(v > 0, v.clamp_min(tiny).pow(1.0 / p), torch.zeros_like(v))


@contextmanager
def _autograd_inside():
    """Enable autograd for the inner ascent even under ``no_grad`` / ``inference_mode``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def _normalise(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def _initial_direction(x: Tensor, init: Tensor | None, generator: torch.Generator | None, name: str) -> Tensor:
    b, _, d = x.shape
    if init is None:
        return random_projections(b, d, generator=generator, like=x)
    init = init.to(dtype=x.dtype, device=x.device)
    if init.dim() == 1:
        init = init.unsqueeze(0).expand(b, -1)
    if init.shape != (b, d):
        raise ValueError(f"{name}: init must be [d] or [B, d] for x {tuple(x.shape)}, got {tuple(init.shape)}")
    return _normalise(init)


def sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = 100,
    p: float = 2,
    projections: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Sliced Wasserstein distance between batches of point clouds, Monte Carlo estimate.

    .. math::
        \mathrm{SW}_p(X, Y) = \Big(\frac{1}{L}\sum_{l=1}^{L} W_p^p(\theta_{l\#} X, \theta_{l\#} Y)\Big)^{1/p},
        \qquad \theta_l \sim \mathcal{U}(S^{d-1})

    The value is the p-th root of the mean of :math:`W_p^p`, as
    :func:`ot.sliced_wasserstein_distance` returns. Passing ``projections`` makes the call
    deterministic.

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``.
        n_projections (int, optional): L, used when ``projections`` is None (default 100).
        p (float, optional): order (default 2).
        projections (Tensor, optional): unit directions ``[L, d]`` (shared) or ``[B, L, d]``.
        generator (torch.Generator, optional): random source for the directions.

    Shapes:
        - output: ``[B]``.
    """
    check_pair(x, y, "sliced_wasserstein")
    _check_p(p, "sliced_wasserstein")
    if projections is None:
        if n_projections < 1:
            raise ValueError(f"sliced_wasserstein: n_projections must be >= 1, got {n_projections}")
        projections = random_projections(n_projections, x.shape[-1], generator=generator, like=x)
    return pth_root(projected_wasserstein(x, y, projections, p).mean(-1), p)


def max_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_iters: int = 50,
    lr: float = 1.0,
    p: float = 2,
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Max-sliced Wasserstein distance, by projected gradient ascent on the direction.

    .. math::
        \mathrm{Max\text{-}SW}_p(X, Y) = \max_{\theta \in S^{d-1}} W_p(\theta_\# X, \theta_\# Y),
        \qquad \theta \leftarrow \frac{\theta + \eta \nabla_\theta W_p^p}{\|\theta + \eta \nabla_\theta W_p^p\|}

    One direction per pair, ``n_iters`` ascent steps on detached clouds; the returned value is
    :math:`W_p` along the final (detached) direction, differentiable in ``x`` and ``y``
    (envelope theorem). Deshpande et al., "Max-sliced Wasserstein distance and its use for
    GANs" (CVPR 2019).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``.
        n_iters (int, optional): T, number of ascent steps (default 50).
        lr (float, optional): step size :math:`\eta` (default 1.0).
        p (float, optional): order (default 2).
        init (Tensor, optional): starting direction ``[d]`` or ``[B, d]`` (default uniform).
        generator (torch.Generator, optional): random source for the starting direction.

    Shapes:
        - output: ``[B]``.
    """
    check_pair(x, y, "max_sliced_wasserstein")
    _check_p(p, "max_sliced_wasserstein")
    if n_iters < 0:
        raise ValueError(f"max_sliced_wasserstein: n_iters must be >= 0, got {n_iters}")
    theta = _initial_direction(x, init, generator, "max_sliced_wasserstein")
    with _autograd_inside():
        xd, yd = x.detach().clone(), y.detach().clone()
        theta = theta.detach().clone()
        for _ in range(n_iters):
            theta.requires_grad_(True)
            obj = projected_wasserstein(xd, yd, theta.unsqueeze(1), p).sum()
            (grad,) = torch.autograd.grad(obj, theta)
            theta = _normalise(theta.detach() + lr * grad)
    theta = theta.detach().to(x.dtype)
    return pth_root(projected_wasserstein(x, y, theta.unsqueeze(1), p).squeeze(-1), p)


def distributional_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = 10,
    concentration: float = 10.0,
    n_iters: int = 50,
    lr: float = 1.0,
    p: float = 2,
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Von Mises-Fisher distributional sliced Wasserstein distance (v-DSW).

    .. math::
        \mathrm{v\text{-}DSW}_p(X, Y) = \max_{\epsilon \in S^{d-1}}
        \Big(\mathbb{E}_{\theta \sim \mathrm{vMF}(\epsilon, \kappa)}
        W_p^p(\theta_\# X, \theta_\# Y)\Big)^{1/p}

    The location :math:`\epsilon` (one per pair) climbs ``n_iters`` steps of gradient ascent on a
    Monte Carlo estimate with ``n_projections`` reparameterised vMF samples, renormalised after
    each step; :math:`\kappa` is fixed. The returned value uses fresh samples around the final
    (detached) location and is differentiable in ``x`` and ``y``. As :math:`\kappa \to \infty`
    it tends to Max-SW; at :math:`\kappa = 0` it is SW. Nguyen et al., "Distributional sliced
    Wasserstein and applications to generative modeling" (ICLR 2021); Nguyen, Nguyen & Ho,
    "Self-attention amortized distributional projection optimization for sliced Wasserstein
    point-cloud reconstruction" (ICML 2023).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``.
        n_projections (int, optional): L, vMF samples per step (default 10).
        concentration (float, optional): :math:`\kappa \ge 0` (default 10).
        n_iters (int, optional): T, ascent steps on the location (default 50).
        lr (float, optional): step size (default 1.0).
        p (float, optional): order (default 2).
        init (Tensor, optional): starting location ``[d]`` or ``[B, d]`` (default uniform).
        generator (torch.Generator, optional): random source (starting location, vMF samples).

    Shapes:
        - output: ``[B]``.
    """
    check_pair(x, y, "distributional_sliced_wasserstein")
    _check_p(p, "distributional_sliced_wasserstein")
    if n_iters < 0 or n_projections < 1 or concentration < 0:
        raise ValueError(
            "distributional_sliced_wasserstein: need n_iters >= 0, n_projections >= 1, concentration >= 0; "
            f"got {n_iters}, {n_projections}, {concentration}"
        )
    eps = _initial_direction(x, init, generator, "distributional_sliced_wasserstein")
    with _autograd_inside():
        xd, yd = x.detach().clone(), y.detach().clone()
        eps = eps.detach().clone()
        for _ in range(n_iters):
            eps.requires_grad_(True)
            theta = vmf_projections(eps, concentration, n_projections, generator=generator)
            obj = projected_wasserstein(xd, yd, theta, p).mean(-1).sum()
            (grad,) = torch.autograd.grad(obj, eps)
            eps = _normalise(eps.detach() + lr * grad)
    theta = vmf_projections(eps.detach().to(x.dtype), concentration, n_projections, generator=generator).detach()
    return pth_root(projected_wasserstein(x, y, theta, p).mean(-1), p)


def vmf_projections(
    loc: Tensor, concentration: float | Tensor, n_projections: int, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""``n_projections`` reparameterised vMF directions around each location.

    .. math::
        \theta_{b,l} \sim \mathrm{vMF}(\epsilon_b, \kappa)

    Args:
        loc (Tensor): unit locations ``[B, d]`` (gradients flow back to it).
        concentration (float or Tensor): :math:`\kappa`.
        n_projections (int): L.
        generator (torch.Generator, optional): random source.

    Shapes:
        - output: ``[B, L, d]``.
    """
    theta = VonMisesFisher(loc, concentration).rsample((n_projections,), generator=generator)  # [L, B, d]
    return theta.transpose(0, 1)


__all__ = [
    "sliced_wasserstein",
    "max_sliced_wasserstein",
    "distributional_sliced_wasserstein",
    "projected_wasserstein",
    "random_projections",
    "vmf_projections",
    "pth_root",
    "check_pair",
]

