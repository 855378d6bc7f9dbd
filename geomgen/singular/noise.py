r"""Instance noise: the perturbation :math:`\tilde X_i = X_i + s\,\xi_i`,
:math:`\xi_i \sim N(0, I_D)`, and the LightningDataModule that serves perturbed data."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

__all__ = ["InstanceNoise", "SingularDataModule"]


class InstanceNoise:
    r"""Add isotropic Gaussian instance noise of level s.

    .. math::
        \tilde x = x + s\,\xi,\qquad \xi \sim N(0, I_D)

    Args:
        level (float): s >= 0 (0 is the identity).

    Shapes:
        ``[N, D] -> [N, D]``
    """

    def __init__(self, level: float):
        if level < 0:
            raise ValueError(f"instance noise level must be >= 0, got {level}")
        self.level = float(level)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.level == 0:
            return x
        return x + self.level * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)

    def __repr__(self) -> str:
        return f"InstanceNoise(level={self.level})"


class SingularDataModule(L.LightningDataModule):
    r"""Training and validation data for the singular-distribution estimators, with the
    training set perturbed by :class:`InstanceNoise` either once (``fresh_noise=False``) or
    afresh for every pass over it (``fresh_noise=True``). Validation data stay clean.

    One training epoch is ``passes_per_epoch`` passes over the data, served by one iterable
    (pass k draws its noise and its permutation from generators seeded by ``seed`` and k), so
    a small training set does not cost a DataLoader and a Lightning epoch per minibatch: at
    n = 250 and batch 128 that overhead was most of a fit. A fit is reproducible from ``seed``.

    Args:
        train (Tensor): clean training data ``[n, D]``.
        val (Tensor, optional): clean validation data ``[m, D]`` (default: none).
        noise (float, optional): s (default 0).
        fresh_noise (bool, optional): redraw the noise for every pass (default True).
        batch_size (int, optional): minibatch size; a pass drops the last, incomplete batch when
            n exceeds it, and is one batch of all n points otherwise (default 128).
        seed (int, optional): seed of the noise and the shuffling (default 0).
        passes_per_epoch (int, optional): passes per epoch; default: as many as make an epoch of
            at least 100 minibatches.
    """

    def __init__(self, train: Tensor, val: Tensor | None = None, noise: float = 0.0, fresh_noise: bool = True,
                 batch_size: int = 128, seed: int = 0, passes_per_epoch: int | None = None):
        super().__init__()
        if train.dim() != 2 or len(train) < 1:
            raise ValueError(f"train must be [n >= 1, D], got {tuple(train.shape)}")
        self.train_x, self.val_x = train, val
        self.transform = InstanceNoise(noise)
        self.fresh_noise, self.batch_size, self.seed = bool(fresh_noise), int(batch_size), int(seed)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.effective_batch_size = min(self.batch_size, len(train))
        self.batches_per_pass = len(train) // self.effective_batch_size
        if passes_per_epoch is None:
            passes_per_epoch = -(-100 // self.batches_per_pass)
        if passes_per_epoch < 1:
            raise ValueError(f"passes_per_epoch must be >= 1, got {passes_per_epoch}")
        self._batches = _PerturbedBatches(self, passes_per_epoch)
        self._fixed: Tensor | None = None

    def perturbed_train(self, k: int = 0) -> Tensor:
        """The training data as served in pass ``k`` (0-based, counted over the whole fit)."""
        if not self.fresh_noise:
            if self._fixed is None:
                self._fixed = self.transform(self.train_x, torch.Generator().manual_seed(self.seed))
            return self._fixed
        return self.transform(self.train_x, torch.Generator().manual_seed(self.seed + 1_000_003 * (k + 1)))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self._batches, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        x = self.val_x if self.val_x is not None else self.train_x[:0]
        return DataLoader(TensorDataset(x), batch_size=max(1, min(1024, len(x))))


class _PerturbedBatches(IterableDataset):
    """Minibatches of the perturbed training data, ``passes`` passes over it per epoch.

    Pass k (counted over the whole fit, not per epoch) perturbs the data with noise drawn from
    ``seed + 1_000_003 (k + 1)`` (or once, from ``seed``, when the noise is fixed) and visits
    it in a permutation drawn from ``seed + k``; so the stream is reproducible and each pass
    sees fresh noise without rebuilding a DataLoader every pass.
    """

    def __init__(self, dm: SingularDataModule, passes: int):
        self.dm, self.passes = dm, int(passes)
        self.next_pass = 0

    def __len__(self) -> int:
        return self.passes * self.dm.batches_per_pass

    def __iter__(self):
        dm = self.dm
        n, bs = len(dm.train_x), dm.effective_batch_size
        for _ in range(self.passes):
            k = self.next_pass
            self.next_pass += 1
            x = dm.perturbed_train(k)
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(dm.seed + k))
            for i in range(dm.batches_per_pass):
                yield (x[perm[i * bs : (i + 1) * bs]],)
