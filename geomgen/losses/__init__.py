"""Reconstruction losses for point clouds: the sliced-Wasserstein family and its amortizers.

* :func:`sliced_wasserstein`, :func:`max_sliced_wasserstein`,
  :func:`distributional_sliced_wasserstein` -- batched distances ``[B, N, d] -> [B]``.
* :class:`LinearAmortizer`, :class:`GeneralizedLinearAmortizer`, :class:`NonLinearAmortizer`,
  :class:`SelfAttentionAmortizer` -- predict a direction / vMF location from a pair of clouds.
* Loss modules with one interface ``loss(x, y) -> [B]``, chosen by config.
"""

from geomgen.losses.amortizers import (
    ATTENTION_KINDS,
    GeneralizedLinearAmortizer,
    LinearAmortizer,
    NonLinearAmortizer,
    SelfAttentionAmortizer,
    SetAttention,
)
from geomgen.losses.modules import (
    AmortizedSlicedWassersteinLoss,
    ChamferLoss,
    DistributionalSlicedWassersteinLoss,
    EarthMoversLoss,
    MaxSlicedWassersteinLoss,
    SlicedWassersteinLoss,
)
from geomgen.losses.sliced import (
    distributional_sliced_wasserstein,
    max_sliced_wasserstein,
    projected_wasserstein,
    random_projections,
    sliced_wasserstein,
    vmf_projections,
)

__all__ = [
    "sliced_wasserstein",
    "max_sliced_wasserstein",
    "distributional_sliced_wasserstein",
    "projected_wasserstein",
    "random_projections",
    "vmf_projections",
    "LinearAmortizer",
    "GeneralizedLinearAmortizer",
    "NonLinearAmortizer",
    "SelfAttentionAmortizer",
    "SetAttention",
    "ATTENTION_KINDS",
    "SlicedWassersteinLoss",
    "MaxSlicedWassersteinLoss",
    "DistributionalSlicedWassersteinLoss",
    "AmortizedSlicedWassersteinLoss",
    "ChamferLoss",
    "EarthMoversLoss",
]
