"""Metrics shared by the three capabilities: plain functions, no Lightning needed.

* :func:`wasserstein` -- exact W_p between weighted point sets (POT).
* :func:`circular_wasserstein` -- W_p between angle distributions on the circle.
* :func:`debiased_wasserstein` -- W1 of an estimate to the truth next to its truth-vs-truth floor.
* :func:`energy_distance` -- the energy distance, an unbiased U-statistic with its standard error.
* :func:`sliced_energy_distance` -- the same, sliced over random directions: O(K n log n) for large samples.
* :func:`empirical_energy_expectation` -- the empirical measure's expected squared energy distance to its law.
* :func:`chamfer_distance`, :func:`earth_movers_distance` -- point-cloud reconstruction metrics.
* :func:`boltzmann_weights`, :func:`effective_sample_size` -- Boltzmann statistics.
* :func:`coverage`, :func:`rmsd_matrix` -- conformer-ensemble coverage (COV / AMR).
"""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "KB_KCAL_PER_MOL_K": ".boltzmann",
        "boltzmann_weights": ".boltzmann",
        "effective_sample_size": ".boltzmann",
        "chamfer_distance": ".chamfer",
        "coverage": ".ensemble_coverage",
        "rmsd_matrix": ".ensemble_coverage",
        "earth_movers_distance": ".emd",
        "UStatistic": ".energy",
        "energy_distance": ".energy",
        "sliced_energy_distance": ".energy",
        "empirical_energy_expectation": ".energy",
        "FlooredWasserstein": ".wasserstein_floor",
        "debiased_wasserstein": ".wasserstein_floor",
        "circular_wasserstein": ".optimal_transport",
        "wasserstein": ".optimal_transport",
    },
)
