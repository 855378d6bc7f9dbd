"""Probability distributions shared by the three capabilities.

* :class:`VonMisesMixture` -- mixtures of von Mises laws on the circle S^1 (torsion angles).
* :class:`VonMisesFisher` -- von Mises-Fisher law on the sphere S^{d-1} (projection directions).
"""

from geomgen.distributions.von_mises import VonMisesMixture, von_mises_log_normalizer
from geomgen.distributions.von_mises_fisher import VonMisesFisher

__all__ = ["VonMisesMixture", "VonMisesFisher", "von_mises_log_normalizer"]
