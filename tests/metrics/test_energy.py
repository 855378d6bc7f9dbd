import numpy as np
import pytest
import torch
from scipy import stats

from geomgen.metrics import UStatistic, empirical_energy_expectation, energy_distance, sliced_energy_distance
from geomgen.metrics.energy import _sphere_directions


def _pair_mean(a):
    """Mean of |a_i - a_j| over distinct pairs (1-D)."""
    n = len(a)
    return np.abs(a[:, None] - a[None]).sum() / (n * (n - 1))


def test_matches_scipy_v_statistic_in_1d(rng):
    # scipy's energy_distance is sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|) with the V-statistic (i = i' kept,
    # divided by n^2): V = U + mean_{i != i'}|x_i - x_i'| / n + mean_{j != j'}|y_j - y_j'| / m
    x, y = rng.normal(size=300), rng.normal(0.3, 1.2, size=200)
    u = energy_distance(x, y)
    v = u.value + _pair_mean(x) / len(x) + _pair_mean(y) / len(y)
    assert v == pytest.approx(stats.energy_distance(x, y) ** 2, rel=1e-10)
    assert isinstance(u, UStatistic) and float(u) == u.value and u.se > 0


def test_symmetric_and_accepts_tensors(rng):
    x, y = rng.normal(size=(120, 3)), rng.normal(size=(90, 3)) + 0.5
    a = energy_distance(x, y)
    b = energy_distance(torch.tensor(y), torch.tensor(x))
    assert a.value == pytest.approx(b.value, rel=1e-10)


def test_unbiased_zero_mean_for_one_law_and_calibrated_se():
    # two samples of one law: the U-statistic averages 0 (it is unbiased), and the jackknife
    # standard error matches the spread of the estimates over repeats
    g = np.random.default_rng(1)
    vals, ses = [], []
    for _ in range(300):
        x, y = g.normal(size=(60, 2)), g.normal(size=(50, 2))
        u = energy_distance(x, y, groups=10)
        vals.append(u.value)
        ses.append(u.se)
    vals = np.array(vals)
    assert abs(vals.mean()) < 3 * vals.std(ddof=1) / np.sqrt(len(vals))
    assert (vals < 0).any()  # an unbiased estimate of 0 is negative about half the time
    assert 0.6 < np.mean(ses) / vals.std(ddof=1) < 1.6


def test_positive_for_different_laws():
    g = np.random.default_rng(2)
    x, y = g.normal(size=(400, 3)), g.normal(size=(400, 3)) + [1.0, 0.0, 0.0]
    u = energy_distance(x, y)
    assert u.value > 4 * u.se > 0
    # a known answer: 1-D normals N(0, 1) vs N(mu, 1), E^2 = 2 E|Z*sqrt(2) + mu| - 2 * 2/sqrt(pi)
    mu = 1.0
    e_xy = np.sqrt(2) * np.sqrt(2 / np.pi) * np.exp(-mu**2 / 4) + mu * (1 - 2 * stats.norm.cdf(-mu / np.sqrt(2)))
    truth = 2 * e_xy - 2 * 2 / np.sqrt(np.pi)
    a, b = g.normal(size=3000), g.normal(mu, 1.0, size=3000)
    u = energy_distance(a, b)
    assert abs(u.value - truth) < 4 * u.se


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4, 2\)"):
        energy_distance(np.zeros((5, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        energy_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        energy_distance(np.array([[np.nan, 0.0], [1.0, 1.0]]), np.zeros((4, 2)))


# -- the sliced estimator ------------------------------------------------------------------------


def test_sliced_equals_the_exact_statistic_in_1d(rng):
    # in 1-D every direction is +-1: value and jackknife error are energy_distance's, ties included
    for x, y in [(rng.normal(size=301), rng.normal(0.4, 1.3, size=177)),
                 (rng.integers(0, 5, size=90).astype(float), rng.integers(0, 6, size=70).astype(float))]:
        a, b = energy_distance(x, y, groups=7), sliced_energy_distance(x, y, directions=3, groups=7)
        assert b.value == pytest.approx(a.value, rel=1e-10, abs=1e-13)
        assert b.se == pytest.approx(a.se, rel=1e-8)


def test_sliced_is_the_mean_of_projected_statistics_with_a_joint_jackknife(rng):
    # value: c_D times the mean over the same directions of the exact 1-D U-statistics of the
    # projections (c_3 = 2); error: delete group g of both samples and of the directions, by brute force
    x, y = rng.normal(size=(80, 3)), rng.normal(size=(70, 3)) * 1.3 + 0.2
    k, g = 10, 5
    theta = _sphere_directions(k, 3, seed=4).numpy()
    u = sliced_energy_distance(x, y, directions=k, groups=g, seed=4)
    per = np.array([energy_distance(x @ t, y @ t, groups=g).value for t in theta])
    assert u.value == pytest.approx(2 * per.mean(), rel=1e-10)
    gx, gy, gd = np.arange(80) * g // 80, np.arange(70) * g // 70, np.arange(k) * g // k
    loo = np.array([2 * np.mean([energy_distance(x[gx != h] @ t, y[gy != h] @ t).value for t in theta[gd != h]])
                    for h in range(g)])
    assert u.se == pytest.approx(np.sqrt((g - 1) / g * ((loo - loo.mean()) ** 2).sum()), rel=1e-8)


def test_sliced_directions_are_uniform_and_orthonormal_in_frames():
    t = _sphere_directions(4000, 3, seed=1)
    assert torch.allclose(t.norm(dim=1), torch.ones(4000, dtype=t.dtype))
    frame = t[:3]
    assert torch.allclose(frame @ frame.T, torch.eye(3, dtype=t.dtype), atol=1e-12)
    assert torch.allclose(t.T @ t / 4000, torch.eye(3, dtype=t.dtype) / 3, atol=0.02)  # E[theta theta^T] = I / D
    assert torch.equal(_sphere_directions(7, 3, seed=1), t[:7])  # a seed fixes the directions


def test_sliced_converges_to_the_exact_energy_distance_over_directions(rng):
    # on fixed samples the only error left is the choice of directions
    x, y = rng.normal(size=(300, 4)), rng.normal(size=(250, 4)) * [1.5, 1.0, 1.0, 0.7]
    exact = energy_distance(x, y).value
    assert sliced_energy_distance(x, y, directions=4000).value == pytest.approx(exact, rel=0.02)
    assert sliced_energy_distance(x, y, directions=4000, seed=9).value == pytest.approx(exact, rel=0.02)


def test_sliced_unbiased_for_one_law_with_calibrated_error():
    g = np.random.default_rng(3)
    vals, ses = [], []
    for i in range(200):
        x, y = g.normal(size=(60, 2)), g.normal(size=(50, 2))
        u = sliced_energy_distance(x, y, directions=20, groups=10, seed=i)
        vals.append(u.value)
        ses.append(u.se)
    vals = np.array(vals)
    assert abs(vals.mean()) < 3 * vals.std(ddof=1) / np.sqrt(len(vals))
    assert 0.6 < np.mean(ses) / vals.std(ddof=1) < 1.6


def test_sliced_handles_large_samples_in_blocks(rng):
    # blocks of directions (chunk) change nothing; a shift is seen
    x, y = rng.normal(size=(5000, 3)), rng.normal(size=(4000, 3))
    a = sliced_energy_distance(x, y, directions=12)
    b = sliced_energy_distance(x, y, directions=12, chunk=9000)  # one direction per block
    assert b.value == pytest.approx(a.value, rel=1e-9) and b.se == pytest.approx(a.se, rel=1e-9)
    shifted = sliced_energy_distance(x, y + [0.3, 0.0, 0.0], directions=12)
    assert shifted.value > 5 * shifted.se > 0 and abs(a.value) < 5 * a.se


def test_sliced_bad_inputs():
    with pytest.raises(ValueError, match=r"sliced_energy_distance.*\(5, 3\).*\(4, 2\)"):
        sliced_energy_distance(np.zeros((5, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="directions must be >= 1"):
        sliced_energy_distance(np.zeros((5, 3)), np.ones((4, 3)), directions=0)
    with pytest.raises(ValueError, match="non-finite"):
        sliced_energy_distance(np.array([[np.inf, 0.0], [1.0, 1.0]]), np.zeros((4, 2)))


def _cramer_to_uniform(u):
    """Exact squared energy distance between the empirical measure of ``u`` (in [0, 1]) and U(0, 1):
    2 * integral of (F_n(t) - t)^2 over [0, 1], interval by interval."""
    u = np.sort(u)
    n = len(u)
    edges = np.concatenate([[0.0], u, [1.0]])
    level = np.arange(n + 1) / n  # F_n on [edges[k], edges[k + 1])
    return 2 * float(np.sum(((edges[1:] - level) ** 3 - (edges[:-1] - level) ** 3) / 3))


def test_empirical_expectation_matches_the_exact_cramer_mean_in_1d(rng):
    # E[2 int (F_n - F)^2] = 2 int F(1 - F) / n = 1 / (3 n) for U(0, 1); delta = E|X - X'| = 1/3
    n = 5
    exact = np.array([_cramer_to_uniform(rng.uniform(size=n)) for _ in range(4000)])
    assert exact.mean() == pytest.approx(1 / (3 * n), abs=4 * exact.std() / np.sqrt(len(exact)))
    e = empirical_energy_expectation(rng.uniform(size=200_000), n)
    assert e.value == pytest.approx(1 / (3 * n), abs=4 * e.se) and 0 < e.se < 1e-3


def test_empirical_expectation_is_the_mean_error_of_resampled_empirical_measures(rng):
    # the U-statistic between draws from P_n and draws from P is unbiased for E^2(P_n, P); averaged over
    # P_n it is delta / n, with delta = E||X - X'|| = 4 / sqrt(pi) for N(0, I_3)
    n, reps = 10, 300
    vals = []
    for _ in range(reps):
        atoms = rng.normal(size=(n, 3))
        vals.append(energy_distance(atoms[rng.integers(0, n, 400)], rng.normal(size=(400, 3))).value)
    vals = np.array(vals)
    delta = 4 / np.sqrt(np.pi)
    assert vals.mean() == pytest.approx(delta / n, abs=4 * vals.std() / np.sqrt(reps))
    e = empirical_energy_expectation(torch.randn(100_000, 3, generator=torch.Generator().manual_seed(0)), n)
    assert e.value == pytest.approx(delta / n, abs=4 * e.se)


def test_empirical_expectation_rejects_bad_input():
    with pytest.raises(ValueError, match="n must be >= 1"):
        empirical_energy_expectation(np.zeros((10, 2)), 0)
    with pytest.raises(ValueError, match="at least 4 points"):
        empirical_energy_expectation(np.zeros((3, 2)), 5)
    with pytest.raises(ValueError, match="non-finite"):
        empirical_energy_expectation(np.array([0.0, 1.0, np.nan, 2.0]), 5)


def test_empirical_expectation_over_fixed_directions_is_the_sliced_statistics_mean(rng):
    # the sliced statistic with its fixed directions (seed 0) averaged over empirical measures P_n of an
    # anisotropic law: the same identity direction by direction
    n, reps, k = 8, 300, 4
    scale = np.array([3.0, 1.0, 0.2])
    vals = np.array([sliced_energy_distance((rng.normal(size=(n, 3)) * scale)[rng.integers(0, n, 500)],
                                            rng.normal(size=(500, 3)) * scale, directions=k).value for _ in range(reps)])
    x = rng.normal(size=(200_000, 3)) * scale
    line = empirical_energy_expectation(x, n, directions=k)
    assert vals.mean() == pytest.approx(line.value, abs=4 * vals.std() / np.sqrt(reps))
    full = empirical_energy_expectation(x, n)
    assert abs(line.value - full.value) > 10 * (line.se + full.se)  # four directions of a 15:5:1 law are not the sphere
    with pytest.raises(ValueError, match="directions must be >= 0"):
        empirical_energy_expectation(x, n, directions=-1)
