r"""Log-likelihood of the model :math:`X = g(Z) + \sigma\varepsilon` for data in
:math:`\mathbb{R}^D`:

.. math::
    \log p_{g,\sigma}(x) = \log \mathbb{E}_{Z \sim P_Z}\big[\varphi_\sigma(x - g(Z))\big],
    \qquad \varphi_\sigma(r) = (2\pi\sigma^2)^{-D/2} e^{-\|r\|^2 / 2\sigma^2}

Two estimators, both lower bounds in expectation (Jensen) that become exact as the number of
latent draws K grows:

* :func:`mc_log_likelihood` -- plain Monte Carlo over Z from the prior. Consistent as
  :math:`K \to \infty` for any :math:`\sigma > 0`; its bias is small once the K points
  :math:`g(z_k)` cover the d-dimensional image of g at spacing below :math:`\sigma`, which
  needs :math:`K \gtrsim (\mathrm{diam}/\sigma)^d`: the choice for small d.
* :func:`iw_log_likelihood` -- the importance-weighted bound (Burda et al., 2016) with an
  encoder proposal :math:`q(u \mid x)`. Exact as :math:`K \to \infty` (for any proposal whose
  support covers the posterior's) and, for any K, exact when q is the true posterior; K = 1 is
  the ELBO of a VAE. Scales to larger d.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from geomgen.singular.networks import Encoder, GeneratorNetwork

__all__ = ["gaussian_log_density", "mc_log_likelihood", "iw_log_likelihood"]

#: a scalar standard deviation (0-d tensor) or a map from latents ``[..., d]`` to ``[..., D]``
Sigma = Tensor | Callable[[Tensor], Tensor]


def gaussian_log_density(r: Tensor, sigma: Tensor) -> Tensor:
    r"""Log-density of :math:`N(0, \mathrm{diag}\,\sigma^2)` at residuals ``r``.

    .. math::
        \log\varphi_\sigma(r) = -\sum_j \Big(\frac{r_j^2}{2\sigma_j^2} + \log\sigma_j + \tfrac12\log 2\pi\Big)

    Args:
        r (Tensor): residuals ``[..., D]``.
        sigma (Tensor): standard deviations, a scalar or broadcastable to ``[..., D]``.

    Shapes:
        ``[..., D] -> [...]``
    """
    sigma = torch.as_tensor(sigma, dtype=r.dtype, device=r.device).expand(r.shape)
    return -(0.5 * (r / sigma) ** 2 + torch.log(sigma) + 0.5 * math.log(2 * math.pi)).sum(-1)


def mc_log_likelihood(x: Tensor, generator: GeneratorNetwork, sigma: Sigma, num_samples: int = 256,
                      rng: torch.Generator | None = None, chunk_size: int = 4096) -> Tensor:
    r"""Monte Carlo estimate of :math:`\log p(x)` with K latent draws shared by the batch.

    .. math::
        \widehat{\log p}(x) = \log \frac{1}{K}\sum_{k=1}^K \varphi_\sigma(x - g(z_k)),
        \qquad z_k \overset{iid}{\sim} P_Z

    Args:
        x (Tensor): data ``[B, D]``.
        generator (GeneratorNetwork): g and :math:`P_Z`.
        sigma (Tensor or callable): scalar :math:`\sigma`, or a map u -> per-dimension :math:`\sigma(u)`.
        num_samples (int, optional): K (default 256).
        rng (torch.Generator, optional): random source of the latent draws (default global).
        chunk_size (int, optional): latents evaluated at once, to bound memory (default 4096).

    Shapes:
        ``x: [B, D] -> [B]``
    """
    if x.dim() != 2 or x.shape[1] != generator.data_dim:
        raise ValueError(f"x must be [B, {generator.data_dim}], got {tuple(x.shape)}")
    out = []
    for start in range(0, num_samples, chunk_size):
        k = min(chunk_size, num_samples - start)
        u = generator.sample_latent(k, rng).to(x.dtype)
        gx = generator(u)  # [k, D]
        if callable(sigma):
            out.append(gaussian_log_density(x[:, None, :] - gx[None], sigma(u)[None]))
        else:
            s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
            d2 = (x * x).sum(-1, keepdim=True) + (gx * gx).sum(-1)[None] - 2 * x @ gx.T
            dim = x.shape[1]
            out.append(-0.5 * d2.clamp_min(0) / s**2 - dim * torch.log(s) - 0.5 * dim * math.log(2 * math.pi))
    logw = torch.cat(out, dim=1)
    return torch.logsumexp(logw, dim=1) - math.log(num_samples)


def iw_log_likelihood(x: Tensor, generator: GeneratorNetwork, encoder: Encoder, sigma: Sigma,
                      num_samples: int = 16, rng: torch.Generator | None = None, beta: float = 1.0) -> Tensor:
    r"""Importance-weighted estimate of :math:`\log p(x)` with the encoder proposal.

    .. math::
        \widehat{\log p}(x) = \log \frac{1}{K}\sum_{k=1}^K
        \frac{\varphi_\sigma(x - g(u_k))\, p(u_k)}{q(u_k \mid x)},\qquad u_k \sim q(\cdot \mid x)

    Reparameterised, so gradients reach g, :math:`\sigma` and the encoder.

    Args:
        x (Tensor): data ``[B, D]``.
        generator (GeneratorNetwork): g and :math:`P_Z`.
        encoder (Encoder): the proposal q.
        sigma (Tensor or callable): scalar :math:`\sigma`, or a map u -> per-dimension :math:`\sigma(u)`.
        num_samples (int, optional): K (default 16).
        rng (torch.Generator, optional): random source (default global).
        beta (float, optional): weight of :math:`\log p(u) - \log q(u \mid x)` (default 1, the
            bound above; :math:`\beta < 1` is the KL warm-up of VAE training, not a likelihood bound).

    Shapes:
        ``x: [B, D] -> [B]``
    """
    if x.dim() != 2 or x.shape[1] != generator.data_dim:
        raise ValueError(f"x must be [B, {generator.data_dim}], got {tuple(x.shape)}")
    mu, log_std = encoder(x)  # [B, d]
    eps = torch.randn((num_samples,) + tuple(mu.shape), generator=rng, dtype=x.dtype, device=x.device)
    u = mu + log_std.exp() * eps  # [K, B, d]
    log_q = (-0.5 * eps * eps - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    gx = generator(u)
    s = sigma(u) if callable(sigma) else sigma
    logw = gaussian_log_density(x[None] - gx, s) + beta * (generator.log_prior(u) - log_q)
    return torch.logsumexp(logw, dim=0) - math.log(num_samples)
