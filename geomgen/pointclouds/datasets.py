"""Point-cloud datasets in the real formats (ShapeNetCore-55 npz, ModelNet40 HDF5, folders
of .ply/.off/.npy/.xyz files); transforms are in :mod:`geomgen.pointclouds.transforms`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from geomgen.pointclouds.io import POINT_SUFFIXES, check_points, load_point_cloud


class DatasetError(ValueError):
    """A data file that cannot be used (unreadable, wrong shape, complex, NaN or inf values...);
    the message names the file and the reason. Raised when a dataset is built, before training."""


class _ArrayDataset(Dataset):
    def __init__(self, points: np.ndarray, labels: np.ndarray, transform: Callable | None):
        self.points = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64).reshape(-1))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i: int):
        pts = self.points[i]
        return (self.transform(pts) if self.transform is not None else pts), self.labels[i]


def _check_points(points: np.ndarray, source: str) -> None:
    try:
        check_points(points, source)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc


class ShapeNetCore55(_ArrayDataset):
    """ShapeNetCore-55 as distributed for point-cloud autoencoders: ``shapenet57448xyzonly.npz``
    with key ``data`` of shape ``[S, 2048, 3]`` (no labels: every label is -1).

    Args:
        path (str): the .npz file.
        transform (callable, optional): applied to ``points [N, 3]`` at access (e.g. :class:`NormalizeUnitBall`).

    Shapes:
        - item: ``(points [2048, 3] float32, label [] int64)``.
    """

    def __init__(self, path: str | os.PathLike, transform: Callable | None = None):
        with np.load(path) as f:
            if "data" not in f:
                raise DatasetError(f"{path}: ShapeNetCore55 npz needs key 'data', found {sorted(f.keys())}")
            data = f["data"]
        if data.ndim != 3 or data.shape[-1] != 3:
            raise DatasetError(f"{path}: key 'data' must have shape [S, N, 3], got {data.shape}")
        _check_points(data, f"{path}: key 'data'")
        super().__init__(data, np.full(len(data), -1), transform)


class ModelNet40(_ArrayDataset):
    """ModelNet40 in the PointNet HDF5 format: ``<root>/ply_data_{split}*.h5`` with keys
    ``data`` ``[S, 2048, 3]`` float32 and ``label`` ``[S, 1]``.

    Args:
        root (str): folder holding the .h5 files (``modelnet40_ply_hdf5_2048``).
        split (str, optional): ``"train"`` or ``"test"`` (default ``"train"``).
        transform (callable, optional): applied to ``points [N, 3]`` at access.

    Shapes:
        - item: ``(points [2048, 3] float32, label [] int64)``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", transform: Callable | None = None):
        import h5py

        if split not in ("train", "test"):
            raise ValueError(f"ModelNet40: split must be 'train' or 'test', got {split!r}")
        files = sorted(Path(root).glob(f"ply_data_{split}*.h5"))
        if not files:
            raise FileNotFoundError(f"ModelNet40: no ply_data_{split}*.h5 under {root}")
        data, labels = [], []
        for fn in files:
            with h5py.File(fn, "r") as f:
                d, lab = np.asarray(f["data"]), np.asarray(f["label"])
            if d.ndim != 3 or d.shape[-1] != 3 or len(lab) != len(d):
                raise DatasetError(f"{fn}: expected data [S, N, 3] and label [S, 1], got {d.shape} and {lab.shape}")
            _check_points(d, f"{fn}: key 'data'")
            data.append(d[..., :3])
            labels.append(lab.reshape(-1))
        super().__init__(np.concatenate(data), np.concatenate(labels), transform)


class PointCloudFolder(Dataset):
    """A folder of point-cloud / mesh files (.ply, .off, .npy, .xyz, .txt), searched recursively.

    Meshes (files with faces) are sampled uniformly by area; point files are resampled to
    ``n_points``. The label of a file is the index of its first-level sub-folder in sorted
    order (-1 for files directly under ``root``). Every file is read once when the dataset is
    built, so that a bad one (unreadable, not ``[N, 3]``, complex, NaN or inf values, a mesh of
    zero area) stops the run before training, not in the middle of an epoch.

    Args:
        root (str): the folder.
        n_points (int, optional): points per cloud (default 2048).
        seed (int, optional): sampling seed (file i uses ``seed + i``) (default 0).
        transform (callable, optional): applied to ``points [N, 3]`` at access.

    Raises:
        FileNotFoundError: no point-cloud file under ``root``.
        DatasetError: files that cannot be used, each named with its reason.

    Shapes:
        - item: ``(points [n_points, 3] float32, label [] int64)``.
    """

    def __init__(self, root: str | os.PathLike, n_points: int = 2048, seed: int = 0, transform: Callable | None = None):
        self.root = Path(root)
        self.files = sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in POINT_SUFFIXES)
        if not self.files:
            raise FileNotFoundError(f"PointCloudFolder: no {POINT_SUFFIXES} files under {root}")
        self.classes = sorted({p.relative_to(self.root).parts[0] for p in self.files if len(p.relative_to(self.root).parts) > 1})
        self.n_points, self.seed, self.transform = n_points, seed, transform
        self._check_files()

    def _check_files(self) -> None:
        """Raise :class:`DatasetError` naming every file that cannot be loaded, with its reason."""
        problems = []
        for i, path in enumerate(self.files):
            try:
                load_point_cloud(path, self.n_points, seed=self.seed + i)
            except (ValueError, OSError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                problems.append(reason if str(path) in reason else f"{path}: {reason}")
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            raise DatasetError(f"PointCloudFolder {str(self.root)!r}: {len(problems)} of {len(self.files)} files cannot be used: {shown}")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        path = self.files[i]
        parts = path.relative_to(self.root).parts
        label = self.classes.index(parts[0]) if len(parts) > 1 else -1
        pts = torch.from_numpy(load_point_cloud(path, self.n_points, seed=self.seed + i))
        return (self.transform(pts) if self.transform is not None else pts), torch.tensor(label, dtype=torch.int64)


__all__ = [
    "DatasetError",
    "ShapeNetCore55",
    "ModelNet40",
    "PointCloudFolder",
]

