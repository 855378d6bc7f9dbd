"""Reusable property checks for point-cloud losses and amortizers (the e3nn test-helper habit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def random_rotation(dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return torch.as_tensor(q, dtype=dtype)


def assert_rotation_invariant(fn, x, y, rtol=1e-6, atol=1e-8, seed=0):
    """fn(x R^T, y R^T) == fn(x, y) for a random rotation R (fn receives R too)."""
    rot = random_rotation(x.dtype, seed)
    a, b = fn(x, y, torch.eye(3, dtype=x.dtype)), fn(x @ rot.T, y @ rot.T, rot)
    assert torch.allclose(a, b, rtol=rtol, atol=atol), (a, b)


def assert_symmetric(fn, x, y, rtol=1e-6, atol=1e-7):
    a, b = fn(x, y), fn(y, x)
    assert torch.allclose(a, b, rtol=rtol, atol=atol), (a, b)


def assert_permutation_invariant(fn, x, y, rtol=1e-5, atol=1e-6, seed=0):
    g = torch.Generator().manual_seed(seed)
    px, py = torch.randperm(x.shape[1], generator=g), torch.randperm(y.shape[1], generator=g)
    a, b = fn(x, y), fn(x[:, px], y[:, py])
    assert torch.allclose(a, b, rtol=rtol, atol=atol), (a, b)


def assert_zero_on_identical(fn, x, atol=1e-6):
    v = fn(x, x.clone())
    assert torch.all(v.abs() <= atol), v


@pytest.fixture(autouse=True)
def single_thread():
    """Run on one intra-op thread: on the shared 2-core machine, a contended thread pool makes
    small float64 bmm calls ~100x slower. Restores the previous setting. Import it into a test
    module to apply it there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
