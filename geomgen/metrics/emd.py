"""Earth mover's distance between equal-size point clouds (numpy arrays or torch tensors; exact optimal matching)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from geomgen.metrics._clouds import as_cloud_pair, check_finite


def optimal_matching(x: Tensor, y: Tensor) -> Tensor:
    """Index ``perm [B, N]`` such that x[b, i] is matched with y[b, perm[b, i]] optimally.

    Uses POT's exact network simplex (:func:`ot.emd`) on the Euclidean cost matrix; with
    uniform weights on equal-size clouds the optimal plan is a permutation (Birkhoff).
    """
    import ot

    xn = x.detach().cpu().double().numpy()
    yn = y.detach().cpu().double().numpy()
    n = xn.shape[1]
    a = np.full(n, 1.0 / n)
    perms = []
    for b in range(len(xn)):
        plan = ot.emd(a, a, ot.dist(xn[b], yn[b], metric="euclidean"), numItermax=max(100000, 100 * n * n))
        perms.append(plan.argmax(axis=1))
    return torch.from_numpy(np.stack(perms).astype(np.int64)).to(x.device)


def earth_movers_distance(x, y):
    r"""Earth mover's distance: mean per-point cost of the optimal one-to-one matching.

    .. math::
        \mathrm{EMD}(X, Y) = \min_{\sigma \in S_N} \frac{1}{N}\sum_i \|x_i - y_{\sigma(i)}\|

    i.e. the exact Wasserstein-1 distance between the uniform empirical measures. Cost: one
    exact OT problem per pair, :math:`O(N^2)` memory and roughly :math:`O(N^3)` time (about
    0.5-2 s for N = 2048 on one core), so use it as an evaluation metric; as a loss it is
    differentiable through the gathered matched pairs (the matching itself carries no gradient).

    Args:
        x (np.ndarray or Tensor): ``[B, N, d]``.
        y (np.ndarray or Tensor): ``[B, N, d]`` (same number of points).

    Returns:
        ``[B]``: a numpy array when both inputs are arrays (float64, or float32 for float32
        inputs), else a tensor of the tensor input's dtype and device.

    Raises:
        ValueError: bad shapes (quoting both), complex values, NaN or inf values (naming ``x`` or
            ``y`` and the count).
    """
    x, y, numpy_in = as_cloud_pair(x, y, "earth_movers_distance")
    if x.dim() != 3 or x.shape != y.shape:
        raise ValueError(
            f"earth_movers_distance: expected two [B, N, d] tensors of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[1] == 0:
        raise ValueError(f"earth_movers_distance: empty point cloud {tuple(x.shape)}")
    check_finite(x, y, "earth_movers_distance")
    perm = optimal_matching(x, y)
    y_m = torch.gather(y, 1, perm.unsqueeze(-1).expand(-1, -1, y.shape[-1]))
    out = (x - y_m).norm(dim=-1).mean(-1)
    return out.numpy() if numpy_in else out
