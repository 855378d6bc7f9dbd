"""Progress of a point-cloud training run: training wall time and minibatch count beside the
validation metrics, and reconstruction figures of fixed validation shapes beside the checkpoints.

:class:`TrainingMonitor` is the callback that :class:`~geomgen.pointclouds.system.PointCloudAutoencoderSystem`
adds to every trainer (``configure_callbacks``), so every run logs, at each validation epoch,

* ``val/train_wall_s`` -- seconds spent in training epochs so far (validation and the sanity check
  excluded, resumes included: the count is saved in the checkpoint);
* ``val/batches`` -- training minibatches seen so far (``global_step`` counts optimizer steps,
  two per minibatch for an amortized loss);

and, every ``every_n_epochs`` epochs and at the last one, writes ``epochNNNN.png`` into
``<trainer.default_root_dir>/reconstructions/`` (the sibling of the ``checkpoints`` folder): the
same validation shapes (the first of each class, at most ``n_shapes``) and their reconstructions.
A trainer without checkpointing writes no figures. matplotlib runs with the Agg backend.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


def fixed_shapes(dataset, n_shapes: int = 8) -> list[int]:
    """Indices of ``n_shapes`` items of ``dataset``: the first of each label in order of first
    appearance, then the next items, so a labelled set shows every class it can."""
    firsts: dict[int, int] = {}
    for i in range(len(dataset)):
        item = dataset[i]
        label = int(item[1]) if isinstance(item, (tuple, list)) and len(item) > 1 else -1 - i
        firsts.setdefault(label, i)
        if len(firsts) >= n_shapes:
            break
    chosen = list(firsts.values())[:n_shapes]
    rest = [i for i in range(len(dataset)) if i not in set(chosen)]
    return sorted(chosen + rest[: max(0, n_shapes - len(chosen))])


def save_reconstruction_figure(inputs, recons, path: str | Path, title: str = "", names=None) -> Path:
    """Write a figure (PNG, Agg backend) of clouds ``inputs [K, N, 3]`` (top row) and
    ``recons [K, M, 3]`` (bottom row), one column per shape, same axes per column; atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from geomgen.atomic import atomic_write

    inputs, recons = (torch.as_tensor(a).detach().cpu().float().numpy() for a in (inputs, recons))
    k = len(inputs)
    fig = plt.figure(figsize=(2.2 * k, 4.6))
    for j in range(k):
        lim = max(abs(inputs[j]).max(), abs(recons[j]).max())
        for row, (pts, label) in enumerate(((inputs[j], "input"), (recons[j], "reconstruction"))):
            ax = fig.add_subplot(2, k, row * k + j + 1, projection="3d")
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=2.0, c=pts[:, 2], cmap="viridis", linewidths=0)
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), zlim=(-lim, lim), xticks=[], yticks=[], zticks=[])
            ax.set_box_aspect((1, 1, 1))
            if row == 0:
                ax.set_title(f"input: {names[j]}" if names is not None else "input", fontsize=8)
            else:
                ax.set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80, format="png"))
    plt.close(fig)
    return path


def _fitting(trainer) -> bool:
    """Whether ``trainer`` runs ``fit`` (``trainer.training`` is False during its validation loop)."""
    from lightning.pytorch.trainer.states import TrainerFn

    return trainer.state.fn == TrainerFn.FITTING


class TrainingMonitor(Callback):
    """Log training wall time and minibatches at each validation; save reconstruction figures.

    Args:
        every_n_epochs (int, optional): a figure every this many epochs and at the last one; 0: none (default 5).
        n_shapes (int, optional): validation shapes in the figure (default 8).
    """

    def __init__(self, every_n_epochs: int = 5, n_shapes: int = 8):
        self.every_n_epochs, self.n_shapes = every_n_epochs, n_shapes
        self.train_wall_s, self.batches = 0.0, 0
        self._since: float | None = None
        self._shapes: tuple | None = None
        self._figured: int | None = None  # epoch of the last figure

    @property
    def state_key(self) -> str:
        return "TrainingMonitor"

    def state_dict(self) -> dict:
        return {"train_wall_s": self.train_wall_s, "batches": self.batches}

    def load_state_dict(self, state_dict: dict) -> None:
        self.train_wall_s = float(state_dict.get("train_wall_s", 0.0))
        self.batches = int(state_dict.get("batches", 0))

    def _pause(self) -> None:
        if self._since is not None:
            self.train_wall_s += time.perf_counter() - self._since
            self._since = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._since = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1

    def on_validation_start(self, trainer, pl_module) -> None:
        self._pause()

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and _fitting(trainer):
            self._since = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._pause()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not _fitting(trainer):
            return
        pl_module.log_dict({"val/train_wall_s": float(self.train_wall_s), "val/batches": float(self.batches)}, sync_dist=False)
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        due = self.every_n_epochs > 0 and (epoch % self.every_n_epochs == 0 or last)
        if due and trainer.is_global_zero and trainer.checkpoint_callback is not None:
            self._figure(trainer, pl_module, epoch)

    def on_fit_end(self, trainer, pl_module) -> None:
        # a run stopped early (max_time, max_steps, a signal) still leaves a figure of where it ended
        epoch = trainer.current_epoch
        if self.every_n_epochs > 0 and epoch > 0 and self._figured != epoch and trainer.val_dataloaders is not None:
            if trainer.is_global_zero and trainer.checkpoint_callback is not None:
                self._figure(trainer, pl_module, epoch)

    def _figure(self, trainer, pl_module, epoch: int) -> None:
        self._figured = epoch
        if self._shapes is None:
            loaders = trainer.val_dataloaders
            loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
            dataset = loader.dataset
            idx = fixed_shapes(dataset, self.n_shapes)
            items = [dataset[i] for i in idx]
            points = torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])
            names = None
            base = getattr(dataset, "dataset", dataset)
            classes = getattr(base, "classes", None)
            if classes is not None and isinstance(items[0], (tuple, list)):
                names = [classes[int(it[1])] for it in items]
            self._shapes = (points, names)
        points, names = self._shapes
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            recon = pl_module(points.to(pl_module.device))
        pl_module.train(was_training)
        metrics = trainer.callback_metrics
        chamfer = metrics.get("val/chamfer")
        title = f"epoch {epoch}, {self.batches} minibatches, {self.train_wall_s:.0f} s training"
        if chamfer is not None:
            title += f", val Chamfer {float(chamfer):.4f}"
        save_reconstruction_figure(points, recon, Path(trainer.default_root_dir) / "reconstructions" / f"epoch{epoch:04d}.png",
                                   title, names)  # fmt: skip


__all__ = ["TrainingMonitor", "fixed_shapes", "save_reconstruction_figure"]
