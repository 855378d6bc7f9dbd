import numpy as np
import ot
import pytest
import torch

from geomgen.pointclouds.losses import (
    EnergyBasedSlicedWassersteinLoss,
    energy_based_sliced_wasserstein,
    energy_weights,
    max_sliced_wasserstein,
    projected_wasserstein,
    random_projections,
    sliced_wasserstein,
)
from tests.conftest import TOL
from tests.pointclouds.losses.properties import assert_rotation_invariant, assert_symmetric, assert_zero_on_identical


def _clouds(dtype, n=40, m=40, b=3, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g, dtype=dtype)
    y = torch.randn(b, m, 3, generator=g, dtype=dtype) * torch.tensor([2.0, 1.0, 0.5], dtype=dtype) + 0.3
    return scale * x, scale * y


def _theta(like, n=30, seed=1):
    return random_projections(n, 3, generator=torch.Generator().manual_seed(seed), like=like)


@pytest.mark.parametrize("m", [40, 27])
@pytest.mark.parametrize("p", [1, 2])
def test_ebsw_matches_pot_projected_distances_with_softmax_weights(dtype, m, p):
    """Known answer: POT's exact 1-D W_p^p on every direction, weighted by their softmax."""
    x, y = _clouds(dtype, m=m)
    theta = _theta(x)
    ours = energy_based_sliced_wasserstein(x, y, projections=theta, p=p)
    th = theta.double().numpy()
    for i in range(len(x)):
        w = np.array([ot.wasserstein_1d(x[i].double().numpy() @ t, y[i].double().numpy() @ t, p=p) for t in th])
        weights = np.exp(w - w.max()) / np.exp(w - w.max()).sum()
        assert np.isclose(ours[i].double().item(), (weights @ w) ** (1 / p), rtol=10 * TOL[dtype], atol=TOL[dtype])
    # the polynomial energy of degree 1: weights w_l / sum w_j, so EBSW_p^p = sum w^2 / sum w
    wpp = projected_wasserstein(x, y, theta, p=p)
    poly = energy_based_sliced_wasserstein(x, y, projections=theta, p=p, energy="poly")
    assert torch.allclose(poly, ((wpp**2).sum(-1) / wpp.sum(-1)) ** (1 / p), rtol=10 * TOL[dtype])


def test_translated_clouds_known_answer():
    """y = x + t: every projected W_2^2 is <theta, t>^2 exactly, so EBSW_2^2 = sum softmax(a) a with a_l = <theta_l, t>^2;
    it lies between SW and |t| = W_2 = Max-SW."""
    x, _ = _clouds(torch.float64, b=2)
    t = torch.tensor([1.5, -0.5, 1.0], dtype=torch.float64)
    theta = _theta(x, n=200)
    a = (theta @ t) ** 2
    expected = (torch.softmax(a, 0) * a).sum().sqrt()
    ours = energy_based_sliced_wasserstein(x, x + t, projections=theta)
    assert torch.allclose(ours, expected.expand(2), rtol=1e-10)
    sw = sliced_wasserstein(x, x + t, projections=theta)
    assert torch.all(sw < ours) and torch.all(ours < t.norm())
    # for a large translation the exp weights concentrate on the best directions: EBSW -> Max-SW
    big = energy_based_sliced_wasserstein(x, x + 4 * t, projections=theta)
    assert torch.all(big > 0.95 * 4 * t.norm())


def test_one_dimensional_ebsw_is_exact_wasserstein():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(2, 50, 1, generator=g, dtype=torch.float64), 2 * torch.rand(2, 33, 1, generator=g, dtype=torch.float64)
    ref = [ot.wasserstein_1d(x[i, :, 0].numpy(), y[i, :, 0].numpy(), p=2) ** 0.5 for i in range(2)]
    assert np.allclose(energy_based_sliced_wasserstein(x, y, n_projections=7).numpy(), ref, atol=1e-12)


def test_ebsw_lies_between_sw_and_max_sw(dtype):
    """Weights that increase with the projected distance: SW <= EBSW <= the largest projected distance <= Max-SW."""
    x, y = _clouds(dtype, scale=2.0)  # large enough distances for the exp weights to be far from uniform
    theta = _theta(x, n=50)
    sw = sliced_wasserstein(x, y, projections=theta)
    wpp = projected_wasserstein(x, y, theta)
    for energy in ("exp", "poly"):
        ebsw = energy_based_sliced_wasserstein(x, y, projections=theta, energy=energy)
        assert torch.all(ebsw >= sw * (1 - TOL[dtype])) and torch.all(ebsw > 1.01 * sw)
        assert torch.all(ebsw <= wpp.amax(-1).sqrt() * (1 + TOL[dtype]))
    init = theta[wpp.argmax(-1)]  # Max-SW's ascent from the best of these directions
    max_sw = max_sliced_wasserstein(x, y, n_iters=30, lr=0.05, init=init)
    assert torch.all(ebsw <= max_sw * (1 + TOL[dtype]))
    # a higher power concentrates the weights: closer to the maximum
    steep = energy_based_sliced_wasserstein(x, y, projections=theta, energy="poly", power=8.0)
    assert torch.all(steep > ebsw)


def test_properties_zero_symmetry_invariances_gradients(dtype):
    x, y = _clouds(dtype)
    theta = _theta(x)
    fn = lambda a, b: energy_based_sliced_wasserstein(a, b, projections=theta)  # noqa: E731
    assert_zero_on_identical(fn, x, atol=TOL[dtype])
    assert_zero_on_identical(lambda a, b: energy_based_sliced_wasserstein(a, b, projections=theta, energy="poly"), x, atol=TOL[dtype])
    assert_symmetric(fn, x, y, rtol=10 * TOL[dtype])
    shift = torch.tensor([0.7, -2.0, 0.1], dtype=dtype)
    assert torch.allclose(fn(x + shift, y + shift), fn(x, y), rtol=100 * TOL[dtype])
    if dtype == torch.float64:
        assert_rotation_invariant(lambda a, b, r: energy_based_sliced_wasserstein(a, b, projections=theta @ r.T), x, y)
    # gradients reach both clouds, finite also at identical inputs; detached weights change them
    xr, yr = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    gx, gy = torch.autograd.grad(fn(xr, yr).sum(), (xr, yr))
    assert torch.isfinite(gx).all() and torch.isfinite(gy).all() and gx.abs().sum() > 0
    (gd,) = torch.autograd.grad(energy_based_sliced_wasserstein(xr, yr, projections=theta, detach_weights=True).sum(), xr)
    assert not torch.allclose(gd, gx)
    (g0,) = torch.autograd.grad(energy_based_sliced_wasserstein(xr, x, projections=theta, energy="poly").sum(), xr)
    assert torch.isfinite(g0).all()


def test_batched_equals_per_sample_and_generator_determinism(dtype):
    x, y = _clouds(dtype, m=27)
    theta = _theta(x)
    batched = energy_based_sliced_wasserstein(x, y, projections=theta)
    single = torch.cat([energy_based_sliced_wasserstein(x[i : i + 1], y[i : i + 1], projections=theta) for i in range(3)])
    assert torch.allclose(batched, single, rtol=TOL[dtype])
    a = energy_based_sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, energy_based_sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(5)))


def test_energy_weights_normalised_and_checked():
    w = torch.tensor([[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    for energy in ("exp", "poly"):
        out = energy_weights(w, energy)
        assert torch.allclose(out.sum(-1), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(energy_weights(w, "poly")[1], torch.full((3,), 1 / 3, dtype=torch.float64))
    x, y = _clouds(torch.float64)
    with pytest.raises(ValueError, match="energy must be one of"):
        energy_based_sliced_wasserstein(x, y, energy="cubic")
    with pytest.raises(ValueError, match="power must be > 0"):
        energy_based_sliced_wasserstein(x, y, energy="poly", power=0.0)
    with pytest.raises(ValueError, match="n_projections must be >= 1"):
        energy_based_sliced_wasserstein(x, y, n_projections=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("which", ["x", "y"])
def test_non_finite_coordinates_are_refused(which, bad):
    x, y = _clouds(torch.float64)
    (x if which == "x" else y)[1, 5, 2] = bad
    with pytest.raises(ValueError, match=rf"{which} \(3, 40, 3\) holds 1 non-finite value\(s\) \(NaN or inf\)"):
        energy_based_sliced_wasserstein(x, y)


def test_module_is_the_function():
    x, y = _clouds(torch.float64)
    loss = EnergyBasedSlicedWassersteinLoss(n_projections=16, energy="poly", power=2.0)
    torch.manual_seed(0)
    a = loss(x, y)
    torch.manual_seed(0)
    assert torch.equal(a, energy_based_sliced_wasserstein(x, y, n_projections=16, energy="poly", power=2.0))
    assert a.shape == (3,)
