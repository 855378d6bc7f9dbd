"""geomgen: generative modelling of geometric data.

Three capabilities share one data layer, one set of distributions and one set of metrics:
conformer generation (VonMisesNet), point-cloud autoencoders trained with the
sliced-Wasserstein family, and simulation studies of likelihood estimation for singular
distributions. Importing :mod:`geomgen` is cheap; subpackages import torch on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
