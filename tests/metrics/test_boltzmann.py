import math

import numpy as np
import pytest

from geomgen.metrics import KB_KCAL_PER_MOL_K, boltzmann_weights, effective_sample_size


def test_kt_at_300k():
    assert KB_KCAL_PER_MOL_K * 300 == pytest.approx(0.5962, abs=1e-4)


def test_weight_ratio_is_boltzmann_factor():
    kt = KB_KCAL_PER_MOL_K * 300
    w = boltzmann_weights(np.array([0.0, kt * math.log(2), 1000.0]))
    assert w.sum() == pytest.approx(1.0)
    assert w[0] / w[1] == pytest.approx(2.0)
    assert w[2] < 1e-300 or w[2] == 0.0


def test_temperature_and_large_energies_are_stable():
    e = np.array([1e5, 1e5 + 0.5962])
    w = boltzmann_weights(e)
    assert np.isfinite(w).all() and w[0] / w[1] == pytest.approx(math.e, rel=1e-3)
    hot = boltzmann_weights(np.array([0.0, 1.0]), temperature=1e6)
    assert hot[0] == pytest.approx(0.5, abs=1e-3)


def test_log_proposal_divides_out():
    e = np.zeros(3)
    w = boltzmann_weights(e, log_proposal=np.log([0.5, 0.25, 0.25]))
    np.testing.assert_allclose(w, [0.2, 0.4, 0.4])


def test_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.array([1.0, 0, 0, 0])) == pytest.approx(1)
    assert effective_sample_size(np.array([2.0, 1.0])) == pytest.approx(9 / 5)


def test_bad_input():
    with pytest.raises(ValueError, match="energies"):
        boltzmann_weights(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="temperature"):
        boltzmann_weights(np.zeros(2), temperature=0)
    with pytest.raises(ValueError, match="weights"):
        effective_sample_size(np.array([-1.0, 2.0]))


@pytest.mark.parametrize("temperature", [math.nan, math.inf, -math.inf, 0.0, -300.0])
def test_temperature_must_be_positive_and_finite(temperature):
    """Issue 25: temperature=nan (and inf) gave weights instead of an error."""
    with pytest.raises(ValueError, match=r"^boltzmann_weights: temperature must be a positive finite number, got"):
        boltzmann_weights(np.array([0.0, 1.0]), temperature=temperature)


def test_non_finite_energies_and_log_proposal_are_named_and_counted():
    with pytest.raises(ValueError, match=r"^boltzmann_weights: energies must be finite; 2 of 4 are NaN or inf \(indices 1, 3\)"):
        boltzmann_weights(np.array([0.0, np.nan, 1.0, np.inf]))
    with pytest.raises(ValueError, match=r"^boltzmann_weights: log_proposal must be finite; 1 of 3 are NaN or inf \(indices 0\)"):
        boltzmann_weights(np.zeros(3), log_proposal=np.array([-np.inf, 0.0, 0.0]))
