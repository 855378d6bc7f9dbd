"""Sliced-Wasserstein distances between batches of point clouds: SW, Max-SW and v-DSW.

Every function takes clouds ``x: [B, N, d]`` and ``y: [B, M, d]`` of one dtype and device and
checks them with :func:`check_pair`. Monte Carlo estimates default to
:data:`DEFAULT_N_PROJECTIONS` (100) directions everywhere. Max-SW and v-DSW optimise their
direction / vMF location per pair (``optimizer="normalized"``, the default, ``"projected"`` or
``"adam"``) and, with
``return_direction=True``, return it beside the value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from geomgen.distributions import VonMisesFisher

#: Default number of projections L of every Monte Carlo estimate in this package (the functions
#: :func:`sliced_wasserstein` and :func:`distributional_sliced_wasserstein`, the loss modules and
#: the training system's validation SW). Why 100: it is the value of the paper's Table 1 and of
#: its official code for SW, v-DSW and the amortized losses alike, so results compare with
#: theirs; the Monte Carlo error falls only as :math:`1/\sqrt{L}` while the cost (a sort of
#: ``L`` projections of each cloud) grows as ``L``, and one value for every function means that
#: swapping one loss for another changes the objective, not the estimator's noise.
DEFAULT_N_PROJECTIONS = 100

#: Ascent rule for the direction / vMF location of Max-SW and v-DSW: normalised gradient ascent
#: (steps of a set angle, whatever the objective's scale), projected gradient ascent, or Adam
#: followed by renormalisation (the official code's).
AscentOptimizer = Literal["projected", "adam", "normalized"]
OPTIMIZERS: tuple[str, ...] = get_args(AscentOptimizer)

#: Default ascent step size per rule: projected gradient ascent (1.0), the official code's Adam
#: learning rate (1e-4), and the first step's angle (rad) of normalised ascent (0.2).
DEFAULT_LR = {"projected": 1.0, "adam": 1e-4, "normalized": 0.2}


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_pair(x: Tensor, y: Tensor, name: str) -> None:
    """Raise ``ValueError`` unless x: [B, N, d] and y: [B, M, d] share dtype and device, with d <= N, M,
    and hold finite values only.

    Every message quotes both shapes (and both dtypes or devices); an input with more
    coordinates per point than points, as a channels-first ``[B, d, N]`` cloud is, is refused
    with the fix (``.transpose(1, 2)``) in the message.
    """
    pair = f"x {_shape(x)} and y {_shape(y)}"
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        hint = ""
        if x.dim() == 3 and y.dim() == 3 and x.shape[0] == y.shape[0] and (x.shape[1] == y.shape[2] or x.shape[2] == y.shape[1]):
            hint = "; is one of them channels-first [B, d, N]? Pass it as .transpose(1, 2)"
        raise ValueError(f"{name}: expected x [B, N, d] and y [B, M, d], got {pair}{hint}")
    if x.shape[1] == 0 or y.shape[1] == 0:
        raise ValueError(f"{name}: empty point cloud, got {pair}")
    for label, c in (("x", x), ("y", y)):
        if c.shape[2] > c.shape[1]:
            raise ValueError(
                f"{name}: {label} has more coordinates per point ({c.shape[2]}) than points ({c.shape[1]}), got {pair}; "
                f"clouds are [B, N, d] with points along dim 1: a channels-first [B, d, N] cloud needs {label}.transpose(1, 2)"
            )
    if x.dtype != y.dtype:
        raise ValueError(f"{name}: x and y must share a dtype, got {x.dtype} and {y.dtype} ({pair}); cast one, e.g. y.to(x.dtype)")
    if x.device != y.device:
        raise ValueError(f"{name}: x and y must be on one device, got {x.device} and {y.device} ({pair}); move one, e.g. y.to(x.device)")
    # one device-to-host read for both clouds; the counts only on failure
    if not bool(torch.stack((torch.isfinite(x).all(), torch.isfinite(y).all())).all()):
        for label, c in (("x", x), ("y", y)):
            bad = int((~torch.isfinite(c)).sum())
            if bad:
                raise ValueError(f"{name}: {label} {_shape(c)} holds {bad} non-finite value(s) (NaN or inf); the distance would be meaningless")


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
        diff = xs - ys
    else:
        qa = torch.arange(1, n + 1, dtype=torch.float64, device=xs.device) / n
        qb = torch.arange(1, m + 1, dtype=torch.float64, device=xs.device) / m
        q = torch.cat([qa, qb]).sort().values
        w = torch.diff(q, prepend=q.new_zeros(1)).to(xs.dtype)
        ia = torch.searchsorted(qa, q).clamp_max(n - 1)
        ib = torch.searchsorted(qb, q).clamp_max(m - 1)
        diff = xs[..., ia] - ys[..., ib]
    # p = 2 (the default) as a square: a cheaper backward than pow's
    cost = diff.square() if p == 2 else diff.abs().pow(p)
    return cost.mean(-1) if n == m else (cost * w).sum(-1)


def _points_last(c: Tensor) -> Tensor:
    """``[B, N, d] -> [B, d, N]``, contiguous: bmm on transposed views is ~100x slower in float64."""
    return c.transpose(1, 2).contiguous()


def _detached_points_last(c: Tensor) -> Tensor:
    """:func:`_points_last` of ``c.detach()`` as a normal tensor, usable by autograd even when
    ``c`` was made under ``inference_mode``: the ascents' fixed operands, prepared once."""
    with torch.inference_mode(False):
        t = _points_last(c.detach())
        return t.clone() if t.is_inference() else t


#: At most this many intra-op threads, a CPU sort of the projections takes its order from NumPy's
#: argsort and gathers the values by it (same values and gradients as ``torch.sort``). Measured on
#: [32, 100, 256] float32 projections (the training batches of the ``small_*`` Table 1 protocols),
#: one thread, AMD EPYC with AVX-512, by hand: ``torch.sort`` 47-65 ms, NumPy's argsort and the
#: gather 10-13 ms. torch's sort spreads rows over its threads and NumPy's does not, so with about
#: five threads or more torch's should be the faster (an estimate: this 2-core machine cannot time it).
NUMPY_SORT_MAX_THREADS = 4


def projection_sort(device: torch.device | str = "cpu") -> str:
    """Which sort the sliced losses use now for float32 / float64 projections on ``device``:
    ``"numpy"`` (NumPy's argsort and a gather) or ``"torch"`` (``torch.sort``); see
    :data:`NUMPY_SORT_MAX_THREADS`."""
    cpu = torch.device(device).type == "cpu"
    return "numpy" if cpu and torch.get_num_threads() <= NUMPY_SORT_MAX_THREADS else "torch"


@contextmanager
def torch_sort():
    """Within this context the sliced losses sort with ``torch.sort`` on every device (the NumPy path
    of :data:`NUMPY_SORT_MAX_THREADS` off): the benchmarks time both sorts with it."""
    global NUMPY_SORT_MAX_THREADS
    before, NUMPY_SORT_MAX_THREADS = NUMPY_SORT_MAX_THREADS, 0
    try:
        yield
    finally:
        NUMPY_SORT_MAX_THREADS = before


def _sorted_last(t: Tensor) -> Tensor:
    """``t.sort(dim=-1).values``, differentiable in ``t`` (the gradient is routed by the order, as
    ``torch.sort``'s is). On a CPU with at most :data:`NUMPY_SORT_MAX_THREADS` threads the order is
    NumPy's argsort of the detached values (vectorised sorting, several times faster than
    ``torch.sort`` there) and the values are gathered by it; NaNs sort last either way. Elsewhere
    (GPU, half precision, more threads) it is ``torch.sort``."""
    if t.dtype not in (torch.float32, torch.float64) or t.shape[-1] < 2 or projection_sort(t.device) == "torch":
        return t.sort(dim=-1).values
    order = torch.from_numpy(np.argsort(t.detach().numpy(), axis=-1))
    return torch.gather(t, -1, order)  # take_along_dim is ~2.5x slower here


def _projected_wpp(xt: Tensor, yt: Tensor, projections: Tensor, p: float) -> Tensor:
    """:func:`projected_wasserstein` on prepared operands, unchecked: the inner loop of the ascents.

    ``xt: [B, d, N]`` and ``yt: [B, d, M]`` from :func:`_points_last`, ``projections: [B, L, d]``
    contiguous; returns ``[B, L]``.
    """
    xp = _sorted_last(_project(projections, xt))  # [B, L, N]
    yp = _sorted_last(_project(projections, yt))  # [B, L, M]
    return _wasserstein_1d_pp(xp, yp, p)


def _project(projections: Tensor, ct: Tensor) -> Tensor:
    """``[B, L, d] x [B, d, N] -> [B, L, N]``.

    With one direction per pair (Max-SW's ascent, L = 1) and more than one intra-op thread, the
    product is a sum of ``d`` scaled rows ``[B, N]`` rather than a bmm: the same numbers up to
    rounding, but element-wise ops this small run on the calling thread, while a tiny bmm and its
    backward open a parallel region in every one of the T ascent steps, whose start-up is the
    whole cost on a loaded CPU (about 8 ms instead of 5 us measured at 2 threads with both cores
    busy). At one thread the bmm opens no region and is the faster of the two.
    """
    if projections.shape[1] != 1 or torch.get_num_threads() == 1:
        return torch.bmm(projections, ct)
    th = projections[:, 0, :].unsqueeze(-1)  # [B, d, 1]
    out = th[:, 0] * ct[:, 0]
    for k in range(1, ct.shape[1]):
        out = torch.addcmul(out, th[:, k], ct[:, k])
    return out.unsqueeze(1)


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
    return _projected_checked(x, y, projections, p)


def _projected_checked(x: Tensor, y: Tensor, projections: Tensor, p: float) -> Tensor:
    """:func:`projected_wasserstein` for a pair already checked by :func:`check_pair` (so each
    public call checks its clouds once); the projections are checked here."""
    if projections.dim() == 2:
        projections = projections.unsqueeze(0).expand(x.shape[0], -1, -1)
    if projections.dim() != 3 or projections.shape[0] != x.shape[0] or projections.shape[2] != x.shape[2]:
        raise ValueError(
            f"projected_wasserstein: projections must be [L, d] or [B, L, d] for x {_shape(x)}, "
            f"got {_shape(projections)}"
        )
    if projections.dtype != x.dtype or projections.device != x.device:
        raise ValueError(
            f"projected_wasserstein: projections ({projections.dtype}, {projections.device}) must match x "
            f"({x.dtype}, {x.device}); build them with random_projections(..., like=x)"
        )
    return _projected_wpp(_points_last(x), _points_last(y), projections.contiguous(), p)


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
        raise ValueError(f"{name}: init must be [d] or [B, d] for x {_shape(x)}, got {_shape(init)}")
    return _normalise(init)


def _check_ascent(n_iters: int, lr: float | None, optimizer: AscentOptimizer, name: str) -> float:
    """Validate the ascent settings; return the step size (``lr`` or the rule's default)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"{name}: optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if n_iters < 0:
        raise ValueError(f"{name}: n_iters must be >= 0, got {n_iters}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if lr <= 0:
        raise ValueError(f"{name}: lr must be > 0, got {lr}")
    return lr


def _ascend(start: Tensor, objective: Callable[[Tensor], Tensor], n_iters: int, lr: float, optimizer: AscentOptimizer) -> Tensor:
    r"""``n_iters`` ascent steps of unit vectors ``[B, d]`` on ``objective(v) -> [B]``, renormalised after each.

    ``"projected"``: :math:`v \leftarrow (v + \eta\nabla)/\|v + \eta\nabla\|`. ``"adam"``: Adam
    (maximising) on ``v``, then ``v`` is projected back onto the sphere, as the official code
    does. ``"normalized"``: a step of length :math:`\eta_t` along the unit tangent gradient,
    :math:`v \leftarrow (v + \eta_t g/\|g\|)/\|\cdot\|` with :math:`g = \nabla - (\nabla\cdot v)v`
    and :math:`\eta_t = \eta\,(1 + \cos(\pi t / T))/2`: independent of the objective's scale.
    The other two are not: :math:`W_p^p` of clouds a few hundredths apart has gradients of order
    1e-3, so 50 projected steps at :math:`\eta = 1` (or Adam at 1e-4) move the direction by a few
    hundredths of a radian and v-DSW stays at its random start's value. The pairs are
    independent: the objective is summed over the batch. Returns the final vectors, detached.
    """
    with _autograd_inside():
        v = start.detach().clone()
        if optimizer == "adam":
            v.requires_grad_(True)
            opt = torch.optim.Adam([v], lr=lr, maximize=True)
            for _ in range(n_iters):
                (v.grad,) = torch.autograd.grad(objective(v).sum(), v)
                opt.step()
                with torch.no_grad():
                    v.copy_(_normalise(v))
            return v.detach()
        for t in range(n_iters):
            v.requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(v).sum(), v)
            v = v.detach()
            if optimizer == "normalized":
                g = grad - (grad * v).sum(-1, keepdim=True) * v
                step = lr * 0.5 * (1.0 + math.cos(math.pi * t / n_iters))
                v = _normalise(v + step * g / g.norm(dim=-1, keepdim=True).clamp_min(1e-30))
            else:
                v = _normalise(v + lr * grad)
    return v.detach()


def sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = DEFAULT_N_PROJECTIONS,
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
        y (Tensor): ``[B, M, d]``, same dtype and device as ``x``.
        n_projections (int, optional): L, used when ``projections`` is None (default
            :data:`DEFAULT_N_PROJECTIONS`, 100).
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
    return pth_root(_projected_checked(x, y, projections, p).mean(-1), p)


def max_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_iters: int = 50,
    lr: float | None = None,
    p: float = 2,
    optimizer: AscentOptimizer = "normalized",
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
    return_direction: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Max-sliced Wasserstein distance, by gradient ascent on the direction.

    .. math::
        \mathrm{Max\text{-}SW}_p(X, Y) = \max_{\theta \in S^{d-1}} W_p(\theta_\# X, \theta_\# Y),
        \qquad \theta \leftarrow \frac{\theta + \eta \nabla_\theta W_p^p}{\|\theta + \eta \nabla_\theta W_p^p\|}

    One direction per pair, ``n_iters`` ascent steps on detached clouds; the returned value is
    :math:`W_p` along the final (detached) direction, differentiable in ``x`` and ``y``
    (envelope theorem). ``optimizer="projected"`` is the projected gradient ascent above;
    ``"adam"`` runs Adam on :math:`\theta` and renormalises after each step, as the official
    code of Nguyen, Nguyen & Ho (ICML 2023) does (with ``lr=1e-4`` it barely moves the
    direction in 50 steps). Deshpande et al., "Max-sliced Wasserstein distance and its use for
    GANs" (CVPR 2019).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``, same dtype and device as ``x``.
        n_iters (int, optional): T, number of ascent steps (default 50).
        lr (float, optional): step size :math:`\eta` (default 0.2 for ``"normalized"``, 1.0 for ``"projected"``, 1e-4 for ``"adam"``).
        p (float, optional): order (default 2).
        optimizer (str, optional): ``"normalized"`` (default), ``"projected"`` or ``"adam"`` (see ``_ascend``).
        init (Tensor, optional): starting direction ``[d]`` or ``[B, d]`` (default uniform).
        generator (torch.Generator, optional): random source for the starting direction.
        return_direction (bool, optional): also return the optimised direction (default False).

    Shapes:
        - output: ``[B]``; with ``return_direction``, ``([B], [B, d])``: the value and the unit
          direction that achieves it (detached).
    """
    check_pair(x, y, "max_sliced_wasserstein")
    _check_p(p, "max_sliced_wasserstein")
    lr = _check_ascent(n_iters, lr, optimizer, "max_sliced_wasserstein")
    theta = _initial_direction(x, init, generator, "max_sliced_wasserstein")
    if n_iters > 0:
        xt, yt = _detached_points_last(x), _detached_points_last(y)  # once: the T steps only re-project them
        theta = _ascend(theta, lambda th: _projected_wpp(xt, yt, th.unsqueeze(1), p).squeeze(-1), n_iters, lr, optimizer)
    theta = theta.detach()
    value = pth_root(_projected_checked(x, y, theta.unsqueeze(1), p).squeeze(-1), p)
    return (value, theta) if return_direction else value


def distributional_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = DEFAULT_N_PROJECTIONS,
    concentration: float = 10.0,
    n_iters: int = 50,
    lr: float | None = None,
    p: float = 2,
    optimizer: AscentOptimizer = "normalized",
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
    return_direction: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Von Mises-Fisher distributional sliced Wasserstein distance (v-DSW).

    .. math::
        \mathrm{v\text{-}DSW}_p(X, Y) = \max_{\epsilon \in S^{d-1}}
        \Big(\mathbb{E}_{\theta \sim \mathrm{vMF}(\epsilon, \kappa)}
        W_p^p(\theta_\# X, \theta_\# Y)\Big)^{1/p}

    The location :math:`\epsilon` (one per pair) climbs ``n_iters`` steps of gradient ascent on a
    Monte Carlo estimate with ``n_projections`` reparameterised vMF samples, renormalised after
    each step (``optimizer`` as in :func:`max_sliced_wasserstein`); :math:`\kappa` is fixed. The
    returned value uses fresh samples around the final (detached) location and is
    differentiable in ``x`` and ``y``. As :math:`\kappa \to \infty` it tends to Max-SW; at
    :math:`\kappa = 0` it is SW. Nguyen et al., "Distributional sliced Wasserstein and
    applications to generative modeling" (ICLR 2021); Nguyen, Nguyen & Ho, "Self-attention
    amortized distributional projection optimization for sliced Wasserstein point-cloud
    reconstruction" (ICML 2023).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``, same dtype and device as ``x``.
        n_projections (int, optional): L, vMF samples per step (default
            :data:`DEFAULT_N_PROJECTIONS`, 100).
        concentration (float, optional): :math:`\kappa \ge 0` (default 10).
        n_iters (int, optional): T, ascent steps on the location (default 50).
        lr (float, optional): step size (default 0.2 for ``"normalized"``, 1.0 for ``"projected"``, 1e-4 for ``"adam"``).
        p (float, optional): order (default 2).
        optimizer (str, optional): ``"normalized"`` (default), ``"projected"`` or ``"adam"`` (see ``_ascend``).
        init (Tensor, optional): starting location ``[d]`` or ``[B, d]`` (default uniform).
        generator (torch.Generator, optional): random source (starting location, vMF samples).
        return_direction (bool, optional): also return the optimised vMF location (default False).

    Shapes:
        - output: ``[B]``; with ``return_direction``, ``([B], [B, d])``: the value and the unit
          vMF location :math:`\epsilon` around which its directions were drawn (detached).
    """
    name = "distributional_sliced_wasserstein"
    check_pair(x, y, name)
    _check_p(p, name)
    lr = _check_ascent(n_iters, lr, optimizer, name)
    if n_projections < 1 or concentration < 0:
        raise ValueError(f"{name}: need n_projections >= 1 and concentration >= 0, got {n_projections} and {concentration}")
    eps = _initial_direction(x, init, generator, name)
    if n_iters > 0:
        xt, yt = _detached_points_last(x), _detached_points_last(y)  # once: the T steps only re-project them

        def objective(loc: Tensor) -> Tensor:
            theta = vmf_projections(loc, concentration, n_projections, generator=generator).contiguous()
            return _projected_wpp(xt, yt, theta, p).mean(-1)

        eps = _ascend(eps, objective, n_iters, lr, optimizer)
    eps = eps.detach()
    theta = vmf_projections(eps, concentration, n_projections, generator=generator).detach()
    value = pth_root(_projected_checked(x, y, theta, p).mean(-1), p)
    return (value, eps) if return_direction else value


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
    "DEFAULT_N_PROJECTIONS",
    "OPTIMIZERS",
    "sliced_wasserstein",
    "max_sliced_wasserstein",
    "distributional_sliced_wasserstein",
    "projected_wasserstein",
    "random_projections",
    "vmf_projections",
    "pth_root",
    "check_pair",
    "NUMPY_SORT_MAX_THREADS",
    "projection_sort",
    "torch_sort",
]
