import numpy as np
import ot
import pytest
import torch

from geomgen.pointclouds.losses import (
    CONSTRUCTIONS,
    QuasiSlicedWassersteinLoss,
    quasi_projections,
    quasi_sliced_wasserstein,
    random_rotation,
    sliced_wasserstein,
    sphere_points,
)
from tests.conftest import TOL
from tests.pointclouds.losses.properties import assert_symmetric, assert_zero_on_identical


def _clouds(dtype, n=40, m=40, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g, dtype=dtype)
    y = torch.randn(b, m, 3, generator=g, dtype=dtype) * torch.tensor([2.0, 1.0, 0.5], dtype=dtype) + 0.3
    return x, y


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_point_sets_are_unit_deterministic_and_spread(construction):
    pts = sphere_points(256, construction, like=torch.zeros(0, dtype=torch.float64))
    assert pts.shape == (256, 3) and pts.dtype == torch.float64
    assert torch.allclose(pts.norm(dim=-1), torch.ones(256, dtype=torch.float64), atol=1e-12)
    again = sphere_points(256, construction, like=pts)
    assert torch.equal(pts, again)
    again.zero_()  # the cached set is not aliased
    assert torch.equal(sphere_points(256, construction, like=pts), pts)
    # first and second moments of the uniform law: mean 0, E[theta theta^T] = I / 3
    assert pts.mean(0).norm() < 0.02
    assert (pts.T @ pts / 256 - torch.eye(3, dtype=torch.float64) / 3).abs().max() < 0.01
    # separation: the lattices keep a fraction of the typical spacing sqrt(4 pi / L) ~ 0.22 between any two
    # points (256 uniform points: ~0.015); the Gaussian map of Sobol points does not (0.006)
    dist = torch.cdist(pts, pts) + 10 * torch.eye(256, dtype=torch.float64)
    assert dist.min() > {"fibonacci": 0.15, "spiral": 0.1, "sobol_equal_area": 0.03, "sobol_gaussian": 0.0}[construction]


def test_fibonacci_lattice_is_equal_area_in_height():
    pts = sphere_points(100, "fibonacci", like=torch.zeros(0, dtype=torch.float64))
    # Archimedes: equal areas <-> equal height bands; one point at the middle of each band
    assert torch.allclose(pts[:, 2], 1 - (2 * torch.arange(100, dtype=torch.float64) + 1) / 100, atol=1e-12)


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_qsw_is_sw_on_the_point_set_and_matches_pot(dtype, construction, p):
    x, y = _clouds(dtype, m=27)
    theta = sphere_points(50, construction, like=x)
    ours = quasi_sliced_wasserstein(x, y, n_projections=50, construction=construction, p=p)
    assert torch.allclose(ours, sliced_wasserstein(x, y, projections=theta, p=p), rtol=TOL[dtype])
    ref = [
        ot.sliced_wasserstein_distance(x[i].double().numpy(), y[i].double().numpy(), projections=theta.double().numpy().T, p=p)
        for i in range(len(x))
    ]
    assert np.allclose(ours.double().numpy(), ref, rtol=10 * TOL[dtype], atol=TOL[dtype])


def test_translated_clouds_qmc_beats_monte_carlo():
    """y = x + t: every projected W_2^2 is <theta, t>^2, so SW_2^2 = |t|^2 / 3 exactly. At L = 256 every
    point set (and its random rotations) is within 1 % of it; Monte Carlo is off by ~4 % on average."""
    x, _ = _clouds(torch.float64, b=1, n=64)
    t = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    exact = float(t @ t) / 3
    mc = [float(sliced_wasserstein(x, x + t, n_projections=256, generator=torch.Generator().manual_seed(s)) ** 2) for s in range(40)]
    mc_error = np.mean(np.abs(np.array(mc) / exact - 1))
    assert 0.02 < mc_error < 0.07
    for construction in CONSTRUCTIONS:
        err = abs(float(quasi_sliced_wasserstein(x, x + t, n_projections=256, construction=construction) ** 2) / exact - 1)
        assert err < 0.01 and err < mc_error / 4, (construction, err, mc_error)
        rotated = [
            float(quasi_sliced_wasserstein(x, x + t, n_projections=256, construction=construction, randomize="rotation",
                                           generator=torch.Generator().manual_seed(s)) ** 2)
            for s in range(20)
        ]  # fmt: skip
        assert np.mean(np.abs(np.array(rotated) / exact - 1)) < mc_error / 4
    # the Fibonacci lattice is the most even: ~2e-4 at L = 256
    assert abs(float(quasi_sliced_wasserstein(x, x + t, n_projections=256) ** 2) / exact - 1) < 1e-3


def test_randomized_qsw_is_unbiased():
    """Each rotated point is uniform on the sphere: the mean over rotations of RQSW_2^2 is SW_2^2 = |t|^2 / 3
    (within three standard errors of the mean of 200 draws, while the fixed Sobol equal-area set at L = 16 is
    off by more than 1 %)."""
    x, _ = _clouds(torch.float64, b=1, n=16)
    t = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    exact = float(t @ t) / 3
    g = torch.Generator().manual_seed(0)
    for construction, randomize in (("sobol_equal_area", "rotation"), ("sobol_equal_area", "scramble"), ("sobol_gaussian", "scramble")):
        vals = [float(quasi_sliced_wasserstein(x, x + t, n_projections=16, construction=construction, randomize=randomize, generator=g) ** 2)
                for _ in range(200)]  # fmt: skip
        assert abs(np.mean(vals) / exact - 1) < 3 * np.std(vals) / exact / np.sqrt(200) + 1e-3, (construction, randomize)
    fixed = float(quasi_sliced_wasserstein(x, x + t, n_projections=16, construction="sobol_equal_area") ** 2)
    assert abs(fixed / exact - 1) > 0.01


def test_random_rotation_is_a_rotation():
    g = torch.Generator().manual_seed(1)
    rots = torch.stack([random_rotation(3, generator=g, like=torch.zeros(0, dtype=torch.float64)) for _ in range(500)])
    assert torch.allclose(rots @ rots.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(500, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(rots), torch.ones(500, dtype=torch.float64))
    # Haar: the image of a fixed vector is uniform on the sphere (mean 0, second moment I / 3)
    v = rots[:, :, 0]
    assert v.mean(0).norm() < 0.1 and (v.T @ v / 500 - torch.eye(3, dtype=torch.float64) / 3).abs().max() < 0.06


def test_one_dimensional_qsw_is_exact_wasserstein():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(2, 50, 1, generator=g, dtype=torch.float64), 2 * torch.rand(2, 33, 1, generator=g, dtype=torch.float64)
    ref = [ot.wasserstein_1d(x[i, :, 0].numpy(), y[i, :, 0].numpy(), p=2) ** 0.5 for i in range(2)]
    assert np.allclose(quasi_sliced_wasserstein(x, y, n_projections=8, construction="sobol_gaussian").numpy(), ref, atol=1e-12)


def test_properties_zero_symmetry_translation_gradients_batching(dtype):
    x, y = _clouds(dtype)
    for kw in (dict(), dict(construction="spiral"), dict(randomize="rotation")):

        def fn(a, b, kw=kw):
            return quasi_sliced_wasserstein(a, b, n_projections=64, generator=torch.Generator().manual_seed(2), **kw)

        assert_zero_on_identical(fn, x, atol=TOL[dtype])
        assert_symmetric(fn, x, y, rtol=10 * TOL[dtype])
        shift = torch.tensor([0.7, -2.0, 0.1], dtype=dtype)
        assert torch.allclose(fn(x + shift, y + shift), fn(x, y), rtol=100 * TOL[dtype])
        single = torch.cat([fn(x[i : i + 1], y[i : i + 1]) for i in range(3)])
        assert torch.allclose(fn(x, y), single, rtol=TOL[dtype])
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(quasi_sliced_wasserstein(xr, y).sum(), xr)
    (g0,) = torch.autograd.grad(quasi_sliced_wasserstein(xr, x).sum(), xr)
    assert torch.isfinite(g).all() and g.abs().sum() > 0 and torch.isfinite(g0).all()


def test_bad_arguments_raise():
    x, y = _clouds(torch.float64)
    with pytest.raises(ValueError, match="construction must be one of"):
        quasi_sliced_wasserstein(x, y, construction="halton")
    with pytest.raises(ValueError, match="randomize must be None or one of"):
        quasi_sliced_wasserstein(x, y, randomize="shift")
    with pytest.raises(ValueError, match="needs a Sobol construction"):
        quasi_sliced_wasserstein(x, y, randomize="scramble")
    with pytest.raises(ValueError, match=r"S\^2 \(d = 3\), got d = 5"):
        quasi_sliced_wasserstein(torch.zeros(1, 8, 5), torch.ones(1, 8, 5))
    assert quasi_sliced_wasserstein(torch.zeros(1, 8, 5), torch.ones(1, 8, 5), construction="sobol_gaussian").shape == (1,)
    assert quasi_projections(10, "sobol_gaussian", d=5).shape == (10, 5)
    with pytest.raises(ValueError, match="n_projections must be >= 1"):
        quasi_sliced_wasserstein(x, y, n_projections=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("which", ["x", "y"])
def test_non_finite_coordinates_are_refused(which, bad):
    x, y = _clouds(torch.float64)
    (x if which == "x" else y)[1, 5, 2] = bad
    with pytest.raises(ValueError, match=rf"{which} \(3, 40, 3\) holds 1 non-finite value\(s\) \(NaN or inf\)"):
        quasi_sliced_wasserstein(x, y, randomize="rotation")


def test_module_is_the_function():
    x, y = _clouds(torch.float64)
    loss = QuasiSlicedWassersteinLoss(n_projections=32, construction="sobol_equal_area")
    assert torch.equal(loss(x, y), quasi_sliced_wasserstein(x, y, n_projections=32, construction="sobol_equal_area"))
    rq = QuasiSlicedWassersteinLoss(randomize="rotation")
    assert rq(x, y).shape == (3,) and not torch.equal(rq(x, y), rq(x, y))
