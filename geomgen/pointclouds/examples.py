"""Example point clouds shipped inside the package, for a first ``geomgen pointcloud reconstruct``.

    geomgen pointcloud examples                                  # list them
    geomgen pointcloud reconstruct --example torus -o out.ply     # reconstruct one with the shipped model

Each example is a surface of one of the procedural classes the shipped model was trained on
(:data:`~geomgen.pointclouds.shapes.CLASSES`), 2,048 points uniform by area, centred and scaled
into the unit ball, in a canonical pose (the torus's axis is z). The files
``geomgen/pointclouds/example_clouds/<name>.npy`` are package data (``[2048, 3]`` float32);
:func:`build_example` is the recipe that wrote them (``python -m geomgen.pointclouds.examples``
rewrites them).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

#: example name -> (procedural class, description)
EXAMPLES: dict[str, tuple[str, str]] = {
    "torus": ("torus", "ring torus, tube radius 0.35 of the ring radius, axis z"),
    "sphere": ("ellipsoid", "sphere"),
    "cube": ("box", "cube surface"),
    "cylinder": ("cylinder", "closed cylinder, height 2.4 x radius, axis z"),
    "helix": ("helix_tube", "helical tube, 2.5 turns"),
}

#: points per example cloud
N_POINTS = 2048


def examples_dir() -> Path:
    """Folder of the shipped example clouds (package data)."""
    return Path(__file__).resolve().parent / "example_clouds"


def example_path(name: str) -> Path:
    """Path of the shipped example ``name`` (``.npy``).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        FileNotFoundError: the file is missing from the installation.
    """
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    path = examples_dir() / f"{name}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"example {name!r}: {path} is missing from this installation")
    return path


def load_example(name: str) -> np.ndarray:
    """The shipped example cloud ``name``: ``[2048, 3]`` float32 in the unit ball."""
    return np.load(example_path(name), allow_pickle=False)


def _mesh(name: str):
    from geomgen.pointclouds.shapes import _disk, _grid_mesh, _merge, helix_tube_mesh

    if name == "torus":
        big, small = 1.0, 0.35
        return _grid_mesh(
            lambda u, v: np.stack([(big + small * np.cos(v)) * np.cos(u), (big + small * np.cos(v)) * np.sin(u),
                                   small * np.sin(v)], -1),
            (0, 2 * math.pi), (0, 2 * math.pi),
        )  # fmt: skip
    if name == "sphere":
        return _grid_mesh(lambda u, v: np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], -1), (0, 2 * math.pi), (0, math.pi))
    if name == "cube":
        v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
        f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])  # fmt: skip
        return v, f
    if name == "cylinder":
        r, h = 0.5, 0.6
        side = _grid_mesh(lambda t, s: np.stack([r * np.cos(t), r * np.sin(t), h * s], -1), (0, 2 * math.pi), (-1, 1))
        return _merge(side, _disk(r, -h), _disk(r, h))
    if name == "helix":
        return helix_tube_mesh(radius=0.8, turns=2.5, pitch=0.15, tube=0.13)
    raise ValueError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")  # pragma: no cover


def build_example(name: str, n_points: int = N_POINTS, seed: int = 0) -> np.ndarray:
    """The recipe of example ``name``: ``n_points`` points uniform by area on its surface, centred
    at the mean and scaled into the unit ball, float32 (the shipped files use the defaults)."""
    from geomgen.pointclouds.io import normalize_unit_ball, sample_triangles

    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    verts, faces = _mesh(name)
    points = sample_triangles(verts, faces, n_points, np.random.default_rng(seed))
    return normalize_unit_ball(points)[0].astype(np.float32)


def write_examples(folder: str | Path | None = None) -> list[Path]:
    """Write every example (``build_example`` with the defaults) as ``<folder>/<name>.npy``."""
    from geomgen.pointclouds.io import write_point_cloud

    folder = Path(folder) if folder is not None else examples_dir()
    return [write_point_cloud(folder / f"{name}.npy", build_example(name)) for name in EXAMPLES]


__all__ = ["EXAMPLES", "N_POINTS", "build_example", "example_path", "examples_dir", "load_example", "write_examples"]


if __name__ == "__main__":
    for p in write_examples():
        print(f"wrote {p}")
