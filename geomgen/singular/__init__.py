"""Likelihood estimation of singular distributions with deep generative models and instance
noise (Chae, Kim, Kim & Lin, JMLR 2023).

* :class:`PerturbedMLE`, :class:`MLE`, :class:`VAE` -- LightningModules sharing one
  :class:`GeneratorNetwork` g; :class:`KernelDensity`, :class:`EmpiricalMeasure` -- the baselines.
* :func:`mc_log_likelihood`, :func:`iw_log_likelihood` -- estimators of
  :math:`\\log \\mathbb{E}_Z \\varphi_\\sigma(x - g(Z))`.
* :class:`InstanceNoise`, :class:`SingularDataModule` -- the data perturbation.
* :func:`noise_schedule`, :func:`select_noise` -- the instance-noise level: a rate in n, and K-fold CV.
* :func:`fit_estimator` -- fit one of ``perturbed_mle``, ``mle``, ``vae``, ``kde``, ``empirical`` by name.
* :func:`make_distribution` -- the manifold laws of the studies (:mod:`geomgen.singular.manifolds`).
* :mod:`geomgen.singular.studies` -- simulation studies from YAML files.
"""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "MLE": ".estimators",
        "VAE": ".estimators",
        "PerturbedMLE": ".estimators",
        "SingularEstimator": ".estimators",
        "ESTIMATOR_OPTIONS": ".fit",
        "ESTIMATORS": ".fit",
        "FittedEstimator": ".fit",
        "fit_estimator": ".fit",
        "KernelDensity": ".kde",
        "EmpiricalMeasure": ".kde",
        "gaussian_log_density": ".likelihood",
        "iw_log_likelihood": ".likelihood",
        "mc_log_likelihood": ".likelihood",
        "MLP": ".networks",
        "Encoder": ".networks",
        "GeneratorNetwork": ".networks",
        "InstanceNoise": ".noise",
        "SingularDataModule": ".noise",
        "NoiseSelection": ".noise_selection",
        "noise_schedule": ".noise_selection",
        "select_noise": ".noise_selection",
        "DISTRIBUTIONS": ".manifolds",
        "ManifoldDistribution": ".manifolds",
        "make_distribution": ".manifolds",
    },
)
