r"""Fit any of the four estimators by name: ``perturbed_mle``, ``mle``, ``vae``, ``kde``.

:func:`fit_estimator` builds the shared generator network g (and an encoder where needed),
the LightningModule and its :class:`~geomgen.singular.noise.SingularDataModule`, trains on
CPU with a seeded Lightning trainer and returns a :class:`FittedEstimator`, whose
:meth:`~FittedEstimator.sample` draws from the estimate of the law and whose
:meth:`~FittedEstimator.held_out_log_likelihood` reports the estimated mean log-density of
held-out data.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["ESTIMATORS", "ESTIMATOR_OPTIONS", "FittedEstimator", "fit_estimator", "estimator_options"]

#: estimator names accepted by :func:`fit_estimator` and by study configs
ESTIMATORS = ("perturbed_mle", "mle", "vae", "kde")

#: options shared by the generative estimators (network, data and trainer settings)
_COMMON = {
    "latent_dim": None,  # None: the intrinsic dimension given by the caller
    "hidden": 64,
    "layers": 3,
    "latent": "gaussian",
    "batch_size": 256,
    "max_steps": 2000,
    "lr": 5e-3,
    "sigma_init": 0.1,
    "min_sigma": 1e-4,
    "encoder_hidden": 64,
}

#: estimator -> option -> default
ESTIMATOR_OPTIONS: dict[str, dict[str, Any]] = {
    "perturbed_mle": {**_COMMON, "likelihood": "mc", "num_samples": 512, "eval_samples": 4096, "learn_sigma": True,
                      "fresh_noise": True},
    "mle": {**_COMMON, "likelihood": "mc", "num_samples": 512, "eval_samples": 4096, "learn_sigma": True},
    "vae": {**_COMMON, "num_samples": 1, "eval_samples": 512, "variance_hidden": 32, "kl_warmup": 500},
    "kde": {"bandwidth": "scott", "grid_size": 30},
}


def estimator_options(name: str) -> dict[str, Any]:
    """The options (with defaults) of estimator ``name``; raises ``ValueError`` if unknown."""
    if name not in ESTIMATOR_OPTIONS:
        raise ValueError(f"unknown estimator {name!r}; choose one of {list(ESTIMATORS)}")
    return dict(ESTIMATOR_OPTIONS[name])


@dataclass
class FittedEstimator:
    """A fitted estimator: the trained model plus what the study records about it.

    Attributes:
        name: estimator name.
        model: the LightningModule (or :class:`~geomgen.singular.kde.KernelDensity`).
        sigma: the fitted observation standard deviation (KDE: the bandwidth).
        steps: optimiser steps taken (0 for KDE).
    """

    name: str
    model: Any
    sigma: float
    steps: int = 0
    info: dict = field(default_factory=dict)

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` samples ``[m, D]`` of the estimated law."""
        return self.model.sample(m, generator).to(torch.float64)

    def held_out_log_likelihood(self, x: Tensor, generator: torch.Generator | None = None) -> float:
        """Mean estimated log-density of held-out points ``[m, D]`` (nats per point)."""
        if self.name == "kde":
            return self.model.held_out_log_likelihood(x)
        return self.model.held_out_log_likelihood(x.to(torch.float32), generator)


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LitLogger.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def fit_estimator(name: str, x: Tensor, *, intrinsic_dim: int, noise: float = 0.0, seed: int = 0,
                  fast_dev_run: bool = False, **options) -> FittedEstimator:
    r"""Fit estimator ``name`` to the clean sample ``x``.

    Args:
        name (str): ``perturbed_mle``, ``mle``, ``vae`` or ``kde``.
        x (Tensor): clean training data ``[n, D]``.
        intrinsic_dim (int): d, the default latent dimension.
        noise (float, optional): instance-noise level s, used by ``perturbed_mle`` only (default 0).
        seed (int, optional): seeds the network initialisation, noise and minibatches (default 0).
        fast_dev_run (bool, optional): one training step only (smoke tests; default False).
        **options: overrides of :data:`ESTIMATOR_OPTIONS` ``[name]``; unknown keys raise ``ValueError``.

    Returns:
        FittedEstimator
    """
    opts = estimator_options(name)
    unknown = sorted(set(options) - set(opts))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for estimator {name!r}; allowed: {sorted(opts)}")
    opts.update(options)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if name == "kde":
        from geomgen.singular.kde import KernelDensity

        kde = KernelDensity(opts["bandwidth"], opts["grid_size"]).fit(x)
        return FittedEstimator(name, kde, kde.h)

    import lightning as L

    from geomgen.singular.estimators import MLE, VAE, PerturbedMLE
    from geomgen.singular.networks import Encoder, GeneratorNetwork
    from geomgen.singular.noise import SingularDataModule

    _quiet_lightning()
    torch.manual_seed(seed)
    x = x.to(torch.float32)
    d = int(opts["latent_dim"] or intrinsic_dim)
    d = max(d, 1)
    g = GeneratorNetwork(d, x.shape[1], opts["hidden"], opts["layers"], opts["latent"])
    common = dict(sigma_init=opts["sigma_init"], min_sigma=opts["min_sigma"], lr=opts["lr"],
                  max_steps=opts["max_steps"], num_samples=opts["num_samples"], eval_samples=opts["eval_samples"])
    needs_encoder = name == "vae" or opts.get("likelihood") == "iw"
    enc = Encoder(x.shape[1], d, opts["encoder_hidden"], opts["layers"]) if needs_encoder else None
    if name == "perturbed_mle":
        model = PerturbedMLE(g, enc, opts["likelihood"], learn_sigma=opts["learn_sigma"], noise=noise,
                             fresh_noise=opts["fresh_noise"], **common)
    elif name == "mle":
        model = MLE(g, enc, opts["likelihood"], learn_sigma=opts["learn_sigma"], **common)
    else:
        model = VAE(g, enc, hidden=opts["variance_hidden"], kl_warmup=opts["kl_warmup"], **common)
    dm = SingularDataModule(x, None, model.noise, bool(model.hparams.fresh_noise), opts["batch_size"], seed)
    trainer = L.Trainer(
        max_steps=1 if fast_dev_run else opts["max_steps"], max_epochs=-1, accelerator="cpu", devices=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, reload_dataloaders_every_n_epochs=1 if dm.fresh_noise else 0,
    )
    trainer.fit(model, datamodule=dm)
    model.eval()
    return FittedEstimator(name, model, float(model.sigma.detach()), int(trainer.global_step))
