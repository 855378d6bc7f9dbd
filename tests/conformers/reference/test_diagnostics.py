import numpy as np
import pytest

from geomgen.conformers.reference.diagnostics import effective_size, split_rhat, torsion_diagnostics


def test_rhat_iid_is_one_and_detects_disagreement():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2000))
    assert split_rhat(x) == pytest.approx(1.0, abs=0.01)
    y = x + np.array([0.0, 0.0, 0.0, 2.0])[:, None]
    assert split_rhat(y) > 1.3


def test_ess_iid_and_ar1():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5000))
    assert effective_size(x) == pytest.approx(20000, rel=0.1)
    rho = 0.9
    z = np.zeros((4, 20000))
    for t in range(1, z.shape[1]):
        z[:, t] = rho * z[:, t - 1] + rng.normal(size=4)
    expected = z.size * (1 - rho) / (1 + rho)
    assert effective_size(z) == pytest.approx(expected, rel=0.25)


def test_torsion_diagnostics_circular():
    rng = np.random.default_rng(2)
    chains = rng.vonmises(np.pi, 5.0, size=(3, 1000, 2))  # mass around the +-pi cut
    d = torsion_diagnostics(chains)
    assert d["rhat_max"] < 1.02 and d["ess_min"] > 2000


def test_rank_normalised_rhat_and_bulk_ess_match_arviz():
    """Vehtari et al. (2021): the same numbers as ArviZ on the same draws (R-hat exactly, bulk ESS
    within the few per cent that ArviZ's autocorrelation truncation differs by)."""
    import warnings

    from geomgen.conformers.reference.diagnostics import bulk_ess, rank_rhat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        az = pytest.importorskip("arviz")
    rng = np.random.default_rng(0)
    cases = [rng.standard_normal((4, 500)).cumsum(1) * 0.1 + rng.standard_normal((4, 500)) + np.array([[0.6], [0], [0], [0]]),
             rng.standard_normal((4, 400)), rng.standard_cauchy((4, 300)), (rng.random((4, 300)) < 0.3).astype(float)]
    for x in cases:
        assert rank_rhat(x) == pytest.approx(float(az.rhat(x)), rel=1e-9)
        assert bulk_ess(x) == pytest.approx(float(az.ess(x, method="bulk")), rel=0.05)


def test_rank_rhat_sees_chains_that_differ_only_in_spread_and_binary_states():
    from geomgen.conformers.reference.diagnostics import bulk_ess, rank_rhat

    rng = np.random.default_rng(1)
    spread = np.stack([rng.standard_normal(1000), 5 * rng.standard_normal(1000)])
    assert rank_rhat(spread) > 1.1  # the folded R-hat: same mean, other spread
    stuck = np.stack([np.zeros(200), np.ones(200)])  # two chains, each stuck in its own state
    assert rank_rhat(stuck) == np.inf
    assert bulk_ess(np.ones((2, 100))) == 200
