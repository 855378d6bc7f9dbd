import math

import numpy as np
import ot
import pytest
import torch

from geomgen.pointclouds.losses import (
    RandomPathSlicedWassersteinLoss,
    importance_weighted_random_path_sliced_wasserstein,
    projected_wasserstein,
    random_path_projections,
    random_path_sliced_wasserstein,
    sliced_wasserstein,
)
from tests.conftest import TOL
from tests.pointclouds.losses.properties import assert_zero_on_identical


def _clouds(dtype, n=40, m=40, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g, dtype=dtype)
    y = torch.randn(b, m, 3, generator=g, dtype=dtype) * torch.tensor([2.0, 1.0, 0.5], dtype=dtype) + 0.3
    return x, y


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_directions_are_normalised_differences_of_points():
    x, y = _clouds(torch.float64, n=5, m=4, b=2)
    theta = random_path_projections(x, y, 50, generator=_gen(0))
    assert theta.shape == (2, 50, 3) and not theta.requires_grad
    assert torch.allclose(theta.norm(dim=-1), torch.ones(2, 50, dtype=torch.float64), atol=1e-12)
    diffs = x.unsqueeze(2) - y.unsqueeze(1)  # [B, N, M, 3]
    paths = (diffs / diffs.norm(dim=-1, keepdim=True)).flatten(1, 2)  # [B, N M, 3]
    gaps = lambda th: (th.unsqueeze(2) - paths.unsqueeze(1)).norm(dim=-1).amin(-1)  # noqa: E731
    assert gaps(theta).max() < 1e-12  # every direction is one of the N M paths
    # with a perturbation they leave the paths, but stay near them for a large concentration
    gap = gaps(random_path_projections(x, y, 50, concentration=1e4, generator=_gen(0)))
    assert gap.min() > 0 and gap.max() < 0.1
    # identical clouds: the pairs i == j coincide and get uniform directions, still unit vectors
    same = random_path_projections(x, x.clone(), 200, generator=_gen(0))
    assert torch.allclose(same.norm(dim=-1), torch.ones(2, 200, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("p", [1, 2])
def test_rpsw_is_sw_on_its_directions_and_matches_pot(dtype, p):
    x, y = _clouds(dtype, m=27)
    theta = random_path_projections(x, y, 30, concentration=10.0, generator=_gen(1))
    ours = random_path_sliced_wasserstein(x, y, n_projections=30, p=p, generator=_gen(1))
    ref = [
        ot.sliced_wasserstein_distance(x[i].double().numpy(), y[i].double().numpy(), projections=theta[i].double().numpy().T, p=p)
        for i in range(len(x))
    ]
    assert np.allclose(ours.double().numpy(), ref, rtol=10 * TOL[dtype], atol=TOL[dtype])
    # batched == per sample on the same directions
    single = torch.cat([sliced_wasserstein(x[i : i + 1], y[i : i + 1], projections=theta[i], p=p) for i in range(3)])
    assert torch.allclose(ours, single, rtol=TOL[dtype])


def test_one_point_clouds_known_answers():
    """Clouds of one point each (repeated: a cloud has at least d points): the only path is x - y, so without
    perturbation RPSW = IWRPSW = |x - y| = W_p exactly; with vMF(kappa) around it,
    E <theta, u>^2 = 1 - 2 coth(kappa) / kappa + 2 / kappa^2 on S^2."""
    g = _gen(2)
    x, y = torch.randn(4, 1, 3, generator=g, dtype=torch.float64), torch.randn(4, 1, 3, generator=g, dtype=torch.float64)
    dist = (x - y).norm(dim=-1).squeeze(1)
    x, y = x.expand(-1, 3, -1), y.expand(-1, 3, -1)
    for p in (1, 2, 3):
        assert torch.allclose(random_path_sliced_wasserstein(x, y, p=p, concentration=None, n_projections=5), dist, rtol=1e-12)
        assert torch.allclose(importance_weighted_random_path_sliced_wasserstein(x, y, p=p, concentration=None, n_projections=5), dist, rtol=1e-12)
    kappa = 5.0
    m2 = 1 - 2 / (kappa * math.tanh(kappa)) + 2 / kappa**2
    ours = random_path_sliced_wasserstein(x, y, concentration=kappa, n_projections=20000, generator=g)
    assert torch.allclose(ours, dist * math.sqrt(m2), rtol=0.01)


def test_translated_clouds_lean_towards_the_translation():
    """y = x + t: every projected W_2 is |<theta, t>| <= |t| = W_2. Random paths between a tight cloud and its
    translate point along t, so RPSW is close to |t| (to |t| sqrt(E <theta, u>^2) with the vMF perturbation)
    where SW is |t| / sqrt(3)."""
    x, _ = _clouds(torch.float64, b=2)
    x = 0.05 * x
    t = torch.tensor([1.0, -0.5, 0.5], dtype=torch.float64)
    kappa = 10.0
    m2 = 1 - 2 / (kappa * math.tanh(kappa)) + 2 / kappa**2
    for fn in (random_path_sliced_wasserstein, importance_weighted_random_path_sliced_wasserstein):
        exact = fn(x, x + t, concentration=None, n_projections=500, generator=_gen(3))
        assert torch.all(exact <= t.norm() * (1 + 1e-12)) and torch.all(exact > 0.99 * t.norm()), (fn.__name__, exact)
        v = fn(x, x + t, concentration=kappa, n_projections=2000, generator=_gen(3))
        assert torch.all(v <= t.norm()) and torch.all(v > 0.97 * math.sqrt(m2) * t.norm()), (fn.__name__, v)
    v = random_path_sliced_wasserstein(x, x + t, concentration=kappa, n_projections=2000, generator=_gen(3))
    assert torch.allclose(v, math.sqrt(m2) * t.norm().expand(2), rtol=0.03)
    sw = sliced_wasserstein(x, x + t, n_projections=500, generator=_gen(3))
    assert torch.allclose(sw, t.norm() / math.sqrt(3), rtol=0.1)


def test_importance_weights_raise_the_value_on_the_same_directions():
    x, y = _clouds(torch.float64)
    x, y = 2 * x, 2 * y  # distances large enough for the exp weights to matter
    rpsw = random_path_sliced_wasserstein(x, y, n_projections=64, generator=_gen(4))
    iw = importance_weighted_random_path_sliced_wasserstein(x, y, n_projections=64, generator=_gen(4))
    top = projected_wasserstein(x, y, random_path_projections(x, y, 64, concentration=10.0, generator=_gen(4))).amax(-1).sqrt()
    assert torch.all(iw > rpsw) and torch.all(iw <= top * (1 + 1e-12))


def test_properties_zero_symmetry_translation_gradients(dtype):
    x, y = _clouds(dtype)
    for fn in (random_path_sliced_wasserstein, importance_weighted_random_path_sliced_wasserstein):
        assert_zero_on_identical(lambda a, b: fn(a, b, n_projections=16), x, atol=TOL[dtype])  # noqa: B023
        # a common translation leaves the paths, hence the directions and the value, unchanged
        shift = torch.tensor([0.7, -2.0, 0.1], dtype=dtype)
        a = fn(x + shift, y + shift, n_projections=16, generator=_gen(5))
        assert torch.allclose(a, fn(x, y, n_projections=16, generator=_gen(5)), rtol=1e3 * TOL[dtype])
        # gradients reach both clouds (not the directions: they are samples), finite also at identical inputs
        xr, yr = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
        gx, gy = torch.autograd.grad(fn(xr, yr, n_projections=16).sum(), (xr, yr))
        assert torch.isfinite(gx).all() and torch.isfinite(gy).all() and gx.abs().sum() > 0 and gy.abs().sum() > 0
        (g0,) = torch.autograd.grad(fn(xr, x, n_projections=16).sum(), xr)
        assert torch.isfinite(g0).all()
    if dtype == torch.float64:  # symmetric in law: (y, x) draws the paths y - x, the same law up to sign
        ab = random_path_sliced_wasserstein(x, y, n_projections=4000, generator=_gen(6))
        ba = random_path_sliced_wasserstein(y, x, n_projections=4000, generator=_gen(7))
        assert torch.allclose(ab, ba, rtol=0.03)


def test_generator_determinism_inference_mode_and_bad_arguments():
    x, y = _clouds(torch.float32)
    a = importance_weighted_random_path_sliced_wasserstein(x, y, generator=_gen(8))
    assert torch.equal(a, importance_weighted_random_path_sliced_wasserstein(x, y, generator=_gen(8)))
    with torch.inference_mode():
        assert random_path_sliced_wasserstein(x, y).shape == (3,)
    with pytest.raises(ValueError, match="concentration must be >= 0 or None"):
        random_path_sliced_wasserstein(x, y, concentration=-1.0)
    with pytest.raises(ValueError, match="n_projections must be >= 1"):
        importance_weighted_random_path_sliced_wasserstein(x, y, n_projections=0)
    with pytest.raises(ValueError, match="energy must be one of"):
        importance_weighted_random_path_sliced_wasserstein(x, y, energy="log")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize(
    "distance",
    [random_path_sliced_wasserstein, importance_weighted_random_path_sliced_wasserstein, random_path_projections],
    ids=["rpsw", "iwrpsw", "projections"],
)
def test_non_finite_coordinates_are_refused(distance, which, bad):
    x, y = _clouds(torch.float64)
    (x if which == "x" else y)[1, 5, 2] = bad
    with pytest.raises(ValueError, match=rf"{which} \(3, 40, 3\) holds 1 non-finite value\(s\) \(NaN or inf\)"):
        distance(x, y)


def test_module_is_the_function():
    x, y = _clouds(torch.float64)
    for iw, fn in ((False, random_path_sliced_wasserstein), (True, importance_weighted_random_path_sliced_wasserstein)):
        loss = RandomPathSlicedWassersteinLoss(n_projections=16, concentration=None, importance_weighted=iw)
        torch.manual_seed(0)
        a = loss(x, y)
        torch.manual_seed(0)
        assert torch.equal(a, fn(x, y, n_projections=16, concentration=None)) and a.shape == (3,)
