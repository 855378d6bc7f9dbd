"""Amortizers: networks that predict a slicing direction / vMF location from a pair of clouds.

Linear, generalized-linear and non-linear amortizers are the baselines of Nguyen & Ho,
"Amortized projection optimization for sliced Wasserstein generative models" (NeurIPS 2022);
they weight points by their index, so they need a fixed number of points and are not
invariant to point order. The self-attention amortizers of Nguyen, Nguyen & Ho (ICML 2023)
are invariant to point order and symmetric in the two clouds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from geomgen.pointclouds.losses.sliced import check_pair


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


class _IndexWeightedAmortizer(nn.Module):
    """Shared parts of the three index-weighted baselines: per-point weights w1, w2 and bias w0."""

    def __init__(self, n_points: int, dim: int = 3):
        super().__init__()
        if n_points < 1 or dim < 2:
            raise ValueError(f"amortizer: need n_points >= 1 and dim >= 2, got {n_points}, {dim}")
        self.n_points, self.dim = n_points, dim
        self.w0 = nn.Parameter(_unit(torch.randn(dim)))
        self.w1 = nn.Parameter(torch.randn(n_points) / math.sqrt(n_points))
        self.w2 = nn.Parameter(torch.randn(n_points) / math.sqrt(n_points))

    def _check(self, x: Tensor, y: Tensor) -> None:
        check_pair(x, y, type(self).__name__)
        if x.shape[1] != self.n_points or y.shape[1] != self.n_points or x.shape[2] != self.dim:
            raise ValueError(
                f"{type(self).__name__}: built for [B, {self.n_points}, {self.dim}] clouds, "
                f"got {tuple(x.shape)} and {tuple(y.shape)}"
            )

    def _pool(self, fx: Tensor, fy: Tensor) -> Tensor:
        return self.w0 + torch.einsum("bnd,n->bd", fx, self.w1) + torch.einsum("bnd,n->bd", fy, self.w2)


class LinearAmortizer(_IndexWeightedAmortizer):
    r"""Linear amortizer.

    .. math::
        f(X, Y) = \frac{w_0 + X^\top w_1 + Y^\top w_2}{\|w_0 + X^\top w_1 + Y^\top w_2\|}

    Args:
        n_points (int): N, points per cloud (the weights are per point index).
        dim (int, optional): d (default 3).

    Shapes:
        - x, y: ``[B, N, d]`` -> ``[B, d]`` unit vectors.
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        self._check(x, y)
        return _unit(self._pool(x, y))


class GeneralizedLinearAmortizer(_IndexWeightedAmortizer):
    r"""Generalized linear amortizer: the linear one applied to point-wise features.

    .. math::
        f(X, Y) = \frac{w_0 + \sigma(XW + b)^\top w_1 + \sigma(YW + b)^\top w_2}{\|\cdot\|},
        \qquad \sigma = \text{sigmoid},\ W \in \mathbb{R}^{d\times d}

    Args:
        n_points (int): N.
        dim (int, optional): d (default 3).

    Shapes:
        - x, y: ``[B, N, d]`` -> ``[B, d]`` unit vectors.
    """

    def __init__(self, n_points: int, dim: int = 3):
        super().__init__(n_points, dim)
        self.point = nn.Linear(dim, dim)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        self._check(x, y)
        return _unit(self._pool(torch.sigmoid(self.point(x)), torch.sigmoid(self.point(y))))


class NonLinearAmortizer(_IndexWeightedAmortizer):
    r"""Non-linear amortizer: an MLP head on the generalized linear pooling.

    .. math::
        f(X, Y) = \frac{h(w_0 + \sigma(XW + b)^\top w_1 + \sigma(YW + b)^\top w_2)}{\|\cdot\|},
        \qquad h(z) = W_2\,\sigma(W_1 z + b_1) + b_2

    Args:
        n_points (int): N.
        dim (int, optional): d (default 3).
        hidden (int, optional): width of h (default 64).

    Shapes:
        - x, y: ``[B, N, d]`` -> ``[B, d]`` unit vectors.
    """

    def __init__(self, n_points: int, dim: int = 3, hidden: int = 64):
        super().__init__(n_points, dim)
        self.point = nn.Linear(dim, dim)
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.Sigmoid(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        self._check(x, y)
        return _unit(self.head(self._pool(torch.sigmoid(self.point(x)), torch.sigmoid(self.point(y)))))


ATTENTION_KINDS = ("full", "efficient", "linformer")


class SetAttention(nn.Module):
    r"""One residual self-attention block over the points of a cloud (permutation-equivariant).

    .. math::
        H' = H + \mathrm{Att}(HW_Q, HW_K, HW_V)

    ``kind`` chooses the attention:

    * ``"full"``: :math:`\mathrm{softmax}(QK^\top/\sqrt{h})V`, cost :math:`O(N^2 h)`.
    * ``"efficient"``: :math:`\rho_q(Q)\,(\rho_k(K)^\top V)` with a softmax over features
      for :math:`\rho_q` and over points for :math:`\rho_k` (Shen et al., "Efficient
      attention", WACV 2021), cost :math:`O(N h^2)`.
    * ``"linformer"``: keys and values are compressed along the points to ``k`` rows,
      :math:`\mathrm{softmax}(Q(EK)^\top/\sqrt{h})(EV)` (Wang et al., "Linformer", 2020), cost
      :math:`O(N k h)`. Linformer's fixed ``[k, N]`` matrix E weights points by index and would
      break invariance to point order, so here
      :math:`E = \mathrm{softmax}_{\text{points}}(HW_E)^\top` is computed from the points.

    Args:
        hidden (int): h, feature width.
        kind (str, optional): ``"full"``, ``"efficient"`` or ``"linformer"`` (default ``"full"``).
        linformer_k (int, optional): k, compressed length for ``"linformer"`` (default 16).

    Shapes:
        - h: ``[B, N, h]`` -> ``[B, N, h]``.
    """

    def __init__(self, hidden: int, kind: str = "full", linformer_k: int = 16):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"SetAttention: kind must be one of {ATTENTION_KINDS}, got {kind!r}")
        self.kind, self.hidden = kind, hidden
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        if kind == "linformer":
            self.compress = nn.Linear(hidden, linformer_k)

    def forward(self, h: Tensor) -> Tensor:
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        scale = 1.0 / math.sqrt(self.hidden)
        if self.kind == "full":
            att = torch.softmax(q @ k.transpose(1, 2) * scale, dim=-1) @ v
        elif self.kind == "efficient":
            att = torch.softmax(q, dim=-1) @ (torch.softmax(k, dim=1).transpose(1, 2) @ v)
        else:
            e = torch.softmax(self.compress(h), dim=1).transpose(1, 2)  # [B, k, N]
            att = torch.softmax(q @ (e @ k).transpose(1, 2) * scale, dim=-1) @ (e @ v)
        return h + self.out(att)


class SelfAttentionAmortizer(nn.Module):
    r"""Self-attention amortizer, invariant to point order and symmetric in the two clouds.

    .. math::
        f(X, Y) = \frac{w_0 + W_o\big(\overline{A(XW_e)} + \overline{A(YW_e)}\big)}{\|\cdot\|}

    where :math:`A` is a :class:`SetAttention` block and the bar is the mean over points.
    Works for any number of points (also N != M). Nguyen, Nguyen & Ho, "Self-attention
    amortized distributional projection optimization for sliced Wasserstein point-cloud
    reconstruction" (ICML 2023).

    Args:
        dim (int, optional): d (default 3).
        hidden (int, optional): attention width h (default 32).
        kind (str, optional): ``"full"``, ``"efficient"`` or ``"linformer"`` (default ``"efficient"``).
        linformer_k (int, optional): compressed length for ``"linformer"`` (default 16).

    Shapes:
        - x: ``[B, N, d]``, y: ``[B, M, d]`` -> ``[B, d]`` unit vectors.
    """

    def __init__(self, dim: int = 3, hidden: int = 32, kind: str = "efficient", linformer_k: int = 16):
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(dim, hidden)
        self.attention = SetAttention(hidden, kind, linformer_k)
        self.head = nn.Linear(hidden, dim)

    def _summary(self, x: Tensor) -> Tensor:
        return self.attention(self.embed(x)).mean(dim=1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        check_pair(x, y, "SelfAttentionAmortizer")
        if x.shape[2] != self.dim:
            raise ValueError(f"SelfAttentionAmortizer: built for d = {self.dim}, got {tuple(x.shape)} and {tuple(y.shape)}")
        if x.shape[1] == y.shape[1]:
            s = self._summary(torch.cat([x, y], dim=0))  # one pass for both clouds
            sx, sy = s.chunk(2, dim=0)
        else:
            sx, sy = self._summary(x), self._summary(y)
        return _unit(self.head(sx + sy))


__all__ = [
    "LinearAmortizer",
    "GeneralizedLinearAmortizer",
    "NonLinearAmortizer",
    "SetAttention",
    "SelfAttentionAmortizer",
    "ATTENTION_KINDS",
]
