"""Likelihood estimation of singular distributions with deep generative models and instance
noise (Chae, Kim, Kim & Lin, JMLR 2023).

* :class:`PerturbedMLE`, :class:`MLE`, :class:`VAE` -- LightningModules sharing one
  :class:`GeneratorNetwork` g; :class:`KernelDensity` -- the kernel baseline.
* :func:`mc_log_likelihood`, :func:`iw_log_likelihood` -- estimators of
  :math:`\\log \\mathbb{E}_Z \\varphi_\\sigma(x - g(Z))`.
* :class:`InstanceNoise`, :class:`SingularDataModule` -- the data perturbation.
* :func:`fit_estimator` -- fit one of ``perturbed_mle``, ``mle``, ``vae``, ``kde`` by name.
"""

from geomgen.singular.estimators import MLE, VAE, PerturbedMLE, SingularEstimator
from geomgen.singular.fit import ESTIMATOR_OPTIONS, ESTIMATORS, FittedEstimator, fit_estimator
from geomgen.singular.kde import KernelDensity
from geomgen.singular.likelihood import gaussian_log_density, iw_log_likelihood, mc_log_likelihood
from geomgen.singular.networks import MLP, Encoder, GeneratorNetwork
from geomgen.singular.noise import InstanceNoise, SingularDataModule

__all__ = ["SingularEstimator", "PerturbedMLE", "MLE", "VAE", "KernelDensity", "GeneratorNetwork", "Encoder", "MLP",
           "mc_log_likelihood", "iw_log_likelihood", "gaussian_log_density", "InstanceNoise", "SingularDataModule",
           "fit_estimator", "FittedEstimator", "ESTIMATORS", "ESTIMATOR_OPTIONS"]
