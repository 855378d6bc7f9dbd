import numpy as np
import pytest

from geomgen.metrics import debiased_wasserstein, wasserstein


def test_one_repeat_is_w1_minus_floor(rng):
    q, p, pb = rng.normal(size=(50, 2)) + 0.3, rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    r = debiased_wasserstein(q, p, pb)
    assert r.repeats == 1
    assert r.w1 == pytest.approx(wasserstein(q, p))
    assert r.floor == pytest.approx(wasserstein(pb, p))
    assert r.debiased == pytest.approx(r.w1 - r.floor)
    assert np.isnan(r.w1_se) and np.isnan(r.debiased_se)


def test_repeats_give_means_and_standard_errors(rng):
    reps = 4
    qs = [rng.normal(size=(40, 2)) + 1.0 for _ in range(reps)]
    ps = [rng.normal(size=(40, 2)) for _ in range(reps)]
    pbs = [rng.normal(size=(40, 2)) for _ in range(reps)]
    r = debiased_wasserstein(qs, ps, pbs)
    w = np.array([wasserstein(q, p) for q, p in zip(qs, ps)])
    assert r.repeats == reps and r.w1 == pytest.approx(w.mean())
    assert r.w1_se == pytest.approx(w.std(ddof=1) / 2)
    # a shift of 1 is resolved well beyond the floor
    assert r.debiased > 0.5 and r.floor < r.w1


def test_perfect_estimate_debiases_to_about_zero():
    g = np.random.default_rng(3)
    qs, ps, pbs = ([g.normal(size=(60, 2)) for _ in range(20)] for _ in range(3))
    r = debiased_wasserstein(qs, ps, pbs)
    assert abs(r.debiased) < 3 * r.debiased_se


def test_unequal_repeats():
    x = [np.zeros((3, 2))] * 2
    with pytest.raises(ValueError, match="unequal repeats"):
        debiased_wasserstein(x, x[:1], x)


def test_precomputed_floors_equal_the_solved_ones(rng):
    qs, ps, pbs = ([rng.normal(size=(30, 2)) for _ in range(3)] for _ in range(3))
    solved = debiased_wasserstein(qs, ps, pbs)
    given = debiased_wasserstein(qs, ps, floors=[wasserstein(pb, p) for p, pb in zip(ps, pbs)])
    assert given == solved
    one = debiased_wasserstein(qs[0], ps[0], floors=wasserstein(pbs[0], ps[0]))
    np.testing.assert_equal(tuple(one), tuple(debiased_wasserstein(qs[0], ps[0], pbs[0])))  # NaN standard errors
    with pytest.raises(ValueError, match="truth_b"):
        debiased_wasserstein(qs, ps)
    with pytest.raises(ValueError, match="unequal repeats"):
        debiased_wasserstein(qs, ps, floors=[0.1])
