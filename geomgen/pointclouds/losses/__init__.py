"""Reconstruction losses for point clouds: the sliced-Wasserstein family and its amortizers.

* :func:`sliced_wasserstein`, :func:`max_sliced_wasserstein`,
  :func:`distributional_sliced_wasserstein` -- batched distances ``[B, N, d] -> [B]``.
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
