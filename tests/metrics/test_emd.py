import pytest
import torch
from scipy.optimize import linear_sum_assignment

from geomgen.metrics import earth_movers_distance, wasserstein


def test_matches_assignment_and_wasserstein():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, 3, generator=g, dtype=torch.float64)
    y = torch.randn(2, 40, 3, generator=g, dtype=torch.float64) + 0.3
    ours = earth_movers_distance(x, y)
    for b in range(2):
        cost = torch.cdist(x[b], y[b]).numpy()
        r, c = linear_sum_assignment(cost)
        assert ours[b].item() == pytest.approx(cost[r, c].mean(), rel=1e-9)
        assert ours[b].item() == pytest.approx(wasserstein(x[b], y[b], p=1), rel=1e-9)


def test_zero_for_permutation_and_symmetric():
    x = torch.rand(2, 64, 3)
    perm = torch.randperm(64)
    assert torch.allclose(earth_movers_distance(x, x[:, perm]), torch.zeros(2), atol=1e-6)
    y = torch.rand(2, 64, 3)
    assert torch.allclose(earth_movers_distance(x, y), earth_movers_distance(y, x), atol=1e-6)


def test_differentiable():
    x = torch.rand(1, 30, 3, requires_grad=True)
    y = torch.rand(1, 30, 3)
    earth_movers_distance(x, y).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(1, 10, 3\).*\(1, 12, 3\)"):
        earth_movers_distance(torch.zeros(1, 10, 3), torch.zeros(1, 12, 3))


def test_numpy_arrays_and_non_finite_values():
    """Issue 25 (M): numpy input was refused; a NaN must be an error naming the input, never a number."""
    import numpy as np

    rng = np.random.default_rng(0)
    x, y = rng.random((2, 25, 3)), rng.random((2, 25, 3))
    ours = earth_movers_distance(x, y)
    assert isinstance(ours, np.ndarray) and ours.shape == (2,) and ours.dtype == np.float64
    assert np.allclose(ours, earth_movers_distance(torch.from_numpy(x), torch.from_numpy(y)).numpy())
    x[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"earth_movers_distance: x \(2, 25, 3\) holds 1 non-finite value"):
        earth_movers_distance(x, y)
    with pytest.raises(ValueError, match=r"y \(2, 25, 3\) holds 1 non-finite"):
        earth_movers_distance(torch.from_numpy(y), torch.from_numpy(x))
