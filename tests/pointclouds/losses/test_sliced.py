import numpy as np
import ot
import pytest
import scipy.stats
import torch

from geomgen.pointclouds.losses import (
    distributional_sliced_wasserstein,
    max_sliced_wasserstein,
    projected_wasserstein,
    random_projections,
    sliced_wasserstein,
)
from tests.conftest import TOL
from tests.pointclouds.losses.properties import assert_rotation_invariant, assert_symmetric, assert_zero_on_identical


def _clouds(dtype, n=40, m=40, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g, dtype=dtype)
    y = torch.randn(b, m, 3, generator=g, dtype=dtype) * torch.tensor([2.0, 1.0, 0.5], dtype=dtype) + 0.3
    return x, y


@pytest.mark.parametrize("m", [40, 27])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_sw_matches_pot_with_given_projections(dtype, m, p):
    x, y = _clouds(dtype, m=m)
    theta = random_projections(30, 3, generator=torch.Generator().manual_seed(1), like=x)
    ours = sliced_wasserstein(x, y, projections=theta, p=p)
    ref = [
        ot.sliced_wasserstein_distance(x[i].double().numpy(), y[i].double().numpy(), projections=theta.double().numpy().T, p=p)
        for i in range(len(x))
    ]
    assert ours.shape == (3,) and ours.dtype == dtype
    assert np.allclose(ours.double().numpy(), ref, rtol=10 * TOL[dtype], atol=TOL[dtype])


def test_one_dimensional_sw_is_exact_w1():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 50, 1, generator=g, dtype=torch.float64), torch.rand(2, 33, 1, generator=g, dtype=torch.float64)
    ours = sliced_wasserstein(x, y, n_projections=5, p=1)  # every direction of S^0 is +-1
    ref = [scipy.stats.wasserstein_distance(x[i, :, 0], y[i, :, 0]) for i in range(2)]
    assert np.allclose(ours.numpy(), ref, atol=1e-12)


def test_zero_on_identical_and_finite_gradient(dtype):
    x, _ = _clouds(dtype)
    kw = dict(n_iters=3)
    for fn in (
        lambda a, b: sliced_wasserstein(a, b),
        lambda a, b: max_sliced_wasserstein(a, b, **kw),
        lambda a, b: distributional_sliced_wasserstein(a, b, **kw),
    ):
        assert_zero_on_identical(fn, x)
        xr = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(xr, x).sum(), xr)
        assert torch.isfinite(g).all()


def test_symmetric(dtype):
    x, y = _clouds(dtype)
    theta = random_projections(20, 3, generator=torch.Generator().manual_seed(2), like=x)
    assert_symmetric(lambda a, b: sliced_wasserstein(a, b, projections=theta), x, y, rtol=TOL[dtype])
    init = theta[0]
    assert_symmetric(lambda a, b: max_sliced_wasserstein(a, b, n_iters=5, init=init), x, y, rtol=1e-3)


def test_rotation_invariance():
    x, y = _clouds(torch.float64)
    theta = random_projections(20, 3, generator=torch.Generator().manual_seed(3), like=x)
    init = torch.tensor([0.0, 0.6, 0.8], dtype=torch.float64)
    # SW with the directions rotated along with the clouds is unchanged (so is its law)
    assert_rotation_invariant(lambda a, b, r: sliced_wasserstein(a, b, projections=theta @ r.T), x, y)
    # the ascent of Max-SW is rotation-equivariant: start from the rotated direction
    assert_rotation_invariant(lambda a, b, r: max_sliced_wasserstein(a, b, n_iters=10, init=init @ r.T), x, y, rtol=1e-6)
    # v-DSW: invariant in law; compare Monte Carlo estimates with many directions
    assert_rotation_invariant(
        lambda a, b, r: distributional_sliced_wasserstein(
            a, b, n_projections=2000, n_iters=5, lr=0.05, init=init @ r.T, generator=torch.Generator().manual_seed(4)
        ),
        x, y, rtol=0.03,
    )  # fmt: skip


def test_max_sw_finds_the_maximum_and_bounds_sw():
    x, y = _clouds(torch.float64, b=2)
    grid = random_projections(20000, 3, generator=torch.Generator().manual_seed(5), like=x)
    brute = projected_wasserstein(x, y, grid).amax(-1).sqrt()
    # the objective has local maxima: start the ascent from the best of 50 random directions
    starts = random_projections(50, 3, generator=torch.Generator().manual_seed(6), like=x)
    init = starts[projected_wasserstein(x, y, starts).argmax(-1)]
    ours = max_sliced_wasserstein(x, y, n_iters=100, lr=0.1, init=init)
    assert torch.all(ours >= 0.995 * brute) and torch.all(ours <= brute * 1.001 + 1e-9)
    assert torch.all(ours >= sliced_wasserstein(x, y, n_projections=200))


def test_vdsw_tends_to_max_sw_and_to_sw():
    x, y = _clouds(torch.float64, b=2)
    # a generic start: at loc == e1 exactly the vMF Householder map gives loc no gradient
    init = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    g = torch.Generator().manual_seed(6)
    # small steps, so both ascents climb to the same local maximum
    max_sw = max_sliced_wasserstein(x, y, n_iters=200, lr=0.05, init=init)
    errs = []
    for kappa in (10.0, 100.0, 1e4):
        v = distributional_sliced_wasserstein(
            x, y, concentration=kappa, n_projections=50, n_iters=200, lr=0.05, init=init, generator=g
        )
        errs.append((v - max_sw).abs().max().item())
    assert errs[-1] < 5e-3 * max_sw.max().item() and errs[0] > errs[1] > errs[-1]
    # kappa = 0: the vMF law is uniform, v-DSW is SW
    v0 = distributional_sliced_wasserstein(x, y, concentration=0.0, n_projections=4000, n_iters=2, generator=g)
    sw = sliced_wasserstein(x, y, n_projections=4000, generator=g)
    assert torch.allclose(v0, sw, rtol=0.03)


def test_generator_makes_calls_deterministic():
    x, y = _clouds(torch.float32)
    a = distributional_sliced_wasserstein(x, y, n_iters=3, generator=torch.Generator().manual_seed(7))
    b = distributional_sliced_wasserstein(x, y, n_iters=3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_inner_ascent_runs_under_inference_mode():
    x, y = _clouds(torch.float32)
    with torch.inference_mode():
        assert max_sliced_wasserstein(x, y, n_iters=3).shape == (3,)
        assert distributional_sliced_wasserstein(x, y, n_iters=3).shape == (3,)


def test_bad_shapes_raise_value_error_quoting_shapes():
    x = torch.zeros(2, 10, 3)
    with pytest.raises(ValueError, match=r"\(2, 10, 3\).*\(3, 10, 3\)"):
        sliced_wasserstein(x, torch.zeros(3, 10, 3))
    with pytest.raises(ValueError, match=r"\(10, 3\)"):
        max_sliced_wasserstein(torch.zeros(10, 3), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="projections"):
        sliced_wasserstein(x, x, projections=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="p must be"):
        sliced_wasserstein(x, x, p=0.5)
