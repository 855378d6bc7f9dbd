"""Probability distributions shared by the three capabilities.

* :class:`VonMisesMixture` -- mixtures of von Mises laws on the circle S^1 (torsion angles).
* :class:`VonMisesFisher` -- von Mises-Fisher law on the sphere S^{d-1} (projection directions).
* :func:`random_rotation` -- a uniformly (Haar) distributed rotation of R^d.
"""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "VonMisesMixture": ".von_mises",
        "von_mises_log_normalizer": ".von_mises",
        "VonMisesFisher": ".von_mises_fisher",
        "random_rotation": ".rotations",
    },
)
