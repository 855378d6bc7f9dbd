"""Data layer shared by the three capabilities: molecule graphs, point-cloud files and
procedural shapes, manifold samplers, and their LightningDataModules."""
