"""LightningModule that trains a point-cloud autoencoder with a loss chosen by config."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn

from geomgen.pointclouds.autoencoder import PointCloudAutoencoder
from geomgen.pointclouds.losses import DEFAULT_N_PROJECTIONS, SlicedWassersteinLoss, sliced_wasserstein

#: values of ``lr_decay``
LR_DECAYS = (None, "cosine")


class PointCloudAutoencoderSystem(L.LightningModule):
    r"""Training system for a point-cloud autoencoder.

    .. math::
        \min_{f, g}\ \mathbb{E}_X\, \mathcal{D}(X, g(f(X)))\qquad
        \big(\text{and } \max_\psi \text{ for an amortized } \mathcal{D}_\psi\big)

    Uses manual optimisation. With a loss that owns an ``amortizer`` (e.g.
    :class:`~geomgen.pointclouds.losses.AmortizedSlicedWassersteinLoss`) there are two optimizers: Adam
    on the autoencoder (descent) and Adam with ``maximize=True`` on the amortizer (ascent), built by
    the loss's ``make_amortizer_optimizer`` when it has one.
    Each minibatch runs one forward pass and one backward pass of the loss; the amortizer
    reads detached clouds and the vMF samples are reparameterised, so that single backward
    gives the autoencoder the gradient of :math:`\mathcal{D}` at the current projections and
    the amortizer the gradient of the same objective with respect to :math:`\psi`; then both
    optimizers step once (one amortizer step per minibatch). Only parameters that the loss
    touches get gradients, so plain Lightning DDP works (no unused parameters).

    Validation and test log the Chamfer distance, SW (L = :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`)
    and the EMD between inputs and reconstructions (validation: the EMD of a fixed random subset of
    :attr:`VAL_EMD_POINTS` points of each cloud and of its reconstruction, an upward-biased but
    cheap estimate of the full EMD; test: the exact EMD of the whole clouds); the training loss
    itself is logged as ``train/loss``. Every trainer also gets a
    :class:`~geomgen.pointclouds.monitor.TrainingMonitor` (``configure_callbacks``): training wall
    time and minibatches at each validation (``val/train_wall_s``, ``val/batches``) and a figure of
    fixed validation shapes and their reconstructions every ``figure_every_n_epochs`` epochs in
    ``<default_root_dir>/reconstructions/``.
    Checkpoints also carry ``autoencoder_config`` and ``loss_name`` (plain types), for loading
    the network without Lightning.

    Args:
        autoencoder (PointCloudAutoencoder): the network.
        loss (nn.Module, optional): ``loss(x, recon) -> [B]`` (default :class:`~geomgen.pointclouds.losses.SlicedWassersteinLoss`).
        lr (float, optional): autoencoder learning rate (default 1e-3).
        amortizer_lr (float, optional): amortizer learning rate (default 1e-3).
        amortizer_betas (tuple of float, optional): the amortizer's Adam :math:`(\beta_1, \beta_2)`
            (default (0.9, 0.999); the official code uses (0.0, 0.9)).
        weight_decay (float, optional): autoencoder weight decay (default 0).
        figure_every_n_epochs (int, optional): reconstruction figure every this many epochs and at
            the last one; 0: none (default 5).
        lr_decay (str, optional): ``"cosine"``: the autoencoder's learning rate follows a cosine
            from ``lr`` to ``lr_min`` over the trainer's ``max_epochs`` (stepped once per training
            epoch; the state is in the checkpoint, so a resumed run continues the same schedule);
            ``None`` (default): constant.
        lr_min (float, optional): the learning rate at the end of the cosine (default 1e-5).
        init_from (str, optional): a checkpoint of this class whose network weights (and the
            loss's, e.g. an amortizer's, where the shapes match) start this run: a new run, with its
            own optimizer and schedule, from trained weights (e.g. a learning-rate decay phase after
            a constant-rate run; ``--ckpt_path`` instead resumes a run as it was configured). A
            model file of ``geomgen pointcloud export`` (e.g. the shipped
            ``models/pointcloud_ae_shapes.pt``) gives the network's weights alone (float32).

    Shapes:
        - batch: ``(points [B, N, 3], labels [B])`` or ``points [B, N, 3]``.
    """

    def __init__(
        self,
        autoencoder: PointCloudAutoencoder,
        loss: nn.Module | None = None,
        lr: float = 1e-3,
        amortizer_lr: float = 1e-3,
        amortizer_betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        figure_every_n_epochs: int = 5,
        lr_decay: str | None = None,
        lr_min: float = 1e-5,
        init_from: str | None = None,
    ):
        super().__init__()
        if lr_decay not in LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {LR_DECAYS}, got {lr_decay!r}")
        if not 0 <= lr_min <= lr:
            raise ValueError(f"lr_min must be in [0, lr = {lr}], got {lr_min}")
        self.automatic_optimization = False
        self.autoencoder = autoencoder
        self.loss = loss if loss is not None else SlicedWassersteinLoss()
        self.save_hyperparameters(ignore=["autoencoder", "loss"])

    def setup(self, stage: str) -> None:
        # ``init_from`` is read when fitting starts, never when a checkpoint of this run is loaded
        # for testing or export; a resumed run's own checkpoint is restored after this and wins
        if stage == "fit" and self.hparams.get("init_from"):
            self._load_weights(self.hparams.init_from)

    def _load_weights(self, path: str) -> None:
        """Start from the weights of the checkpoint ``path`` (see ``init_from``): the network's
        must match exactly; the loss's are taken where every tensor matches, else left fresh (a
        warning says so)."""
        import warnings

        from geomgen.lightning_cli import UnusableCheckpoint, read_checkpoint
        from geomgen.pointclouds.checkpoint import EXPORT_FORMAT

        ckpt = read_checkpoint(path, what="init_from")
        state = ckpt["state_dict"]
        if ckpt.get("format") == EXPORT_FORMAT:  # a model file: the network's weights alone
            state = {f"autoencoder.{k}": v for k, v in state.items()}
        net = {k[len("autoencoder."):]: v for k, v in state.items() if k.startswith("autoencoder.")}
        try:
            self.autoencoder.load_state_dict(net)
        except RuntimeError as exc:
            raise UnusableCheckpoint(f"init_from={path!r}: its network differs from this run's "
                                     f"({str(exc).splitlines()[0]})") from exc
        loss = {k[len("loss."):]: v for k, v in state.items() if k.startswith("loss.")}
        own = self.loss.state_dict()
        if loss and set(loss) == set(own) and all(loss[k].shape == own[k].shape for k in own):
            self.loss.load_state_dict(loss)
        elif own:
            warnings.warn(f"init_from={path!r}: the loss's parameters differ from this run's; they start fresh", stacklevel=2)

    #: points per cloud in the validation EMD (a fixed random subset; the test EMD uses all points)
    VAL_EMD_POINTS = 512

    def configure_callbacks(self):
        from geomgen.pointclouds.monitor import TrainingMonitor

        return [TrainingMonitor(self.hparams.get("figure_every_n_epochs", 5))]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the network's constructor arguments and the loss's class name (plain types) to ``checkpoint``.

        They sit beside the hyper-parameters, not in them: those stay this class's constructor
        arguments, which LightningCLI parses back from ``--ckpt_path FILE``.
        :func:`~geomgen.pointclouds.checkpoint.load_autoencoder` rebuilds the network from them
        without Lightning.
        """
        checkpoint["autoencoder_config"] = self.autoencoder.config()
        checkpoint["loss_name"] = type(self.loss).__name__

    @property
    def amortizer(self) -> nn.Module | None:
        return getattr(self.loss, "amortizer", None)

    def forward(self, x: Tensor) -> Tensor:
        return self.autoencoder(x)

    @staticmethod
    def _points(batch) -> Tensor:
        return batch[0] if isinstance(batch, (tuple, list)) else batch

    def model_step(self, batch, stage: str) -> tuple[Tensor, dict[str, Tensor]]:
        """Reconstruct the batch; return the training loss (mean over the batch) and metrics."""
        x = self._points(batch)
        recon = self.autoencoder(x)
        if stage == "train":
            loss = self.loss(x, recon).mean()
            return loss, {"loss": loss.detach()}
        from geomgen.metrics import chamfer_distance, earth_movers_distance

        with torch.no_grad():
            metrics = {
                "chamfer": chamfer_distance(x, recon).mean(),
                "sw": sliced_wasserstein(x, recon, n_projections=DEFAULT_N_PROJECTIONS).mean(),
            }
            x_e, r_e = x, recon
            if stage == "val" and min(x.shape[1], recon.shape[1]) > self.VAL_EMD_POINTS:
                gen = torch.Generator().manual_seed(0)
                i = torch.randperm(x.shape[1], generator=gen)[: self.VAL_EMD_POINTS].to(x.device)
                j = torch.randperm(recon.shape[1], generator=gen)[: self.VAL_EMD_POINTS].to(x.device)
                x_e, r_e = x[:, i], recon[:, j]
            if x_e.shape[1] == r_e.shape[1]:
                metrics["emd"] = earth_movers_distance(x_e, r_e).mean()
        return metrics["sw"], metrics

    def training_step(self, batch, batch_idx: int) -> Tensor:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        for opt in optimizers:
            opt.zero_grad()
        loss, metrics = self.model_step(batch, "train")
        self.manual_backward(loss)
        for opt in optimizers:
            opt.step()
        bs = self._points(batch).shape[0]
        self.log_dict({f"train/{k}": v for k, v in metrics.items()}, prog_bar=True, batch_size=bs, sync_dist=False)
        return loss.detach()

    def _eval_step(self, batch, stage: str) -> None:
        _, metrics = self.model_step(batch, stage)
        bs = self._points(batch).shape[0]
        self.log_dict({f"{stage}/{k}": v for k, v in metrics.items()}, prog_bar=stage == "val", batch_size=bs, sync_dist=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch, batch_idx: int) -> Tensor:
        return self.autoencoder(self._points(batch))

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is not None:  # manual optimisation: the schedule is stepped here, once per epoch
            for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
                sched.step()

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.autoencoder.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        optimizers = [opt]
        if self.amortizer is not None:
            lr, betas = self.hparams.amortizer_lr, tuple(self.hparams.amortizer_betas)
            make = getattr(self.loss, "make_amortizer_optimizer", None)
            optimizers.append(make(lr=lr, betas=betas) if make is not None
                              else torch.optim.Adam(self.amortizer.parameters(), lr=lr, betas=betas, maximize=True))
        if self.hparams.get("lr_decay") == "cosine":
            epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=self.hparams.lr_min)
            return optimizers, [sched]
        return optimizers if len(optimizers) > 1 else opt


__all__ = ["PointCloudAutoencoderSystem"]
