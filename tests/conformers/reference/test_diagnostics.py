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
