"""Procedural surface shapes: 10 labelled classes with random size, proportions and pose,
points sampled uniformly by area, deterministic by seed, cached PyG-style."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from geomgen.atomic import atomic_write
from geomgen.pointclouds.io import sample_triangles

#: bump when the generators change: the processed file name carries it, so old caches are ignored
PROCESSED_VERSION = 1
SPLITS = ("train", "val", "test")
_GRID = 48  # parametric grid resolution (triangles per surface: 2 * 48 * 48)


def default_cache_dir() -> Path:
    """``$GEOMGEN_CACHE`` or ``~/.cache/geomgen`` (never the working directory)."""
    return Path(os.environ.get("GEOMGEN_CACHE", Path.home() / ".cache" / "geomgen")).expanduser()


def _grid_mesh(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], u: tuple, v: tuple, res: int = _GRID):
    """Triangle mesh of a parametric surface ``fn(U, V) -> [..., 3]`` on a res x res grid."""
    uu, vv = np.meshgrid(np.linspace(*u, res + 1), np.linspace(*v, res + 1), indexing="ij")
    verts = fn(uu, vv).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(res), np.arange(res), indexing="ij")
    a = (i * (res + 1) + j).ravel()
    b, c, d = a + res + 1, a + 1, a + res + 2
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return verts, faces


def _merge(*meshes):
    verts, faces, off = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + off)
        off += len(v)
    return np.concatenate(verts), np.concatenate(faces)


def _disk(radius: float, z: float):
    return _grid_mesh(lambda r, t: np.stack([radius * r * np.cos(t), radius * r * np.sin(t), np.full_like(r, z)], -1),
                      (0, 1), (0, 2 * math.pi))  # fmt: skip


def _ellipsoid(rng):
    a, b, c = rng.uniform(0.5, 1.5, 3)
    return _grid_mesh(
        lambda u, v: np.stack([a * np.cos(u) * np.sin(v), b * np.sin(u) * np.sin(v), c * np.cos(v)], -1),
        (0, 2 * math.pi), (0, math.pi),
    )  # fmt: skip


def _box(rng):
    a, b, c = rng.uniform(0.4, 1.5, 3)
    v = np.array([[x, y, z] for x in (-a, a) for y in (-b, b) for z in (-c, c)], dtype=np.float64)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])  # fmt: skip
    return v, f


def _cylinder(rng):
    r, h = rng.uniform(0.3, 1.0), rng.uniform(0.5, 1.5)
    side = _grid_mesh(lambda t, s: np.stack([r * np.cos(t), r * np.sin(t), h * s], -1), (0, 2 * math.pi), (-1, 1))
    return _merge(side, _disk(r, -h), _disk(r, h))


def _cone(rng):
    r, h = rng.uniform(0.4, 1.0), rng.uniform(0.8, 2.0)
    side = _grid_mesh(
        lambda t, s: np.stack([(1 - s) * r * np.cos(t), (1 - s) * r * np.sin(t), h * s], -1), (0, 2 * math.pi), (0, 1)
    )
    return _merge(side, _disk(r, 0.0))


def _torus(rng):
    big = rng.uniform(0.7, 1.2)
    small = rng.uniform(0.15, 0.45) * big
    return _grid_mesh(
        lambda u, v: np.stack([(big + small * np.cos(v)) * np.cos(u), (big + small * np.cos(v)) * np.sin(u),
                               small * np.sin(v)], -1),
        (0, 2 * math.pi), (0, 2 * math.pi),
    )  # fmt: skip


def _helix_tube(rng):
    radius, turns = rng.uniform(0.5, 1.0), rng.uniform(1.5, 3.5)
    pitch, tube = rng.uniform(0.08, 0.25), rng.uniform(0.08, 0.18)
    return helix_tube_mesh(radius, turns, pitch, tube)


def helix_tube_mesh(radius: float, turns: float, pitch: float, tube: float):
    """Triangle mesh of a tube of radius ``tube`` around a helix (``radius``, ``turns``, rise ``pitch`` per radian)."""

    def fn(t, v):
        centre = np.stack([radius * np.cos(t), radius * np.sin(t), pitch * t], -1)
        tangent = np.stack([-radius * np.sin(t), radius * np.cos(t), np.full_like(t, pitch)], -1)
        tangent /= np.linalg.norm(tangent, axis=-1, keepdims=True)
        normal = np.stack([-np.cos(t), -np.sin(t), np.zeros_like(t)], -1)
        binormal = np.cross(tangent, normal)
        return centre + tube * (np.cos(v)[..., None] * normal + np.sin(v)[..., None] * binormal)

    return _grid_mesh(fn, (0, 2 * math.pi * turns), (0, 2 * math.pi), res=96)


def _superquadric(rng):
    a, b, c = rng.uniform(0.6, 1.4, 3)
    e1, e2 = rng.uniform(1.6, 2.8, 2)  # > 1: pinched, star-like (distinct from ellipsoids and boxes)

    def sp(w, m):  # signed power
        return np.sign(w) * np.abs(w) ** m

    return _grid_mesh(
        lambda u, v: np.stack([a * sp(np.cos(v), e1) * sp(np.cos(u), e2), b * sp(np.cos(v), e1) * sp(np.sin(u), e2),
                               c * sp(np.sin(v), e1)], -1),
        (-math.pi, math.pi), (-math.pi / 2, math.pi / 2), res=96,
    )  # fmt: skip


def _capsule(rng):
    r, h = rng.uniform(0.3, 0.7), rng.uniform(0.4, 1.2)
    side = _grid_mesh(lambda t, s: np.stack([r * np.cos(t), r * np.sin(t), h * s], -1), (0, 2 * math.pi), (-1, 1))

    def cap(sign):
        return _grid_mesh(
            lambda t, p: np.stack([r * np.cos(t) * np.sin(p), r * np.sin(t) * np.sin(p), sign * (h + r * np.cos(p))], -1),
            (0, 2 * math.pi), (0, math.pi / 2),
        )  # fmt: skip

    return _merge(side, cap(1.0), cap(-1.0))


def _pyramid(rng):
    a, b, h = rng.uniform(0.5, 1.3), rng.uniform(0.5, 1.3), rng.uniform(0.8, 2.0)
    v = np.array([[-a, -b, 0], [a, -b, 0], [a, b, 0], [-a, b, 0], [0, 0, h]], dtype=np.float64)
    f = np.array([[0, 2, 1], [0, 3, 2], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return v, f


def _plate_with_holes(rng, n):
    """Flat rectangle with 1-3 circular holes: rejection sampling in the plane (exactly uniform)."""
    a, b = rng.uniform(0.7, 1.4, 2)
    k = int(rng.integers(1, 4))
    holes = []
    for _ in range(200):
        if len(holes) == k:
            break
        r = rng.uniform(0.12, 0.35) * min(a, b)
        c = rng.uniform([-a + r + 0.05, -b + r + 0.05], [a - r - 0.05, b - r - 0.05])
        if all(np.linalg.norm(c - c2) > r + r2 + 0.05 for c2, r2 in holes):
            holes.append((c, r))
    pts = np.zeros((0, 2))
    while len(pts) < n:
        cand = rng.uniform([-a, -b], [a, b], size=(2 * n, 2))
        keep = np.ones(len(cand), dtype=bool)
        for c, r in holes:
            keep &= np.linalg.norm(cand - c, axis=1) > r
        pts = np.concatenate([pts, cand[keep]])
    pts = pts[:n]
    return np.concatenate([pts, np.zeros((n, 1))], axis=1)


#: class name -> mesh builder (rng -> (verts, faces)) or direct sampler (rng, n -> points)
_MESHES: dict[str, Callable] = {
    "ellipsoid": _ellipsoid,
    "box": _box,
    "cylinder": _cylinder,
    "cone": _cone,
    "torus": _torus,
    "helix_tube": _helix_tube,
    "superquadric": _superquadric,
    "capsule": _capsule,
    "pyramid": _pyramid,
}
_SAMPLERS: dict[str, Callable] = {"plate_with_holes": _plate_with_holes}
CLASSES: tuple[str, ...] = (
    "ellipsoid", "box", "cylinder", "cone", "torus", "helix_tube", "superquadric", "plate_with_holes", "capsule",
    "pyramid",
)  # fmt: skip


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix ``[3, 3]`` uniform (Haar) on SO(3), from a random unit quaternion."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def sample_shape(name: str, n_points: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_points, 3]`` float32 points, uniform by area on a random shape of class ``name``
    with random proportions, size (overall scale 0.5-2) and pose (Haar rotation, shift)."""
    if name in _MESHES:
        verts, faces = _MESHES[name](rng)
        pts = sample_triangles(verts, faces, n_points, rng)
    elif name in _SAMPLERS:
        pts = _SAMPLERS[name](rng, n_points)
    else:
        raise ValueError(f"sample_shape: unknown class {name!r}; choose from {CLASSES}")
    scale = rng.uniform(0.5, 2.0)
    pts = scale * pts @ random_rotation(rng).T + rng.uniform(-1, 1, 3)
    return pts.astype(np.float32)


class ProceduralShapes(Dataset):
    r"""Labelled procedural surface shapes, cached like a PyG ``InMemoryDataset``.

    Each of ``len(CLASSES)`` = 10 classes (ellipsoid, box, cylinder, cone, torus, helix tube,
    superquadric, plate with holes, capsule, pyramid) gets ``shapes_per_class`` random
    instances: random proportions, size and pose; ``n_points`` points uniform by area
    (triangle chosen with probability proportional to its area, then uniform barycentric
    coordinates; rejection sampling for the plate). Shape i of class c uses the random stream
    ``default_rng([seed, c, i])``, so the set is deterministic by seed. A seeded permutation per
    class splits it into train/val/test by ``fractions``.

    The processed file ``<root>/processed/shapes_v{version}_{hash}.pt`` is written once (atomically)
    and reused; ``pre_transform`` is applied before caching (its repr enters the hash),
    ``transform`` at access.

    .. math::
        p(x) = \frac{1}{|S|}\ \text{on the surface } S

    Args:
        root (str, optional): cache folder (default ``default_cache_dir() / "procedural_shapes"``).
        split (str, optional): ``"train"``, ``"val"`` or ``"test"`` (default ``"train"``).
        n_points (int, optional): points per shape (default 2048).
        shapes_per_class (int, optional): instances per class over all splits (default 100).
        seed (int, optional): (default 0).
        fractions (tuple, optional): train/val/test fractions (default (0.7, 0.1, 0.2)).
        transform (callable, optional): applied to ``points [N, 3]`` at access.
        pre_transform (callable, optional): applied to ``points [N, 3]`` before caching.

    Shapes:
        - item: ``(points [n_points, 3] float32, label [] int64)``.
    """

    classes = CLASSES

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        n_points: int = 2048,
        shapes_per_class: int = 100,
        seed: int = 0,
        fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
    ):
        if split not in SPLITS:
            raise ValueError(f"ProceduralShapes: split must be one of {SPLITS}, got {split!r}")
        if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
            raise ValueError(f"ProceduralShapes: fractions must be 3 non-negative numbers summing to 1, got {fractions}")
        if n_points < 1 or shapes_per_class < 3:
            raise ValueError(f"ProceduralShapes: need n_points >= 1, shapes_per_class >= 3; got {n_points}, {shapes_per_class}")
        self.root = Path(root) if root is not None else default_cache_dir() / "procedural_shapes"
        self.split, self.n_points, self.shapes_per_class, self.seed = split, n_points, shapes_per_class, seed
        self.fractions = tuple(float(f) for f in fractions)
        self.transform, self.pre_transform = transform, pre_transform
        if not self.processed_path.exists():
            self.process()
        data = torch.load(self.processed_path, weights_only=True)
        mask = data["split"] == SPLITS.index(split)
        self.points, self.labels = data["points"][mask], data["labels"][mask]

    @property
    def processed_dir(self) -> Path:
        return self.root / "processed"

    @property
    def processed_path(self) -> Path:
        key = f"{self.n_points}-{self.shapes_per_class}-{self.seed}-{self.fractions}-{self.pre_transform!r}"
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        return self.processed_dir / f"shapes_v{PROCESSED_VERSION}_{digest}.pt"

    def process(self) -> None:
        points, labels, split = [], [], []
        bounds = np.cumsum(np.round(np.array(self.fractions) * self.shapes_per_class)).astype(int)
        for c, name in enumerate(CLASSES):
            order = np.random.default_rng([self.seed, c, 10**6]).permutation(self.shapes_per_class)
            rank = np.empty_like(order)
            rank[order] = np.arange(self.shapes_per_class)
            for i in range(self.shapes_per_class):
                pts = torch.from_numpy(sample_shape(name, self.n_points, np.random.default_rng([self.seed, c, i])))
                if self.pre_transform is not None:
                    pts = self.pre_transform(pts)
                points.append(pts)
                labels.append(c)
                split.append(int(np.searchsorted(bounds, rank[i], side="right")))
        data = {
            "points": torch.stack(points),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "split": torch.tensor(split, dtype=torch.int64).clamp_max(2),
            "classes": list(CLASSES),
        }
        atomic_write(self.processed_path, lambda tmp: torch.save(data, tmp))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        pts = self.points[i]
        if self.transform is not None:
            pts = self.transform(pts)
        return pts, self.labels[i]

    def __repr__(self) -> str:
        return f"ProceduralShapes({self.split}, {len(self)} shapes, n_points={self.n_points})"


__all__ = ["ProceduralShapes", "CLASSES", "sample_shape", "random_rotation", "default_cache_dir", "PROCESSED_VERSION"]
