"""Point-cloud autoencoders trained with the sliced-Wasserstein family (Nguyen, Nguyen & Ho, ICML 2023).

* :mod:`geomgen.pointclouds.losses` -- SW, Max-SW, v-DSW and amortized v-DSW (with amortizers).
* :class:`PointCloudAutoencoder` -- PointNet or rotation-invariant e3nn encoder, MLP decoder;
  :class:`PointCloudAutoencoderSystem` -- its LightningModule; :class:`PointCloudDataModule`.
* Data: :class:`ProceduralShapes`, :class:`ShapeNetCore55`, :class:`ModelNet40`,
  :class:`PointCloudFolder`; transforms; file I/O (.npy/.xyz/.ply/.off).
* :func:`load_autoencoder`, :func:`export` -- model files without Lightning.

Names are re-exported lazily: importing this package loads nothing heavy.
"""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "PointNetEncoder": ".autoencoder",
        "E3nnEncoder": ".autoencoder",
        "MLPDecoder": ".autoencoder",
        "PointCloudAutoencoder": ".autoencoder",
        "PointCloudAutoencoderSystem": ".system",
        "PointCloudDataModule": ".datamodule",
        "ProceduralShapes": ".shapes",
        "ShapeNetCore55": ".datasets",
        "ModelNet40": ".datasets",
        "PointCloudFolder": ".datasets",
        "DatasetError": ".datasets",
        "Compose": ".transforms",
        "NormalizeUnitBall": ".transforms",
        "RandomRotate": ".transforms",
        "Jitter": ".transforms",
        "load_point_cloud": ".io",
        "write_point_cloud": ".io",
        "read_mesh": ".io",
        "normalize_unit_ball": ".io",
        "load_autoencoder": ".checkpoint",
        "export": ".checkpoint",
    },
)
