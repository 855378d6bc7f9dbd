import numpy as np
import pytest
import torch
from scipy import stats

from geomgen.metrics import UStatistic, energy_distance


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
