"""Lightning training system of VonMisesNet (:mod:`geomgen.conformers.model`)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from geomgen.conformers.checkpoint import _read_checkpoint, build_network, check_checkpoint, load_vonmisesnet
from geomgen.conformers.model import VonMisesNet, VonMisesNetEnsemble


class VonMisesNetSystem(L.LightningModule):
    """Training system: negative log-likelihood of reference torsion samples under the predicted
    mixtures (mean over samples, then over torsions; for a coupled network each torsion's mixture
    is conditioned on its parents' angles in the same joint sample, so the sum over torsions is the
    joint log-likelihood, :mod:`geomgen.conformers.coupling`); validation also logs the mean circular
    Wasserstein-1 between predicted and reference torsion marginals, each torsion taken modulo
    its graph symmetry as in the evaluation (``torsion_symmetry`` of the dataset).

    Args:
        net (VonMisesNet or VonMisesNetEnsemble): the network.
        lr (float): AdamW learning rate (default 1e-3).
        weight_decay (float): AdamW weight decay (default 1e-4).
        w1_samples (int): samples drawn from each predicted mixture for the validation W1 (200).
        unconverged_weight (float): weight in the training loss of a torsion whose references
            fail the convergence rule on their own (``torsion_converged`` of the dataset), against 1
            for a converged one; the loss is the weighted mean over torsions (default 1: all equal).
        marginal_weight (float): for a coupled network, add this times the NLL of each torsion's
            own mixture (:meth:`~geomgen.conformers.model.VonMisesNet.mixture`, no parent
            information) to the training loss, so that mixture stays the torsion's marginal; the
            logged validation and test NLL stay the joint's (default 0).
    """

    def __init__(self, net: VonMisesNet | VonMisesNetEnsemble | None = None, lr: float = 1e-3, weight_decay: float = 1e-4, w1_samples: int = 200,
                 unconverged_weight: float = 1.0, marginal_weight: float = 0.0):
        super().__init__()
        if not 0.0 <= unconverged_weight <= 1.0:
            raise ValueError(f"unconverged_weight must be in [0, 1], got {unconverged_weight}")
        if marginal_weight < 0:
            raise ValueError(f"marginal_weight must be at least 0, got {marginal_weight}")
        self.save_hyperparameters(ignore=["net"])
        self.net = net if net is not None else VonMisesNet()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the network's constructor arguments (plain types) to ``checkpoint`` as ``net_config``,
        so that :func:`~geomgen.conformers.checkpoint.load_vonmisesnet` rebuilds it on its own."""
        checkpoint["net_config"] = self.net.config

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Rebuild the network from the checkpoint's ``net_config`` when it differs from the one
        configured (an ensemble, or a network trained with other settings), before Lightning loads
        the weights: ``geomgen vonmisesnet test --ckpt_path`` then scores the network the file holds."""
        config = checkpoint.get("net_config")
        if config is not None and config != self.net.config:
            from lightning.pytorch.utilities import rank_zero_info

            rank_zero_info(f"VonMisesNet: using the checkpoint's network {config} in place of the configured {self.net.config}")
            self.net = build_network(config)

    @staticmethod
    def check_checkpoint(ckpt: dict, path) -> None:
        """Check a loaded ``--ckpt_path`` file before anything is built (the LightningCLI glue,
        :func:`geomgen.lightning_cli.check_ckpt_path`, calls it): its ``net_config`` and weights,
        see :func:`geomgen.conformers.checkpoint.check_checkpoint`. A checkpoint without
        ``net_config`` is left to Lightning (it loads into the configured network).

        Raises:
            ValueError: naming ``path`` and the problem.
        """
        if isinstance(ckpt, dict) and "net_config" in ckpt:
            check_checkpoint(ckpt, path)

    @classmethod
    def from_checkpoint(cls, path) -> VonMisesNetSystem:
        """The system of a Lightning or slim checkpoint (see :mod:`geomgen.conformers.checkpoint`), in eval mode.

        The file is read with ``torch.load(weights_only=True)``.

        Args:
            path (str or Path): the checkpoint.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: ``path`` is unreadable or not a VonMisesNet checkpoint; the message names it.
        """
        # the one reader of checkpoint files (weights_only=True, errors that name the file)
        import inspect

        hp = _read_checkpoint(path).get("hyper_parameters") or {}
        known = set(inspect.signature(cls.__init__).parameters) - {"self", "net"}  # the saved hyper-parameters
        return cls(net=load_vonmisesnet(path), **{k: v for k, v in hp.items() if k in known}).eval()

    def forward(self, data):
        return self.net(data)

    def model_step(self, batch, stage: str):
        mix = self.net.law(batch)
        theta = batch.torsion_angles  # [T, S]
        nll_t = -mix.log_prob(theta.T).mean(0)  # log_prob over [S, T], mean over samples
        if stage == "train" and self.hparams.marginal_weight > 0 and getattr(self.net, "coupling", False):
            own = mix.own_mixture() if hasattr(mix, "own_mixture") else self.net.mixture(batch)
            nll_t = nll_t - self.hparams.marginal_weight * own.log_prob(theta.T).mean(0)
        w = self.hparams.unconverged_weight
        if stage == "train" and w != 1.0:
            weights = torch.where(batch.torsion_converged, 1.0, w).to(nll_t)
            nll = (nll_t * weights).sum() / weights.sum().clamp(min=1e-12)
        else:
            nll = nll_t.mean()
        self.log(f"{stage}/nll", nll, batch_size=batch.num_graphs, prog_bar=True)
        return nll, mix

    def training_step(self, batch, batch_idx):
        return self.model_step(batch, "train")[0]

    def _w1(self, batch, mix, stage):
        from geomgen.conformers.reference.convergence import torsion_w1

        g = torch.Generator().manual_seed(1234 + batch.num_graphs)
        samples = mix.sample((self.hparams.w1_samples,), generator=g).cpu().numpy()  # joint draws: their marginals
        ref = batch.torsion_angles.cpu().numpy().T
        w1 = float(np.mean(torsion_w1(samples, ref, batch.torsion_symmetry.cpu().numpy())))
        self.log(f"{stage}/w1", w1, batch_size=len(ref[0]), prog_bar=True)

    def validation_step(self, batch, batch_idx):
        nll, mix = self.model_step(batch, "val")
        self._w1(batch, mix, "val")

    def test_step(self, batch, batch_idx):
        nll, mix = self.model_step(batch, "test")
        self._w1(batch, mix, "test")

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val/nll", "strict": False}}
