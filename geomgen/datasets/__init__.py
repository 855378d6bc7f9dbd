"""Data layer shared by the three capabilities: molecule graphs, point-cloud files and
procedural shapes, manifold samplers, and their LightningDataModules."""

from geomgen.datasets.manifolds import DISTRIBUTIONS, ManifoldDistribution, make_distribution  # noqa: E402

__all__ = [*globals().get("__all__", []), "DISTRIBUTIONS", "ManifoldDistribution", "make_distribution"]
