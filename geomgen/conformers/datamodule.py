"""LightningDataModule of reference-torsion molecule graphs for VonMisesNet."""

from __future__ import annotations

import lightning as L

from geomgen.conformers.dataset import ReferenceTorsionDataset, SubsampleTorsions, SymmetrizeTorsions


class ConformerDataModule(L.LightningDataModule):
    """Reference-torsion graphs for training / validating / testing VonMisesNet.

    Args:
        train (str or list of str): training split name or path (default ``train``), or several, whose
            molecules are trained on together (e.g. ``["train", "train_extra"]``).
        val (str): validation split (default ``val``).
        test (str): test split (default ``test``).
        batch_size (int): molecules per batch (default 32).
        train_samples (int): reference samples per torsion drawn per training step (default 64).
        num_workers (int): DataLoader workers (default 0).
        root (str, optional): cache folder.
        converged_only (bool): validate and test on converged references only (default False).
        train_subset (str): which training molecules to use: ``all`` (default), ``rebuilt``
            (sampled by the current reference sampler) or ``converged`` (passing the
            convergence rule).
        symmetrize (bool): shift each training sample of a symmetric torsion by a random
            multiple of its symmetry period (:class:`~geomgen.conformers.dataset.SymmetrizeTorsions`;
            default False).
    """

    TRAIN_SUBSETS = ("all", "rebuilt", "converged")

    def __init__(self, train: str | list[str] = "train", val: str = "val", test: str = "test", batch_size: int = 32,
                 train_samples: int = 64, num_workers: int = 0, root: str | None = None, converged_only: bool = False,
                 train_subset: str = "all", symmetrize: bool = False):
        super().__init__()
        if train_subset not in self.TRAIN_SUBSETS:
            raise ValueError(f"train_subset must be one of {', '.join(self.TRAIN_SUBSETS)}, got {train_subset!r}")
        self.save_hyperparameters()

    @property
    def train_splits(self) -> list[str]:
        """The training splits (or paths), as a list."""
        t = self.hparams.train
        return [t] if isinstance(t, str) else list(t)

    def prepare_data(self):
        for split in self.train_splits:  # a missing training file is an error, a missing val / test file is not
            ReferenceTorsionDataset(split, root=self.hparams.root)
        for split in (self.hparams.val, self.hparams.test):
            try:
                ReferenceTorsionDataset(split, root=self.hparams.root)
            except FileNotFoundError:
                pass

    def setup(self, stage: str | None = None):
        h = self.hparams
        if stage in (None, "fit"):
            transform = SubsampleTorsions(h.train_samples)
            if h.symmetrize:
                from torch_geometric.transforms import Compose

                transform = Compose([transform, SymmetrizeTorsions()])
            parts = [ReferenceTorsionDataset(split, root=h.root, transform=transform,
                                             converged_only=h.train_subset == "converged",
                                             rebuilt_only=h.train_subset == "rebuilt") for split in self.train_splits]
            if len(parts) == 1:
                self.train_set = parts[0]
            else:
                from torch.utils.data import ConcatDataset

                self.train_set = ConcatDataset(parts)
        if stage in (None, "fit", "validate"):
            self.val_set = ReferenceTorsionDataset(h.val, root=h.root, converged_only=h.converged_only)
        if stage in (None, "test"):
            self.test_set = ReferenceTorsionDataset(h.test, root=h.root, converged_only=h.converged_only)

    def _loader(self, ds, shuffle):
        from torch_geometric.loader import DataLoader

        return DataLoader(ds, batch_size=self.hparams.batch_size, shuffle=shuffle, num_workers=self.hparams.num_workers)

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
