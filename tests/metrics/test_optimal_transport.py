import math

import numpy as np
import ot
import pytest
import torch
from scipy import stats
from scipy.optimize import linear_sum_assignment

from geomgen.metrics import circular_wasserstein, wasserstein
from geomgen.metrics.optimal_transport import _circular_w1, _circular_wpp


def test_wasserstein_identical_is_zero(rng):
    x = rng.normal(size=(30, 3))
    assert wasserstein(x, x) == pytest.approx(0.0, abs=1e-12)
    assert wasserstein(torch.tensor(x), torch.tensor(x), p=2) == pytest.approx(0.0, abs=1e-6)


def test_wasserstein_1d_matches_scipy(rng):
    x, y = rng.normal(size=40), rng.normal(1.0, 2.0, size=25)
    a, b = rng.random(40), rng.random(25)
    ref = stats.wasserstein_distance(x, y, a, b)
    assert wasserstein(x, y, a=a, b=b) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("p", [1, 2])
def test_wasserstein_matches_assignment_and_is_symmetric(rng, p):
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(20, 4)) + 0.5
    cost = np.linalg.norm(x[:, None] - y[None], axis=-1) ** p
    r, c = linear_sum_assignment(cost)
    ref = cost[r, c].mean() ** (1 / p)
    assert wasserstein(x, y, p=p) == pytest.approx(ref, rel=1e-9)
    assert wasserstein(y, x, p=p) == pytest.approx(ref, rel=1e-9)


def test_wasserstein_bad_shapes():
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4, 2\)"):
        wasserstein(np.zeros((5, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="a must have shape"):
        wasserstein(np.zeros((5, 3)), np.zeros((4, 3)), a=np.ones(3))


def _circular_w1_bruteforce(u, v, uw=None, vw=None, n_grid=20001, n_alpha=4001):
    """W1 = min_alpha int |F - G - alpha| on a fine grid (circle of circumference 2 pi)."""
    uw = np.full(len(u), 1 / len(u)) if uw is None else uw / uw.sum()
    vw = np.full(len(v), 1 / len(v)) if vw is None else vw / vw.sum()
    uu, vv = np.mod(u, 2 * math.pi), np.mod(v, 2 * math.pi)
    x = np.linspace(0, 2 * math.pi, n_grid)
    F = (uw[None, :] * (uu[None, :] <= x[:, None])).sum(1)
    G = (vw[None, :] * (vv[None, :] <= x[:, None])).sum(1)
    h = F - G
    alphas = np.linspace(h.min(), h.max(), n_alpha)
    vals = np.trapezoid(np.abs(h[None, :] - alphas[:, None]), x, axis=1)
    return vals.min()


def test_circular_wraps_around():
    a, b = np.deg2rad([-179.0]), np.deg2rad([179.0])
    assert circular_wasserstein(a, b) == pytest.approx(np.deg2rad(2.0), abs=1e-12)
    assert circular_wasserstein(np.array([0.1]), np.array([0.1 + 4 * math.pi])) == pytest.approx(0.0, abs=1e-12)
    # the longest distance on the circle is pi
    assert circular_wasserstein(np.array([0.0]), np.array([math.pi])) == pytest.approx(math.pi)


def test_circular_identical_is_zero(rng):
    u = rng.uniform(-math.pi, math.pi, 50)
    assert circular_wasserstein(u, u) == pytest.approx(0.0, abs=1e-12)
    assert circular_wasserstein(u, u + 2 * math.pi) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_circular_matches_exact_formula_and_pot_float64(seed):
    rng = np.random.default_rng(seed)
    u = rng.vonmises(2.0, 3.0, size=37)
    v = np.concatenate([rng.vonmises(-2.5, 10.0, size=20), rng.uniform(-math.pi, math.pi, 9)])
    uw, vw = rng.random(37), rng.random(29)
    ours = circular_wasserstein(u, v, uw, vw)
    assert ours == pytest.approx(_circular_w1_bruteforce(u, v, uw, vw), abs=2e-3)
    pot = 2 * math.pi * ot.wasserstein_circle(np.mod(u / (2 * math.pi), 1), np.mod(v / (2 * math.pi), 1),
                                              uw / uw.sum(), vw / vw.sum(), p=1)
    assert ours == pytest.approx(float(np.squeeze(pot)), abs=1e-9)
    assert circular_wasserstein(v, u, vw, uw) == pytest.approx(ours, abs=1e-12)


def test_circular_rotation_invariant(rng):
    u, v = rng.vonmises(0.0, 2.0, 40), rng.vonmises(1.0, 0.5, 30)
    for c in (0.3, -2.0, math.pi):
        assert circular_wasserstein(u + c, v + c) == pytest.approx(circular_wasserstein(u, v), abs=1e-9)


def test_circular_trans_torsions_float32(rng):
    """POT 0.9.7 is wrong in float32 for mass near +-pi; our result must stay tiny."""
    big = rng.vonmises(math.pi, 20.0, 8000).astype(np.float32)
    sub = big[:100]
    assert circular_wasserstein(sub, big) < 0.05


def test_circular_batched_columns(rng):
    u, v = rng.vonmises(0.0, 2.0, (50, 3)), rng.vonmises(1.0, 2.0, (60, 3))
    out = circular_wasserstein(u, v)
    assert out.shape == (3,)
    for t in range(3):
        assert out[t] == pytest.approx(circular_wasserstein(u[:, t], v[:, t]))


def test_circular_p2_bounds(rng):
    u, v = rng.vonmises(0.0, 2.0, 50), rng.vonmises(2.0, 2.0, 60)
    w1, w2 = circular_wasserstein(u, v, p=1), circular_wasserstein(u, v, p=2)
    assert w2 >= w1 - 1e-9  # Jensen
    assert circular_wasserstein(u, u, p=2) == pytest.approx(0.0, abs=1e-6)


def test_circular_bad_input():
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        circular_wasserstein(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="empty"):
        circular_wasserstein(np.zeros(0), np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        circular_wasserstein(np.array([np.nan]), np.zeros(3))


def test_circular_p2_point_masses():
    # two point masses 1 rad apart: every W_p equals 1
    assert circular_wasserstein(np.array([0.2]), np.array([1.2]), p=2) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_ot_metrics_reject_non_finite_inputs(bad):
    """Issue 25, S4: one NaN or inf coordinate gave a finite distance (e.g. 0.0)."""
    x, y = np.zeros((6, 3)), np.ones((5, 3))
    x[2, 1] = bad
    with pytest.raises(ValueError, match=r"^wasserstein: x has 1 non-finite value\(s\)"):
        wasserstein(x, y)
    with pytest.raises(ValueError, match=r"^wasserstein: y has 1 non-finite value\(s\)"):
        wasserstein(y, torch.tensor(x), p=2)
    with pytest.raises(ValueError, match=r"^wasserstein: b has 1 non-finite value\(s\)"):
        wasserstein(y, np.ones((6, 3)), b=np.where(np.arange(6) == 2, bad, 1.0))
    u = np.linspace(-3, 3, 7)
    u[[1, 4]] = bad
    for p in (1, 2):
        with pytest.raises(ValueError, match=r"^circular_wasserstein: u has 2 non-finite value\(s\)"):
            circular_wasserstein(u, np.zeros(4), p=p)
        with pytest.raises(ValueError, match=r"^circular_wasserstein: v has 2 non-finite value\(s\)"):
            circular_wasserstein(np.zeros((4, 1)), u[:, None], p=p)
        with pytest.raises(ValueError, match=r"^circular_wasserstein: u_weights has 2 non-finite value\(s\)"):
            circular_wasserstein(np.zeros(7), np.zeros(4), u_weights=u, p=p)


def _circular_lp(u, v, uw, vw, p):
    """W_p by its definition: the exact linear program with the geodesic cost (radians)."""
    d = np.abs(np.mod(u, 2 * math.pi)[:, None] - np.mod(v, 2 * math.pi)[None])
    d = np.minimum(d, 2 * math.pi - d)
    return float(ot.emd2(uw / uw.sum(), vw / vw.sum(), d**p, numItermax=10**7)) ** (1 / p)


def _circular_wp_shift_search(u, v, uw, vw, p, n_t=4000, n_theta=801):
    """W_p^p on the unit-circumference circle by brute force: inf over the shift theta of
    int_0^1 |F^-1(t) - G^-1(t + theta)|^p dt (G^-1(s + 1) = G^-1(s) + 1), the integral by a midpoint
    rule on a fine t grid, theta by a dense grid and then a bounded local refinement."""
    from scipy.optimize import minimize_scalar

    x, y = np.mod(u / (2 * math.pi), 1), np.mod(v / (2 * math.pi), 1)
    ox, oy = np.argsort(x), np.argsort(y)
    cx, cy = np.cumsum(uw[ox]) / uw.sum(), np.cumsum(vw[oy]) / vw.sum()
    t = (np.arange(n_t) + 0.5) / n_t
    fq = x[ox][np.minimum(np.searchsorted(cx, t), len(x) - 1)]

    def phi(theta):
        s = t + theta
        k = np.floor(s)
        gq = y[oy][np.minimum(np.searchsorted(cy, s - k), len(y) - 1)] + k
        return np.mean(np.abs(fq - gq) ** p)

    grid = np.linspace(-1, 1, n_theta)
    best = grid[np.argmin([phi(th) for th in grid])]
    step = grid[1] - grid[0]
    res = minimize_scalar(phi, bounds=(best - step, best + step), method="bounded", options={"xatol": 1e-10})
    return min(res.fun, phi(best))


@pytest.mark.parametrize("seed", [10, 12, 15, 0, 1])
def test_circular_p2_is_exact_in_both_argument_orders(seed):
    """Issue 25: POT 0.9.7's wasserstein_circle (float64, p = 2) returned about 1 - W for these
    von Mises pairs in one argument order (seeds 10, 12, 15: 0.80, 0.78, 1.00 for 0.049, 0.105, 0.201)."""
    rng = np.random.default_rng(seed)
    u = rng.vonmises(rng.uniform(-3, 3), rng.uniform(0.5, 10), 120)
    v = rng.vonmises(rng.uniform(-3, 3), rng.uniform(0.5, 10), 90)
    ref = _circular_lp(u, v, np.ones(120), np.ones(90), 2) / (2 * math.pi)
    assert circular_wasserstein(u, v, p=2) / (2 * math.pi) == pytest.approx(ref, abs=1e-9)
    assert circular_wasserstein(v, u, p=2) / (2 * math.pi) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("p", [1.5, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_circular_wp_matches_brute_force_shift_search_and_lp(seed, p):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 9, 2)
    u = rng.vonmises(rng.uniform(-3, 3), rng.uniform(0.5, 5), n)
    v = rng.vonmises(rng.uniform(-3, 3), rng.uniform(0.5, 5), m)
    uw, vw = rng.random(n) + 0.1, rng.random(m) + 0.1
    ours = circular_wasserstein(u, v, uw, vw, p=p)
    assert circular_wasserstein(v, u, vw, uw, p=p) == pytest.approx(ours, abs=1e-10)
    assert ours == pytest.approx(_circular_lp(u, v, uw, vw, p), abs=1e-9)
    brute = _circular_wp_shift_search(u, v, uw, vw, p) ** (1 / p) * 2 * math.pi
    assert ours == pytest.approx(brute, abs=2e-3)


def test_circular_general_p_at_p1_is_the_w1_formula(rng):
    """The shift search at p = 1 agrees with the median formula that p = 1 uses."""
    for _ in range(5):
        u, v = np.mod(rng.vonmises(0.0, 2.0, 40) / (2 * math.pi), 1), np.mod(rng.vonmises(2.0, 1.0, 33) / (2 * math.pi), 1)
        uw, vw = rng.random(40), rng.random(33)
        uw, vw = uw / uw.sum(), vw / vw.sum()
        assert _circular_wpp(u, v, uw, vw, 1.0) == pytest.approx(_circular_w1(u, v, uw, vw), abs=1e-12)
