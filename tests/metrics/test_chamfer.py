import pytest
import torch

from geomgen.metrics import chamfer_distance


def _dense(x, y):
    d = torch.cdist(x, y) ** 2
    return d.min(2).values.mean(1) + d.min(1).values.mean(1)


def test_matches_dense_and_gradients(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 50, 3, generator=g, dtype=dtype, requires_grad=True)
    y = torch.randn(3, 70, 3, generator=g, dtype=dtype, requires_grad=True)
    ours = chamfer_distance(x, y)
    ref = _dense(x, y)
    assert ours.shape == (3,)
    assert torch.allclose(ours, ref, rtol=1e-5 if dtype == torch.float32 else 1e-10)
    gx, gy = torch.autograd.grad(ours.sum(), (x, y))
    rx, ry = torch.autograd.grad(ref.sum(), (x, y))
    assert torch.allclose(gx, rx, atol=1e-5) and torch.allclose(gy, ry, atol=1e-5)


def test_identical_zero_and_symmetric():
    x = torch.rand(2, 100, 3)
    y = torch.rand(2, 80, 3)
    assert torch.allclose(chamfer_distance(x, x), torch.zeros(2))
    assert torch.allclose(chamfer_distance(x, y), chamfer_distance(y, x))
    # invariant to point order
    perm = torch.randperm(80)
    assert torch.allclose(chamfer_distance(x, y[:, perm]), chamfer_distance(x, y))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(2, 10, 3\).*\(3, 10, 3\)"):
        chamfer_distance(torch.zeros(2, 10, 3), torch.zeros(3, 10, 3))
    with pytest.raises(ValueError, match="expected"):
        chamfer_distance(torch.zeros(10, 3), torch.zeros(10, 3))


def test_numpy_arrays_and_non_finite_values():
    """Issue 25 (M): the metrics are plain functions of arrays (README) but refused numpy input; a NaN
    must be an error naming the input, never a number."""
    import numpy as np

    rng = np.random.default_rng(0)
    x, y = rng.random((2, 30, 3)), rng.random((2, 20, 3))
    ours = chamfer_distance(x, y)
    assert isinstance(ours, np.ndarray) and ours.shape == (2,) and ours.dtype == np.float64
    assert np.allclose(ours, _dense(torch.from_numpy(x), torch.from_numpy(y)).numpy())
    assert chamfer_distance(x.astype(np.float32), y.astype(np.float32)).dtype == np.float32
    mixed = chamfer_distance(x, torch.from_numpy(y))  # one tensor: a tensor comes back
    assert isinstance(mixed, torch.Tensor) and np.allclose(mixed.numpy(), ours)
    y[1, 4, 0] = np.nan
    with pytest.raises(ValueError, match=r"chamfer_distance: y \(2, 20, 3\) holds 1 non-finite value"):
        chamfer_distance(x, y)
    xt = torch.from_numpy(x).clone()
    xt[0, 3, 2] = float("inf")
    with pytest.raises(ValueError, match=r"chamfer_distance: x \(2, 30, 3\) holds 1 non-finite value"):
        chamfer_distance(xt, torch.zeros(2, 5, 3, dtype=torch.float64))
