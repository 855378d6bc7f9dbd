"""Data layer shared by the three capabilities: molecule graphs, point-cloud files and
procedural shapes, manifold samplers, and their LightningDataModules."""

from geomgen.datasets.manifolds import DISTRIBUTIONS, ManifoldDistribution, make_distribution  # noqa: E402

__all__ = [*globals().get("__all__", []), "DISTRIBUTIONS", "ManifoldDistribution", "make_distribution"]

# point clouds (light imports only: the LightningDataModule lives in geomgen.datasets.pointcloud_datamodule)
from geomgen.datasets.pointcloud_io import load_point_cloud, normalize_unit_ball, read_mesh, write_point_cloud  # noqa: E402
from geomgen.datasets.pointclouds import ModelNet40, NormalizeUnitBall, PointCloudFolder, ShapeNetCore55  # noqa: E402
from geomgen.datasets.shapes import ProceduralShapes  # noqa: E402

__all__ = [
    *globals().get("__all__", []),
    "load_point_cloud", "normalize_unit_ball", "read_mesh", "write_point_cloud",
    "ModelNet40", "NormalizeUnitBall", "PointCloudFolder", "ShapeNetCore55", "ProceduralShapes",
]  # fmt: skip
