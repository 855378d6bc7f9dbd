"""LightningDataModule for point-cloud autoencoders over the procedural shapes or real files."""

from __future__ import annotations

import copy
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from geomgen.pointclouds.datasets import ModelNet40, PointCloudFolder, ShapeNetCore55
from geomgen.pointclouds.shapes import ProceduralShapes
from geomgen.pointclouds.transforms import Compose, NormalizeUnitBall, RandomRotate


class PointCloudDataModule(L.LightningDataModule):
    """Batches of normalised point clouds ``(points [B, N, 3], labels [B])``.

    ``dataset`` chooses the source: ``"shapes"`` (built-in :class:`ProceduralShapes`, its own
    train/val/test split), ``"modelnet40"`` (``path`` = folder of ``ply_data_*.h5``; val is a
    seeded ``val_fraction`` of train), ``"shapenet"`` (``path`` = ``shapenet57448xyzonly.npz``;
    seeded train/val/test split) or ``"folder"`` (``path`` = folder of files; seeded split).
    Every cloud is centred and scaled into the unit ball; ``rotate`` adds random rotations to
    the training clouds. Under DDP, Lightning shards the loaders itself.

    Args:
        dataset (str, optional): ``"shapes"``, ``"modelnet40"``, ``"shapenet"`` or ``"folder"`` (default ``"shapes"``).
        path (str, optional): file or folder for the real formats; cache root for ``"shapes"`` (default None).
        n_points (int, optional): points per cloud for ``"shapes"`` and ``"folder"`` (default 2048).
        shapes_per_class (int, optional): procedural instances per class (default 100).
        batch_size (int, optional): (default 32).
        num_workers (int, optional): (default 0).
        seed (int, optional): data seed and split seed (default 0).
        val_fraction (float, optional): held-out fraction for sources without a split (default 0.1).
        test_fraction (float, optional): test fraction for ``"shapenet"`` / ``"folder"`` (default 0.1).
        rotate (bool, optional): random SO(3) rotation of training clouds (default False).
    """

    def __init__(
        self,
        dataset: Literal["shapes", "modelnet40", "shapenet", "folder"] = "shapes",
        path: str | None = None,
        n_points: int = 2048,
        shapes_per_class: int = 100,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        rotate: bool = False,
    ):
        super().__init__()
        if dataset != "shapes" and path is None:
            raise ValueError(f"PointCloudDataModule: dataset {dataset!r} needs a path")
        self.save_hyperparameters()
        self.splits: dict[str, Dataset] = {}

    def _shapes(self, split: str, transform) -> ProceduralShapes:
        h = self.hparams
        return ProceduralShapes(h.path, split, h.n_points, h.shapes_per_class, h.seed, transform=transform)

    def prepare_data(self) -> None:
        if self.hparams.dataset == "shapes":  # build the cache once, on one process
            self._shapes("train", None)

    def _seeded_split(self, n: int) -> dict[str, list[int]]:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.hparams.seed)).tolist()
        n_val = int(round(self.hparams.val_fraction * n))
        n_test = int(round(self.hparams.test_fraction * n))
        return {"val": perm[:n_val], "test": perm[n_val : n_val + n_test], "train": perm[n_val + n_test :]}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        h = self.hparams
        norm = NormalizeUnitBall()
        train_t = Compose([RandomRotate(), norm]) if h.rotate else norm
        if h.dataset == "shapes":
            self.splits = {s: self._shapes(s, train_t if s == "train" else norm) for s in ("train", "val", "test")}
        elif h.dataset == "modelnet40":
            train_full, val_full = ModelNet40(h.path, "train", train_t), ModelNet40(h.path, "train", norm)
            idx = self._seeded_split(len(train_full))
            self.splits = {
                "train": Subset(train_full, idx["train"] + idx["test"]),
                "val": Subset(val_full, idx["val"]),
                "test": ModelNet40(h.path, "test", norm),
            }
        else:
            make = (
                (lambda t: ShapeNetCore55(h.path, t))
                if h.dataset == "shapenet"
                else (lambda t: PointCloudFolder(h.path, h.n_points, h.seed, t))
            )
            full_train = make(train_t)  # files are read and checked once; the eval view shares them
            full_eval = copy.copy(full_train)
            full_eval.transform = norm
            idx = self._seeded_split(len(full_train))
            self.splits = {s: Subset(full_train if s == "train" else full_eval, i) for s, i in idx.items()}

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if not self.splits:
            self.setup()
        return DataLoader(
            self.splits[split],
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=self.hparams.num_workers,
            drop_last=shuffle and len(self.splits[split]) > self.hparams.batch_size,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False)


__all__ = ["PointCloudDataModule"]

