"""Networks and LightningModules (one system per file)."""

# point clouds (the LightningModule lives in geomgen.nn.pointcloud_autoencoder, imported on demand)
from geomgen.nn.pointnet import E3nnEncoder, MLPDecoder, PointCloudAutoencoder, PointNetEncoder  # noqa: E402

__all__ = [*globals().get("__all__", []), "E3nnEncoder", "MLPDecoder", "PointCloudAutoencoder", "PointNetEncoder"]
