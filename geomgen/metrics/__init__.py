"""Metrics shared by the three capabilities: plain functions, no Lightning needed.

* :func:`wasserstein` -- exact W_p between weighted point sets (POT).
* :func:`circular_wasserstein` -- W_p between angle distributions on the circle.
* :func:`chamfer_distance`, :func:`earth_movers_distance` -- point-cloud reconstruction metrics.
* :func:`boltzmann_weights`, :func:`effective_sample_size` -- Boltzmann statistics.
* :func:`coverage`, :func:`rmsd_matrix` -- conformer-ensemble coverage (COV / AMR).
"""

from geomgen.metrics.boltzmann import KB_KCAL_PER_MOL_K, boltzmann_weights, effective_sample_size
from geomgen.metrics.chamfer import chamfer_distance
from geomgen.metrics.coverage import coverage, rmsd_matrix
from geomgen.metrics.emd import earth_movers_distance
from geomgen.metrics.wasserstein import circular_wasserstein, wasserstein

__all__ = [
    "KB_KCAL_PER_MOL_K",
    "boltzmann_weights",
    "effective_sample_size",
    "chamfer_distance",
    "coverage",
    "rmsd_matrix",
    "earth_movers_distance",
    "circular_wasserstein",
    "wasserstein",
]
