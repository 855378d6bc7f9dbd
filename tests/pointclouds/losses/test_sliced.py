import numpy as np
import ot
import pytest
import scipy.stats
import torch

from geomgen.pointclouds.losses import (
    OPTIMIZERS,
    distributional_sliced_wasserstein,
    max_sliced_wasserstein,
    projected_wasserstein,
    random_projections,
    sliced,
    sliced_wasserstein,
    vmf_projections,
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


# --- known answers in 1-D, the optimised direction, the ascent rules -------------------------------------------


@pytest.mark.parametrize("m", [50, 33])
def test_one_dimensional_sliced_and_max_sliced_equal_exact_w2(m):
    g = torch.Generator().manual_seed(10)
    x, y = torch.randn(2, 50, 1, generator=g, dtype=torch.float64), 2 * torch.rand(2, m, 1, generator=g, dtype=torch.float64)
    ref = np.array([ot.wasserstein_1d(x[i, :, 0].numpy(), y[i, :, 0].numpy(), p=2) ** 0.5 for i in range(2)])
    assert np.allclose(sliced_wasserstein(x, y, n_projections=3).numpy(), ref, atol=1e-12)
    value, direction = max_sliced_wasserstein(x, y, n_iters=3, return_direction=True)
    assert np.allclose(value.numpy(), ref, atol=1e-12) and torch.equal(direction.abs(), torch.ones(2, 1, dtype=torch.float64))


def test_max_sw_returned_direction_is_unit_and_achieves_the_value(dtype):
    x, y = _clouds(dtype)
    for optimizer in OPTIMIZERS:
        value, theta = max_sliced_wasserstein(x, y, n_iters=20, optimizer=optimizer, return_direction=True)
        assert theta.shape == (3, 3) and theta.dtype == dtype and not theta.requires_grad
        assert torch.allclose(theta.norm(dim=-1), torch.ones(3, dtype=dtype), atol=TOL[dtype])
        again = projected_wasserstein(x, y, theta.unsqueeze(1)).squeeze(-1).sqrt()
        assert torch.allclose(again, value, rtol=TOL[dtype])
    assert torch.equal(max_sliced_wasserstein(x, y, n_iters=5, init=theta), max_sliced_wasserstein(x, y, n_iters=5, init=theta))


def test_vdsw_returned_location_is_unit_and_gives_the_value(dtype):
    x, y = _clouds(dtype)
    value, loc = distributional_sliced_wasserstein(
        x, y, n_projections=20, n_iters=10, generator=torch.Generator().manual_seed(11), return_direction=True
    )
    assert value.shape == (3,) and loc.shape == (3, 3) and loc.dtype == dtype
    assert torch.allclose(loc.norm(dim=-1), torch.ones(3, dtype=dtype), atol=TOL[dtype])
    # with no ascent steps the location is the (normalised) start and the value uses vMF samples around it
    v0, loc0 = distributional_sliced_wasserstein(
        x, y, n_projections=20, n_iters=0, init=2 * loc, generator=torch.Generator().manual_seed(12), return_direction=True
    )
    assert torch.allclose(loc0, loc, atol=TOL[dtype])
    theta = vmf_projections(loc, 10.0, 20, generator=torch.Generator().manual_seed(12))
    assert torch.allclose(v0, projected_wasserstein(x, y, theta).mean(-1).sqrt(), rtol=TOL[dtype])


def test_ascent_prepares_the_detached_clouds_once(monkeypatch):
    """The T ascent steps re-project prepared clouds: no per-step transposed copies, and the same
    iterates as the straightforward loop that calls projected_wasserstein at every step."""
    x, y = _clouds(torch.float64)
    init = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    theta = sliced._normalise(init.expand(3, -1))
    for _ in range(7):
        theta.requires_grad_(True)
        (grad,) = torch.autograd.grad(projected_wasserstein(x, y, theta.unsqueeze(1)).sum(), theta)
        theta = sliced._normalise(theta.detach() + 0.5 * grad)
    _, ours = max_sliced_wasserstein(x, y, n_iters=7, lr=0.5, init=init, return_direction=True, optimizer="projected")
    assert torch.allclose(ours, theta, atol=1e-12)

    calls = []
    real = sliced._points_last
    monkeypatch.setattr(sliced, "_points_last", lambda c: calls.append(1) or real(c))
    counts = []
    for n_iters in (1, 10):
        calls.clear()
        max_sliced_wasserstein(x, y, n_iters=n_iters)
        distributional_sliced_wasserstein(x, y, n_iters=n_iters, n_projections=4)
        counts.append(len(calls))
    assert counts[0] == counts[1] == 8  # per function: 2 before the ascent, 2 for the returned value


def test_adam_rule_barely_moves_the_direction_at_the_official_step_size():
    x, y = _clouds(torch.float64)
    init = random_projections(3, 3, generator=torch.Generator().manual_seed(13), like=x)
    v_adam, th_adam = max_sliced_wasserstein(x, y, optimizer="adam", init=init, return_direction=True)  # lr 1e-4, T = 50
    v_proj, th_proj = max_sliced_wasserstein(x, y, init=init, return_direction=True)  # projected, lr 1
    moved = torch.rad2deg(torch.arccos((th_adam * init).sum(-1).clamp(-1, 1)))
    assert torch.all(moved > 0) and torch.all(moved < 1.0)  # Adam steps are ~lr per coordinate: <= 50 * 1e-4 * sqrt(3) rad
    assert torch.all(v_proj >= v_adam)
    _, loc = distributional_sliced_wasserstein(x, y, optimizer="adam", concentration=1.0, n_projections=8, init=init,
                                               return_direction=True)  # fmt: skip
    assert torch.all(torch.rad2deg(torch.arccos((loc * init).sum(-1).clamp(-1, 1))) < 1.0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        max_sliced_wasserstein(x, y, optimizer="sgd")
    with pytest.raises(ValueError, match="lr must be > 0"):
        distributional_sliced_wasserstein(x, y, lr=0.0)


# --- input checks: dtypes, devices, channels-first clouds ------------------------------------------------------


def test_dtype_and_device_mismatches_raise_naming_both():
    x = torch.zeros(2, 10, 3, dtype=torch.float64)
    for fn in (sliced_wasserstein, max_sliced_wasserstein, distributional_sliced_wasserstein):
        with pytest.raises(ValueError, match=r"torch\.float64 and torch\.float32.*\(2, 10, 3\).*\(2, 12, 3\)"):
            fn(x, torch.zeros(2, 12, 3, dtype=torch.float32))
        with pytest.raises(ValueError, match=r"cpu and meta"):
            fn(x, torch.zeros(2, 10, 3, dtype=torch.float64, device="meta"))
    with pytest.raises(ValueError, match=r"projections \(torch\.float32, cpu\) must match x \(torch\.float64, cpu\)"):
        sliced_wasserstein(x, x, projections=torch.eye(3))


def test_channels_first_clouds_raise_with_the_fix():
    g = torch.Generator().manual_seed(14)
    x, y = torch.randn(2, 50, 3, generator=g), torch.randn(2, 50, 3, generator=g)
    with pytest.raises(ValueError, match=r"x has more coordinates per point \(50\) than points \(3\).*x\.transpose\(1, 2\)"):
        sliced_wasserstein(x.transpose(1, 2), y.transpose(1, 2))
    with pytest.raises(ValueError, match=r"\(2, 50, 3\) and y \(2, 3, 50\).*transpose\(1, 2\)"):
        max_sliced_wasserstein(x, y.transpose(1, 2))
    # as many points as coordinates is a cloud, and the fix gives the same value as the [B, N, 3] input
    assert sliced_wasserstein(x[:, :3], y[:, :3]).shape == (2,)
    theta = random_projections(5, 3, generator=g)
    assert torch.equal(sliced_wasserstein(x.transpose(1, 2).transpose(1, 2), y, projections=theta),
                       sliced_wasserstein(x, y, projections=theta))  # fmt: skip


def test_single_direction_projection_matches_bmm_at_any_thread_count(dtype):
    """Max-SW's ascent projects on one direction with element-wise ops when torch has several threads."""
    x, _ = _clouds(dtype)
    xt = sliced._points_last(x)
    theta = random_projections(3, 3, generator=torch.Generator().manual_seed(15), like=x).unsqueeze(1).requires_grad_(True)
    ref = torch.bmm(theta, xt)
    (g_ref,) = torch.autograd.grad(ref.square().sum(), theta)
    torch.set_num_threads(2)  # the autouse fixture restores the setting
    ours = sliced._project(theta, xt)
    (g_ours,) = torch.autograd.grad(ours.square().sum(), theta)
    assert torch.allclose(ours, ref, rtol=TOL[dtype], atol=TOL[dtype]) and torch.allclose(g_ours, g_ref, rtol=TOL[dtype])
    several = max_sliced_wasserstein(x, x.flip(1) + 0.5, n_iters=5, init=theta[:, 0].detach())
    torch.set_num_threads(1)
    assert torch.allclose(several, max_sliced_wasserstein(x, x.flip(1) + 0.5, n_iters=5, init=theta[:, 0].detach()), rtol=10 * TOL[dtype])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize(
    "distance",
    [sliced_wasserstein, lambda x, y: max_sliced_wasserstein(x, y, n_iters=2),
     lambda x, y: distributional_sliced_wasserstein(x, y, n_projections=4, n_iters=2),
     lambda x, y: projected_wasserstein(x, y, random_projections(4, 3, like=x))],
    ids=["sw", "max_sw", "vdsw", "projected"],
)  # fmt: skip
def test_non_finite_coordinates_are_refused(distance, which, bad):
    """Issue 25, S4: one NaN or inf coordinate made the distance of that cloud exactly 0.0."""
    x, y = _clouds(torch.float64)
    (x if which == "x" else y)[1, 5, 2] = bad
    with pytest.raises(ValueError, match=rf"{which} \(3, 40, 3\) holds 1 non-finite value\(s\) \(NaN or inf\)"):
        distance(x, y)


def _small_gap_pair():
    """Clouds a few hundredths apart (a late reconstruction): W_p^p of order 1e-3, so its
    gradient in the direction is small and a rule whose step scales with it barely moves."""
    g = torch.Generator().manual_seed(11)
    x = 0.3 * torch.randn(1, 512, 3, generator=g, dtype=torch.float64)
    y = x @ torch.diag(torch.tensor([1.12, 1.0, 0.97], dtype=torch.float64)) + 0.01 * torch.randn(1, 512, 3, generator=g, dtype=torch.float64)
    return x, y


def test_normalized_ascent_finds_max_sw_where_scaled_steps_stall():
    from geomgen.pointclouds.losses.sliced import projected_wasserstein, random_projections

    x, y = _small_gap_pair()
    theta = random_projections(20000, 3, generator=torch.Generator().manual_seed(1), like=x)
    brute = projected_wasserstein(x, y, theta).max().sqrt()
    sw = sliced_wasserstein(x, y, n_projections=4000, generator=torch.Generator().manual_seed(2))
    # 72 degrees from the best direction (e1), in its basin: W_2 of these Gaussian-like clouds is
    # about 0.3 |(1.2544 t1^2 + t2^2 + 0.9409 t3^2)^(1/2) - 1|, so e3 is a second, lower local maximum
    init = torch.tensor([0.3, 0.9, 0.3], dtype=torch.float64)
    ours = max_sliced_wasserstein(x, y, n_iters=50, init=init)  # the default: "normalized"
    assert torch.all(ours >= 0.99 * brute) and torch.all(ours <= 1.001 * brute)
    # negative controls: the scale-dependent rules at their defaults move the direction too little
    for rule in ("projected", "adam"):
        stalled = max_sliced_wasserstein(x, y, n_iters=50, init=init, optimizer=rule)
        assert torch.all(stalled < 0.8 * brute), rule
    # v-DSW (kappa 10) climbs well above SW with it, and stays near SW with projected steps
    g = torch.Generator().manual_seed(3)
    v = distributional_sliced_wasserstein(x, y, n_projections=1000, n_iters=50, init=init, generator=g)
    v_proj = distributional_sliced_wasserstein(x, y, n_projections=1000, n_iters=50, init=init, generator=g, optimizer="projected")
    assert torch.all(v > 1.3 * sw) and torch.all(v < brute)
    assert torch.all(v_proj < 1.15 * sw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_cpu_sort_matches_torch_sort_in_values_and_gradient(dtype):
    from geomgen.pointclouds.losses.sliced import _sorted_last

    g = torch.Generator().manual_seed(0)
    t = torch.randn(3, 5, 64, generator=g, dtype=dtype, requires_grad=True)
    w = torch.randn(3, 5, 64, generator=g, dtype=dtype)
    ours = _sorted_last(t)
    ref = t.sort(dim=-1).values
    assert torch.equal(ours, ref)
    (g_ours,) = torch.autograd.grad((ours * w).sum(), t)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), t)
    assert torch.equal(g_ours, g_ref)
    with torch.inference_mode():  # the training system's validation runs here
        assert torch.equal(_sorted_last(t.detach()), ref.detach())


def test_the_cpu_sort_puts_nans_last_and_falls_back_to_torch_on_many_threads(monkeypatch):
    from geomgen.pointclouds.losses import sliced

    t = torch.tensor([[3.0, float("nan"), -1.0, 2.0]])
    out = sliced._sorted_last(t)
    assert torch.equal(out[:, :3], torch.tensor([[-1.0, 2.0, 3.0]])) and torch.isnan(out[0, 3])
    calls = []
    argsort = np.argsort
    monkeypatch.setattr(sliced.np, "argsort", lambda *a, **k: calls.append(1) or argsort(*a, **k))
    sliced._sorted_last(t)
    assert calls == [1]
    monkeypatch.setattr(sliced.torch, "get_num_threads", lambda: sliced.NUMPY_SORT_MAX_THREADS + 1)
    assert torch.equal(sliced._sorted_last(torch.tensor([[2.0, 1.0]])), torch.tensor([[1.0, 2.0]])) and calls == [1]


def test_torch_sort_switches_the_numpy_path_off_inside_and_back_on_after(monkeypatch):
    from geomgen.pointclouds.losses import sliced

    assert sliced.projection_sort() == "numpy"  # the suite runs at few threads
    calls, argsort = [], np.argsort
    monkeypatch.setattr(sliced.np, "argsort", lambda *a, **k: calls.append(1) or argsort(*a, **k))
    t = torch.tensor([[2.0, 1.0, 3.0]])
    with sliced.torch_sort():
        assert sliced.projection_sort() == "torch"
        assert torch.equal(sliced._sorted_last(t), torch.tensor([[1.0, 2.0, 3.0]])) and calls == []
    assert sliced.projection_sort() == "numpy" and torch.equal(sliced._sorted_last(t), torch.tensor([[1.0, 2.0, 3.0]]))
    assert calls == [1]
