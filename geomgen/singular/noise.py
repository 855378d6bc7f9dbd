r"""Instance noise: the perturbation :math:`\tilde X_i = X_i + s\,\xi_i`,
:math:`\xi_i \sim N(0, I_D)`, and the LightningDataModule that serves perturbed data."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

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
    afresh at every epoch (``fresh_noise=True``; the trainer must then reload the training
    dataloader every epoch, ``reload_dataloaders_every_n_epochs=1``). Validation data stay
    clean. Every draw comes from a generator seeded by ``seed`` (and the epoch), so a fit is
    reproducible.

    Args:
        train (Tensor): clean training data ``[n, D]``.
        val (Tensor, optional): clean validation data ``[m, D]`` (default: none).
        noise (float, optional): s (default 0).
        fresh_noise (bool, optional): redraw the noise every epoch (default True).
        batch_size (int, optional): minibatch size (default 128).
        seed (int, optional): seed of the noise and the shuffling (default 0).
    """

    def __init__(self, train: Tensor, val: Tensor | None = None, noise: float = 0.0, fresh_noise: bool = True,
                 batch_size: int = 128, seed: int = 0):
        super().__init__()
        self.train_x, self.val_x = train, val
        self.transform = InstanceNoise(noise)
        self.fresh_noise, self.batch_size, self.seed = bool(fresh_noise), int(batch_size), int(seed)
        self._epoch = 0
        self._fixed: Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        if self._fixed is None:
            self._fixed = self.transform(self.train_x, torch.Generator().manual_seed(self.seed))

    def perturbed_train(self) -> Tensor:
        """The training data as served in the current epoch."""
        self.setup()
        if not self.fresh_noise:
            return self._fixed
        return self.transform(self.train_x, torch.Generator().manual_seed(self.seed + 1_000_003 * (self._epoch + 1)))

    def train_dataloader(self) -> DataLoader:
        x = self.perturbed_train()
        self._epoch += 1
        shuffle = torch.Generator().manual_seed(self.seed + self._epoch)
        return DataLoader(TensorDataset(x), batch_size=min(self.batch_size, len(x)), shuffle=True,
                          generator=shuffle, drop_last=len(x) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        x = self.val_x if self.val_x is not None else self.train_x[:0]
        return DataLoader(TensorDataset(x), batch_size=max(1, min(1024, len(x))))
