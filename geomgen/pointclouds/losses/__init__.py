"""Reconstruction losses for point clouds: the sliced-Wasserstein family and its amortizers.

* :func:`sliced_wasserstein`, :func:`max_sliced_wasserstein`,
  :func:`distributional_sliced_wasserstein` -- batched distances ``[B, N, d] -> [B]``.
* :func:`energy_based_sliced_wasserstein` (EBSW), :func:`quasi_sliced_wasserstein` (QSW and
  randomized QSW), :func:`random_path_sliced_wasserstein` (RPSW) and
  :func:`importance_weighted_random_path_sliced_wasserstein` (IWRPSW) -- slicing distributions
  beyond the uniform one at SW's cost, ``[B, N, d] -> [B]``.
* :class:`LinearAmortizer`, :class:`GeneralizedLinearAmortizer`, :class:`NonLinearAmortizer`,
  :class:`SelfAttentionAmortizer` -- predict a direction / vMF location from a pair of clouds.
* Loss modules with one interface ``loss(x, y) -> [B]``, chosen by config.
* :data:`DEFAULT_N_PROJECTIONS` -- the one default number of projections (100) of them all.
"""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "ATTENTION_KINDS": ".amortizers",
        "GeneralizedLinearAmortizer": ".amortizers",
        "LinearAmortizer": ".amortizers",
        "NonLinearAmortizer": ".amortizers",
        "SelfAttentionAmortizer": ".amortizers",
        "SetAttention": ".amortizers",
        "AmortizedSlicedWassersteinLoss": ".modules",
        "ChamferLoss": ".modules",
        "DistributionalSlicedWassersteinLoss": ".modules",
        "EarthMoversLoss": ".modules",
        "EnergyBasedSlicedWassersteinLoss": ".modules",
        "QuasiSlicedWassersteinLoss": ".modules",
        "RandomPathSlicedWassersteinLoss": ".modules",
        "ENERGIES": ".energy",
        "energy_based_sliced_wasserstein": ".energy",
        "energy_weights": ".energy",
        "CONSTRUCTIONS": ".quasi",
        "RANDOMIZATIONS": ".quasi",
        "quasi_projections": ".quasi",
        "quasi_sliced_wasserstein": ".quasi",
        "random_rotation": ".quasi",
        "sphere_points": ".quasi",
        "importance_weighted_random_path_sliced_wasserstein": ".random_path",
        "random_path_projections": ".random_path",
        "random_path_sliced_wasserstein": ".random_path",
        "MaxSlicedWassersteinLoss": ".modules",
        "SlicedWassersteinLoss": ".modules",
        "DEFAULT_N_PROJECTIONS": ".sliced",
        "OPTIMIZERS": ".sliced",
        "distributional_sliced_wasserstein": ".sliced",
        "max_sliced_wasserstein": ".sliced",
        "projected_wasserstein": ".sliced",
        "random_projections": ".sliced",
        "sliced_wasserstein": ".sliced",
        "vmf_projections": ".sliced",
    },
)
