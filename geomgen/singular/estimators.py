r"""Likelihood estimators of a singular distribution as LightningModules.

All three systems fit the model

.. math::
    X = g(Z) + \sigma\varepsilon,\qquad Z \sim P_Z,\ \varepsilon \sim N(0, I_D)

with one shared generator network g (:class:`~geomgen.singular.networks.GeneratorNetwork`),
and all three estimate the law of the clean data by the push-forward :math:`g_\# P_Z`
(:meth:`SingularEstimator.sample`):

* :class:`PerturbedMLE` -- maximum likelihood on data perturbed with instance noise of level
  s (Chae, Kim, Kim & Lin, "A likelihood approach to nonparametric estimation of a singular
  distribution using deep generative models", JMLR 2023). The perturbed law has a density,
  so the likelihood is bounded and :math:`\sigma` settles near s.
* :class:`MLE` -- the same on clean data (s = 0): the likelihood is unbounded as
  :math:`\sigma \to 0`, the failure the paper describes.
* :class:`VAE` -- the ELBO (K = 1 importance sample) with a learned, latent-dependent decoder
  standard deviation :math:`\sigma(z)`, on clean data.

The data perturbation itself lives in :class:`~geomgen.singular.noise.SingularDataModule`.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor, nn

from geomgen.singular.likelihood import iw_log_likelihood, mc_log_likelihood
from geomgen.singular.networks import MLP, Encoder, GeneratorNetwork

__all__ = ["SingularEstimator", "PerturbedMLE", "MLE", "VAE"]

_METHODS = ("mc", "iw")


class SingularEstimator(L.LightningModule):
    r"""Maximum likelihood for :math:`X = g(Z) + \sigma\varepsilon` (base system).

    .. math::
        \hat\theta = \arg\max_\theta \frac1n \sum_{i=1}^n \widehat{\log p_\theta}(x_i),
        \qquad \theta = (g, \sigma[, q])

    The objective uses :func:`~geomgen.singular.likelihood.mc_log_likelihood`
    (``likelihood="mc"``, exact as ``num_samples`` grows; needs no encoder) or
    :func:`~geomgen.singular.likelihood.iw_log_likelihood` (``likelihood="iw"``, with the
    ``encoder`` proposal; exact as ``num_samples`` grows or when q is the posterior). A
    scalar :math:`\sigma = \max(e^{\rho}, \sigma_{\min})` is learned unless ``learn_sigma`` is
    False. Training, validation and test share :meth:`model_step`.

    Args:
        generator (GeneratorNetwork): the network g with its latent law.
        encoder (Encoder, optional): proposal for ``likelihood="iw"`` (default none).
        likelihood (str, optional): ``"mc"`` or ``"iw"`` (default ``"mc"``).
        num_samples (int, optional): K latent draws per step (default 256).
        eval_samples (int, optional): K for held-out log-likelihoods (default 4096).
        sigma_init (float, optional): initial :math:`\sigma` (default 0.1).
        learn_sigma (bool, optional): learn :math:`\sigma` (default True).
        min_sigma (float, optional): floor :math:`\sigma_{\min}` keeping the loss finite (default 1e-4).
        lr (float, optional): Adam learning rate, cosine-annealed over ``max_steps`` (default 2e-3).
        max_steps (int, optional): length of the learning-rate schedule (default 2000).
        noise (float, optional): instance-noise level s of the training data (default 0).
        fresh_noise (bool, optional): redraw the instance noise for every pass over the data (default True).
        history_every (int, optional): record (step, loss, sigma) in :attr:`history` every this
            many training steps, for training curves without a logger (default 0, never).

    Shapes:
        - ``log_likelihood(x)``: ``[B, D] -> [B]``.
        - ``sample(m)``: ``[m, D]``.
    """

    def __init__(self, generator: GeneratorNetwork, encoder: Encoder | None = None, likelihood: str = "mc",
                 num_samples: int = 256, eval_samples: int = 4096, sigma_init: float = 0.1, learn_sigma: bool = True,
                 min_sigma: float = 1e-4, lr: float = 2e-3, max_steps: int = 2000, noise: float = 0.0,
                 fresh_noise: bool = True, history_every: int = 0):
        super().__init__()
        if likelihood not in _METHODS:
            raise ValueError(f"likelihood must be one of {_METHODS}, got {likelihood!r}")
        if likelihood == "iw" and encoder is None:
            raise ValueError("likelihood='iw' needs an encoder")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        if sigma_init <= 0 or min_sigma <= 0:
            raise ValueError(f"sigma_init and min_sigma must be > 0, got {sigma_init} and {min_sigma}")
        self.save_hyperparameters(ignore=["generator", "encoder"])
        self.generator = generator
        self.encoder = encoder
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma_init)), requires_grad=learn_sigma)
        #: (step, training loss, sigma) every ``history_every`` steps: the training curve
        self.history: list[tuple[int, float, float]] = []

    @property
    def noise(self) -> float:
        return float(self.hparams.noise)

    @property
    def sigma(self) -> Tensor:
        """The observation standard deviation :math:`\\sigma` (scalar tensor)."""
        return self.log_sigma.exp().clamp_min(self.hparams.min_sigma)

    def _sigma(self):
        return self.sigma

    def log_likelihood(self, x: Tensor, num_samples: int | None = None, rng: torch.Generator | None = None,
                       beta: float = 1.0) -> Tensor:
        """Estimated :math:`\\log p(x)` per point, ``[B, D] -> [B]`` (``beta < 1``: warm-up objective)."""
        k = int(num_samples or self.hparams.num_samples)
        if self.hparams.likelihood == "mc":
            return mc_log_likelihood(x, self.generator, self._sigma(), k, rng)
        return iw_log_likelihood(x, self.generator, self.encoder, self._sigma(), k, rng, beta)

    def _beta(self) -> float:
        return 1.0

    def model_step(self, batch, stage: str, rng: torch.Generator | None = None) -> Tensor:
        (x,) = batch
        train = stage == "train"
        k = None if train else self.hparams.eval_samples
        ll = self.log_likelihood(x, k, rng, beta=self._beta() if train else 1.0)
        loss = -ll.mean()
        every = int(self.hparams.history_every)
        if train and every and self.global_step % every == 0:
            self.history.append((int(self.global_step), float(loss.detach()), float(self.sigma.detach())))
        if not train or self._reports():
            self.log(f"{stage}/loss", loss, prog_bar=train, batch_size=len(x))
            self.log(f"{stage}/sigma", self.sigma.detach(), batch_size=len(x))
        return loss

    def _reports(self) -> bool:
        """Whether training-step values go anywhere (a logger or a progress bar): ``self.log`` costs
        about as much as the step of a small network, so a bare fit skips it."""
        trainer = self._trainer
        return trainer is None or trainer.logger is not None or trainer.progress_bar_callback is not None

    def training_step(self, batch, batch_idx):
        return self.model_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        # the same latent draws at every validation (common random numbers): the validation losses
        # of two checkpoints then differ by the fit, not by Monte Carlo noise, when a best one is chosen
        if len(batch[0]):
            return self.model_step(batch, "val", torch.Generator().manual_seed(batch_idx))

    def test_step(self, batch, batch_idx):
        return self.model_step(batch, "test")

    def configure_optimizers(self):
        opt = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.hparams.max_steps),
                                                           eta_min=0.05 * self.hparams.lr)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @torch.no_grad()
    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` samples ``[m, D]`` of the estimate :math:`g_\\# P_Z`."""
        return self.generator.push_forward(m, generator)

    @torch.no_grad()
    def held_out_log_likelihood(self, x: Tensor, rng: torch.Generator | None = None, batch_size: int = 512) -> float:
        """Mean estimated log-density (nats per point) of held-out data ``[m, D]``."""
        k = int(self.hparams.eval_samples)
        vals = [self.log_likelihood(x[i : i + batch_size], k, rng) for i in range(0, len(x), batch_size)]
        return float(torch.cat(vals).mean())


class PerturbedMLE(SingularEstimator):
    r"""Perturbed maximum likelihood (Chae et al., 2023): :class:`SingularEstimator` fitted to
    :math:`\tilde X_i = X_i + s\,\xi_i`.

    .. math::
        \hat\theta = \arg\max_\theta \sum_i \log \mathbb{E}_Z\big[\varphi_\sigma(\tilde X_i - g(Z))\big]

    Args:
        noise (float, optional): s > 0 (default 0.1); other arguments as :class:`SingularEstimator`.
    """

    def __init__(self, generator: GeneratorNetwork, encoder: Encoder | None = None, likelihood: str = "mc",
                 num_samples: int = 256, eval_samples: int = 4096, sigma_init: float = 0.1, learn_sigma: bool = True,
                 min_sigma: float = 1e-4, lr: float = 2e-3, max_steps: int = 2000, noise: float = 0.1,
                 fresh_noise: bool = True, history_every: int = 0):
        super().__init__(generator, encoder, likelihood, num_samples, eval_samples, sigma_init, learn_sigma,
                         min_sigma, lr, max_steps, noise, fresh_noise, history_every)


class MLE(SingularEstimator):
    r"""Unperturbed maximum likelihood: :class:`SingularEstimator` with s = 0.

    .. math::
        \hat\theta = \arg\max_\theta \sum_i \log \mathbb{E}_Z\big[\varphi_\sigma(X_i - g(Z))\big]

    Args: as :class:`SingularEstimator` without ``noise``.
    """

    def __init__(self, generator: GeneratorNetwork, encoder: Encoder | None = None, likelihood: str = "mc",
                 num_samples: int = 256, eval_samples: int = 4096, sigma_init: float = 0.1, learn_sigma: bool = True,
                 min_sigma: float = 1e-4, lr: float = 2e-3, max_steps: int = 2000, history_every: int = 0):
        super().__init__(generator, encoder, likelihood, num_samples, eval_samples, sigma_init, learn_sigma,
                         min_sigma, lr, max_steps, 0.0, False, history_every)


class VAE(SingularEstimator):
    r"""Variational autoencoder with a learned decoder standard deviation :math:`\sigma(z)`.

    .. math::
        \mathcal L(x) = \mathbb{E}_{q(u \mid x)}\Big[\log \varphi_{\sigma(u)}(x - g(u))
        + \log p(u) - \log q(u \mid x)\Big]

    Trained on the ELBO (``num_samples=1``); held-out log-likelihoods use the importance-weighted
    bound with ``eval_samples`` draws. :math:`\sigma(u) = \sigma_{\min} + \mathrm{softplus}(h(u))`
    with a small network h, one value per output coordinate.

    Args:
        generator (GeneratorNetwork): g.
        encoder (Encoder): q.
        hidden (int, optional): width of the variance network h (default 32).
        kl_warmup (int, optional): steps over which the weight :math:`\beta` of
            :math:`\log p(u) - \log q(u \mid x)` grows linearly from 0 to 1, the usual guard
            against posterior collapse (default 0, none).
        num_samples (int, optional): K of the training bound (default 1, the ELBO).
        eval_samples (int, optional): K of held-out log-likelihoods (default 512).
        other arguments: as :class:`SingularEstimator`.
    """

    def __init__(self, generator: GeneratorNetwork, encoder: Encoder, hidden: int = 32, kl_warmup: int = 0,
                 num_samples: int = 1,
                 eval_samples: int = 512, sigma_init: float = 0.1, min_sigma: float = 1e-4, lr: float = 2e-3,
                 max_steps: int = 2000, history_every: int = 0):
        super().__init__(generator, encoder, "iw", num_samples, eval_samples, sigma_init, True, min_sigma, lr,
                         max_steps, 0.0, False, history_every)
        self.save_hyperparameters(ignore=["generator", "encoder"])
        self.variance_net = MLP(generator.latent_dim, generator.data_dim, hidden, 2)
        with torch.no_grad():  # start at sigma_init
            self.variance_net[-1].weight.zero_()
            self.variance_net[-1].bias.fill_(math.log(math.expm1(max(sigma_init - min_sigma, 1e-6))))

    def _beta(self) -> float:
        warm = int(self.hparams.kl_warmup)
        return 1.0 if warm <= 0 else min(1.0, (self.global_step + 1) / warm)

    def _sigma(self):
        floor = self.hparams.min_sigma
        return lambda u: floor + nn.functional.softplus(self.variance_net(u))

    @property
    def sigma(self) -> Tensor:
        """Decoder standard deviation at the latent centre u = 0, averaged over coordinates (for logging)."""
        with torch.no_grad():
            u = torch.zeros(1, self.generator.latent_dim, dtype=self.log_sigma.dtype, device=self.log_sigma.device)
            return self._sigma()(u).mean()
