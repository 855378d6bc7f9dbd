r"""Fit any of the estimators by name: ``perturbed_mle``, ``mle``, ``vae``, ``kde``, ``empirical``.

:func:`fit_estimator` builds the shared generator network g (and an encoder where needed),
the LightningModule and its :class:`~geomgen.singular.noise.SingularDataModule`, trains on
CPU with a seeded Lightning trainer and returns a :class:`FittedEstimator`, whose
:meth:`~FittedEstimator.sample` draws from the estimate of the law and whose
:meth:`~FittedEstimator.held_out_log_likelihood` reports the estimated mean log-density of
held-out data.

Each estimator's options, with their defaults and types, are one frozen dataclass
(:class:`PerturbedMLEOptions`, :class:`MLEOptions`, :class:`VAEOptions`, :class:`KDEOptions`,
:class:`EmpiricalOptions`),
listed in :data:`ESTIMATOR_OPTIONS`; study configs are validated against the same classes.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import torch
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from torch import Tensor

from geomgen.singular.kde import BandwidthRule

__all__ = ["ESTIMATORS", "ESTIMATOR_OPTIONS", "NOISE_RULES", "NoiseRule", "VAL_DRAWS", "validation_split",
           "GenerativeOptions", "MLEOptions", "PerturbedMLEOptions", "VAEOptions", "KDEOptions", "EmpiricalOptions",
           "FittedEstimator", "fit_estimator", "estimator_options"]


@dataclass(frozen=True)
class GenerativeOptions:
    r"""Options shared by the generative estimators: the generator g, its training data and trainer.

    The field types are the validation rules: a study config checks its estimator options
    against them (:func:`~geomgen.singular.studies.load_study`), so each option is defined here only.

    Args:
        latent_dim (int, optional): d, the latent dimension; ``None`` takes the intrinsic
            dimension of the law (default ``None``).
        hidden (int, optional): width of g's hidden layers (default 64).
        layers (int, optional): hidden layers of g and of the encoder (default 3).
        latent (str, optional): latent law :math:`P_Z`, ``"uniform"`` or ``"gaussian"`` (default ``"gaussian"``).
        batch_size (int, optional): minibatch size (default 256).
        max_steps (int, optional): Adam steps, the length of the cosine schedule (default 2000).
        lr (float, optional): Adam learning rate (default 5e-3).
        sigma_init (float, optional): initial observation standard deviation :math:`\sigma` (default 0.1).
        min_sigma (float, optional): floor :math:`\sigma_{\min}` (default 1e-4).
        encoder_hidden (int, optional): width of the encoder q, used by ``vae`` and by
            ``likelihood="iw"`` (default 64).
        history_every (int, optional): record (step, loss, sigma) every this many steps in
            ``FittedEstimator.info["history"]``, the training curve (default 0, none).
        val_fraction (float, optional): hold out this share of the data (at least one point) to
            choose the number of Adam steps, i.e. early stopping, the usual guard of a maximum
            likelihood fit of a flexible model: every epoch (about 100 minibatches) the held-out
            points, perturbed as the training data are (``perturbed_mle``: instance noise of level
            s, :data:`VAL_DRAWS` fixed draws per point), are scored by the model's log-likelihood
            with fixed latent draws, and the best state is kept. With fresh instance noise the
            perturbed likelihood of the *training* points keeps rising towards the smoothed
            empirical measure :math:`P_n * N(0, s^2)`, whose deconvolution is :math:`P_n` itself;
            the held-out score measures the fit to :math:`P * N(0, s^2)` instead, whose maximiser
            is the law P (Chae et al., JMLR 2023, Sec. 3: the perturbed likelihood identifies P).
            0 (default): no validation, ``max_steps`` steps on all the data.
        patience (int, optional): with ``val_fraction``, stop after this many validations
            without improvement (default 0: train ``max_steps`` and keep the best state).
        refit (bool, optional): with ``val_fraction``, fit again on all the data for the chosen
            number of steps (its cosine schedule that long), so the estimate uses every point
            (default True); False keeps the best state of the fit on the rest. The choice is
            ``FittedEstimator.info["validation"]``.
    """

    latent_dim: PositiveInt | None = None
    hidden: PositiveInt = 64
    layers: PositiveInt = 3
    latent: Literal["uniform", "gaussian"] = "gaussian"
    batch_size: PositiveInt = 256
    max_steps: PositiveInt = 2000
    lr: PositiveFloat = 5e-3
    sigma_init: PositiveFloat = 0.1
    min_sigma: PositiveFloat = 1e-4
    encoder_hidden: PositiveInt = 64
    history_every: NonNegativeInt = 0
    val_fraction: NonNegativeFloat = 0.0
    patience: NonNegativeInt = 0
    refit: bool = True


@dataclass(frozen=True)
class MLEOptions(GenerativeOptions):
    r"""Options of ``mle``: maximum likelihood on the clean data.

    Args:
        likelihood (str, optional): ``"mc"`` (Monte Carlo over the latent law) or ``"iw"``
            (importance-weighted, with an encoder proposal) (default ``"mc"``).
        num_samples (int, optional): K latent draws per point and step (default 512).
        eval_samples (int, optional): K for held-out log-likelihoods (default 4096).
        learn_sigma (bool, optional): learn :math:`\sigma`, else keep ``sigma_init`` (default True).
        other options: as :class:`GenerativeOptions`.
    """

    likelihood: Literal["mc", "iw"] = "mc"
    num_samples: PositiveInt = 512
    eval_samples: PositiveInt = 4096
    learn_sigma: bool = True


@dataclass(frozen=True)
class PerturbedMLEOptions(MLEOptions):
    r"""Options of ``perturbed_mle``: maximum likelihood on data perturbed with instance noise of level s.

    The level s itself is ``fit_estimator``'s ``noise``: a number, ``"schedule"``
    (:func:`~geomgen.singular.noise_selection.noise_schedule`) or ``"auto"``
    (:func:`~geomgen.singular.noise_selection.select_noise`); the last four options configure those two.

    Args:
        fresh_noise (bool, optional): redraw the instance noise every epoch (default True).
        noise_scale (float, optional): :math:`s_0`, the schedule's s at n = 1000 (default 0.1).
        smoothness (float, optional): :math:`\alpha` of the schedule's rate :math:`n^{-1/(2\alpha + d)}` (default 2.0).
        noise_grid (list of float, optional): the CV candidates of ``noise="auto"`` (default: 0.25,
            0.5, 1 and 2 times the schedule at the training-fold size).
        cv_folds (int, optional): K of the cross-validation, >= 2 (default 3).
        cv_criterion (str, optional): ``"energy"`` (energy distance of the fit's samples to the
            held-out data) or ``"loglik"`` (held-out log-likelihood) (default ``"energy"``).
        other options: as :class:`MLEOptions`.
    """

    fresh_noise: bool = True
    noise_scale: PositiveFloat = 0.1
    smoothness: PositiveFloat = 2.0
    noise_grid: list[PositiveFloat] | None = None
    cv_folds: PositiveInt = 3
    cv_criterion: Literal["energy", "loglik"] = "energy"


@dataclass(frozen=True)
class VAEOptions(GenerativeOptions):
    r"""Options of ``vae``: the ELBO with a learned decoder standard deviation :math:`\sigma(z)`.

    Args:
        num_samples (int, optional): K of the training bound (default 1, the ELBO).
        eval_samples (int, optional): K of held-out log-likelihoods (default 512).
        variance_hidden (int, optional): width of the variance network (default 32).
        kl_warmup (int, optional): steps over which the KL weight grows from 0 to 1 (default 500).
        other options: as :class:`GenerativeOptions`.
    """

    num_samples: PositiveInt = 1
    eval_samples: PositiveInt = 512
    variance_hidden: PositiveInt = 32
    kl_warmup: NonNegativeInt = 500


@dataclass(frozen=True)
class KDEOptions:
    r"""Options of ``kde``, the Gaussian kernel density estimate (:class:`~geomgen.singular.kde.KernelDensity`).

    Args:
        bandwidth (float or str, optional): h > 0, ``"scott"``, ``"silverman"`` or ``"loo"`` (default ``"scott"``).
        grid_size (int, optional): candidate bandwidths for ``"loo"`` (default 30).
    """

    bandwidth: PositiveFloat | BandwidthRule = "scott"
    grid_size: PositiveInt = 30


@dataclass(frozen=True)
class EmpiricalOptions:
    r"""Options of ``empirical``, the empirical measure of the sample
    (:class:`~geomgen.singular.kde.EmpiricalMeasure`): none."""


#: fixed instance-noise draws per held-out point in the validation of ``perturbed_mle`` (option ``val_fraction``)
VAL_DRAWS = 4

#: the rules ``fit_estimator`` accepts for the instance-noise level instead of a number
NoiseRule = Literal["auto", "schedule"]
NOISE_RULES: tuple[str, ...] = ("auto", "schedule")

#: estimator name -> its options (the one definition of each estimator's options and defaults)
ESTIMATOR_OPTIONS: dict[str, type] = {
    "perturbed_mle": PerturbedMLEOptions,
    "mle": MLEOptions,
    "vae": VAEOptions,
    "kde": KDEOptions,
    "empirical": EmpiricalOptions,
}

#: estimator names accepted by :func:`fit_estimator` and by study configs
ESTIMATORS = tuple(ESTIMATOR_OPTIONS)


def estimator_options(name: str, **overrides) -> GenerativeOptions | KDEOptions:
    """The options of estimator ``name``: its defaults with ``overrides`` applied (values are not type-checked).

    Args:
        name (str): a key of :data:`ESTIMATOR_OPTIONS`.
        **overrides: option values.

    Raises:
        ValueError: an unknown estimator or option; the message lists the allowed ones.
    """
    if name not in ESTIMATOR_OPTIONS:
        raise ValueError(f"unknown estimator {name!r}; choose one of {list(ESTIMATORS)}")
    allowed = sorted(f.name for f in fields(ESTIMATOR_OPTIONS[name]))
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for estimator {name!r}; allowed: {allowed}")
    return ESTIMATOR_OPTIONS[name](**overrides)


@dataclass
class FittedEstimator:
    """A fitted estimator: the trained model plus what the study records about it.

    Attributes:
        name: estimator name.
        model: the LightningModule (or :class:`~geomgen.singular.kde.KernelDensity`).
        sigma: the fitted observation standard deviation (KDE: the bandwidth).
        steps: optimiser steps taken (0 for KDE).
        info: the training curve (``"history"``) and, for ``noise="auto"``, the CV of s
            (``"noise_selection"``, a :class:`~geomgen.singular.noise_selection.NoiseSelection` as a dict).
        noise: the instance-noise level s the fit used (0 for the estimators without one).
    """

    name: str
    model: Any
    sigma: float
    steps: int = 0
    info: dict = field(default_factory=dict)
    noise: float = 0.0

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` samples ``[m, D]`` of the estimated law."""
        return self.model.sample(m, generator).to(torch.float64)

    def held_out_log_likelihood(self, x: Tensor, generator: torch.Generator | None = None) -> float:
        """Mean estimated log-density of held-out points ``[m, D]`` (nats per point)."""
        if self.name in ("kde", "empirical"):
            return self.model.held_out_log_likelihood(x)
        return self.model.held_out_log_likelihood(x.to(torch.float32), generator)


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LitLogger.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    warnings.filterwarnings("ignore", message=".*`IterableDataset` has `__len__` defined.*")


def _check_data(x: Tensor, shown: int = 10) -> None:
    """``ValueError`` unless ``x`` is a ``[n, D]`` tensor of finite values; the message lists the bad rows."""
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError(f"fit_estimator: x must be a tensor [n, D], got {getattr(x, 'shape', type(x).__name__)}")
    bad = (~torch.isfinite(x)).any(dim=1).nonzero().flatten().tolist()
    if bad:
        rows = ", ".join(map(str, bad[:shown])) + (f", ... ({len(bad) - shown} more)" if len(bad) > shown else "")
        raise ValueError(f"fit_estimator: x has NaN or inf values in {len(bad)} of {len(x)} rows: [{rows}]")


def _fit_interruptible(trainer, model, datamodule, name: str) -> None:
    """``trainer.fit``, with Ctrl-C left a :class:`KeyboardInterrupt`.

    Lightning catches the interrupt, ignores SIGINT from then on and calls ``sys.exit(1)``: a
    study would end with status 1 and no word, and a second Ctrl-C would do nothing. Here the
    exit becomes ``KeyboardInterrupt`` again (naming the fit and its step) and the SIGINT handler
    is restored.
    """
    import signal
    import threading

    handler = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(model, datamodule=datamodule)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt(f"{name} fit at step {trainer.global_step}") from None
        raise
    finally:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) != handler:
            signal.signal(signal.SIGINT, handler)


def fit_estimator(name: str, x: Tensor, *, intrinsic_dim: int, noise: float | NoiseRule = "auto", seed: int = 0,
                  fast_dev_run: bool = False, **options) -> FittedEstimator:
    r"""Fit estimator ``name`` to the clean sample ``x``.

    Args:
        name (str): ``perturbed_mle``, ``mle``, ``vae``, ``kde`` or ``empirical``.
        x (Tensor): clean training data ``[n, D]``.
        intrinsic_dim (int): d, the default latent dimension.
        noise (float or str, optional): instance-noise level s of ``perturbed_mle`` (the others
            ignore it): a number s >= 0; ``"schedule"``, the rate
            :func:`~geomgen.singular.noise_selection.noise_schedule` at n (options ``noise_scale``,
            ``smoothness``); or ``"auto"`` (default), s chosen by K-fold cross-validation over a small
            grid (:func:`~geomgen.singular.noise_selection.select_noise`; options ``noise_grid``,
            ``cv_folds``, ``cv_criterion``), then one fit on all of ``x`` at the chosen s. ``"auto"``
            costs K times the grid size extra fits on (K-1)/K of the data: 12 with the defaults,
            about 9 times a single fit in all. The chosen s is ``FittedEstimator.noise`` and the CV
            table ``info["noise_selection"]``. Before ``"auto"`` the default was 0 (no perturbation);
            pass ``noise=0.0`` (or the studies' 0.1) to reproduce a fixed-s fit exactly.
        seed (int, optional): seeds the network initialisation, noise and minibatches (default 0).
        fast_dev_run (bool, optional): one training step only (smoke tests; default False).
        **options: fields of the estimator's options (:data:`ESTIMATOR_OPTIONS` ``[name]``, e.g.
            :class:`PerturbedMLEOptions`); unknown keys raise ``ValueError``.

    Returns:
        FittedEstimator

    Raises:
        ValueError: an unknown estimator or option, ``noise < 0``, or ``x`` not ``[n, D]`` or with
            NaN/inf entries (the message lists the offending rows, the first ten of them).
        KeyboardInterrupt: Ctrl-C during training (not Lightning's ``SystemExit(1)``).
    """
    opts = estimator_options(name, **options)
    if isinstance(noise, str):
        if noise not in NOISE_RULES:
            raise ValueError(f"noise must be a number >= 0 or one of {list(NOISE_RULES)}, got {noise!r}")
    elif not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    _check_data(x)
    info: dict = {}
    if name != "perturbed_mle":
        noise = 0.0
    elif noise == "schedule":
        from geomgen.singular.noise_selection import noise_schedule

        noise = noise_schedule(len(x), max(int(opts.latent_dim or intrinsic_dim), 0), scale=opts.noise_scale,
                               smoothness=opts.smoothness)
    elif noise == "auto":
        from geomgen.singular.noise_selection import select_noise

        selection = select_noise(x, intrinsic_dim=intrinsic_dim, grid=opts.noise_grid, folds=opts.cv_folds,
                                 criterion=opts.cv_criterion, seed=seed, scale=opts.noise_scale,
                                 smoothness=opts.smoothness, fast_dev_run=fast_dev_run, **options)
        noise, info["noise_selection"] = selection.noise, selection.as_dict()
    noise = float(noise)
    if name == "kde":
        from geomgen.singular.kde import KernelDensity

        kde = KernelDensity(opts.bandwidth, opts.grid_size).fit(x)
        return FittedEstimator(name, kde, kde.h)
    if name == "empirical":
        from geomgen.singular.kde import EmpiricalMeasure

        return FittedEstimator(name, EmpiricalMeasure().fit(x), 0.0)

    import lightning  # noqa: F401  (imported before _quiet_lightning, whose levels its import would reset)

    _quiet_lightning()
    x = x.to(torch.float32)
    if not opts.val_fraction:
        model, steps = _train(name, opts, x, None, noise, intrinsic_dim, seed, fast_dev_run)
        return FittedEstimator(name, model, float(model.sigma.detach()), steps, {"history": list(model.history), **info},
                               noise)
    rest, held = validation_split(x, opts.val_fraction, noise, seed)
    model, steps, best = _train(name, opts, rest, held, noise, intrinsic_dim, seed, fast_dev_run)
    validation = {"val_points": len(x) - len(rest), "train_points": len(rest), "best_step": best["step"], "best_val_loss": best["loss"],
                  "steps_run": steps, "curve": best["curve"], "refit": bool(opts.refit)}
    if opts.refit:
        model, steps = _train(name, replace(opts, max_steps=max(1, best["step"])), x, None, noise, intrinsic_dim, seed,
                              fast_dev_run)
    else:
        steps = best["step"]
    return FittedEstimator(name, model, float(model.sigma.detach()), steps,
                           {"history": list(model.history), "validation": validation, **info}, noise)


def validation_split(x: Tensor, fraction: float, noise: float, seed: int) -> tuple[Tensor, Tensor]:
    """The split of option ``val_fraction``: ``(rest, held)``, a random share ``fraction`` of ``x``
    held out (at least one point, at least one left), perturbed as the training data are, with
    noise of level ``noise`` in :data:`VAL_DRAWS` draws per point fixed by ``seed`` (``noise = 0``:
    the clean points, once).

    Raises:
        ValueError: ``fraction`` outside (0, 1), or fewer than 2 points.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1) to hold points out, got {fraction}")
    if len(x) < 2:
        raise ValueError(f"val_fraction needs at least 2 points to hold some out, got {len(x)}")
    g = torch.Generator().manual_seed(seed + 7919)
    perm = torch.randperm(len(x), generator=g)
    m = min(max(1, round(fraction * len(x))), len(x) - 1)
    held, rest = x[perm[:m]], x[perm[m:]]
    if noise > 0:
        held = torch.cat([held + noise * torch.randn(held.shape, generator=g, dtype=held.dtype) for _ in range(VAL_DRAWS)])
    return rest, held


def _train(name: str, opts: GenerativeOptions, x: Tensor, val: Tensor | None, noise: float, intrinsic_dim: int,
           seed: int, fast_dev_run: bool):
    """One Lightning fit of generative estimator ``name`` on ``x``: ``(model, steps)``; with ``val``
    (held-out points, already perturbed), ``(model, steps, best)``, the model in its best state
    by the validation loss and ``best`` = {"step", "loss", "curve": [(step, loss), ...]}."""
    import tempfile

    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from geomgen.singular.estimators import MLE, VAE, PerturbedMLE
    from geomgen.singular.networks import Encoder, GeneratorNetwork
    from geomgen.singular.noise import SingularDataModule

    torch.manual_seed(seed)
    d = max(int(opts.latent_dim or intrinsic_dim), 1)
    g = GeneratorNetwork(d, x.shape[1], opts.hidden, opts.layers, opts.latent)
    common = dict(sigma_init=opts.sigma_init, min_sigma=opts.min_sigma, lr=opts.lr, max_steps=opts.max_steps,
                  num_samples=opts.num_samples, eval_samples=opts.eval_samples, history_every=opts.history_every)
    needs_encoder = name == "vae" or opts.likelihood == "iw"
    enc = Encoder(x.shape[1], d, opts.encoder_hidden, opts.layers) if needs_encoder else None
    if name == "perturbed_mle":
        model = PerturbedMLE(g, enc, opts.likelihood, learn_sigma=opts.learn_sigma, noise=noise,
                             fresh_noise=opts.fresh_noise, **common)
    elif name == "mle":
        model = MLE(g, enc, opts.likelihood, learn_sigma=opts.learn_sigma, **common)
    else:
        model = VAE(g, enc, hidden=opts.variance_hidden, kl_warmup=opts.kl_warmup, **common)
    dm = SingularDataModule(x, val, model.noise, bool(model.hparams.fresh_noise), opts.batch_size, seed)
    trainer_args = dict(max_steps=1 if fast_dev_run else opts.max_steps, max_epochs=-1, accelerator="cpu", devices=1,
                        logger=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    if val is None:
        trainer = L.Trainer(enable_checkpointing=False, limit_val_batches=0, **trainer_args)
        _fit_interruptible(trainer, model, dm, name)
        model.eval()
        return model, int(trainer.global_step)

    class _Curve(L.Callback):  # (step, validation loss) at every validation
        def __init__(self):
            self.points: list[tuple[int, float]] = []

        def on_validation_epoch_end(self, trainer, pl_module):
            if "val/loss" in trainer.callback_metrics:
                self.points.append((int(trainer.global_step), float(trainer.callback_metrics["val/loss"])))

    curve = _Curve()
    with tempfile.TemporaryDirectory(prefix="geomgen-val-") as tmp:
        best = ModelCheckpoint(dirpath=tmp, monitor="val/loss", mode="min", save_top_k=1, save_weights_only=True)
        callbacks = [best, curve] + ([EarlyStopping("val/loss", patience=opts.patience)] if opts.patience else [])
        trainer = L.Trainer(callbacks=callbacks, **trainer_args)
        _fit_interruptible(trainer, model, dm, name)
        steps = int(trainer.global_step)
        if best.best_model_path:  # else no validation ran (a fit shorter than one epoch): keep the last state
            state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
            model.load_state_dict(state["state_dict"])
            chosen = {"step": int(state["global_step"]), "loss": float(best.best_model_score)}
        else:
            chosen = {"step": steps, "loss": float("nan")}
    model.eval()
    return model, steps, {**chosen, "curve": curve.points}
