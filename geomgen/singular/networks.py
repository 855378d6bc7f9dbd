r"""Networks of the singular-distribution estimators: the generator g, its latent law, and
the encoder proposal.

The latent variable is parameterised by an unconstrained :math:`u \in \mathbb{R}^d`: a
Gaussian latent :math:`Z = u`, :math:`u \sim N(0, I)`, or a uniform latent
:math:`Z = \mathrm{sigmoid}(u) \sim U[0, 1]^d`, :math:`u` standard logistic. Working in
:math:`u` lets a Gaussian encoder proposal cover the whole latent support in both cases.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLP", "GeneratorNetwork", "Encoder"]

_LATENTS = ("uniform", "gaussian")


class MLP(nn.Sequential):
    r"""A fully connected network :math:`\mathbb{R}^{m} \to \mathbb{R}^{k}` with SiLU activations.

    Args:
        in_dim (int): m.
        out_dim (int): k.
        hidden (int, optional): width of the hidden layers (default 64).
        layers (int, optional): number of hidden layers (default 3).

    Shapes:
        ``[*, m] -> [*, k]``
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64, layers: int = 3):
        mods: list[nn.Module] = []
        width = in_dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        mods.append(nn.Linear(width, out_dim))
        super().__init__(*mods)


class GeneratorNetwork(nn.Module):
    r"""The generator :math:`g: \mathbb{R}^d \to \mathbb{R}^D` with its latent law :math:`P_Z`.

    .. math::
        X = g(Z) + \sigma\varepsilon,\qquad Z \sim P_Z \in \{U[0,1]^d,\ N(0, I_d)\}

    ``forward`` takes the unconstrained latent :math:`u` (see the module docstring);
    :meth:`push_forward` draws samples of :math:`g_\# P_Z`.

    Args:
        latent_dim (int): d.
        data_dim (int): D.
        hidden (int, optional): hidden width (default 64).
        layers (int, optional): hidden layers (default 3).
        latent (str, optional): ``"uniform"`` or ``"gaussian"`` (default ``"uniform"``).

    Shapes:
        - ``forward(u)``: ``[*, d] -> [*, D]``.
        - ``sample_latent(n)``: ``[n, d]`` (unconstrained u).
        - ``log_prior(u)``: ``[*, d] -> [*]``.
    """

    def __init__(self, latent_dim: int, data_dim: int, hidden: int = 64, layers: int = 3, latent: str = "uniform"):
        super().__init__()
        if latent not in _LATENTS:
            raise ValueError(f"latent must be one of {_LATENTS}, got {latent!r}")
        if latent_dim < 1 or data_dim < 1:
            raise ValueError(f"latent_dim and data_dim must be >= 1, got {latent_dim} and {data_dim}")
        self.latent_dim, self.data_dim, self.latent = int(latent_dim), int(data_dim), latent
        self.net = MLP(latent_dim, data_dim, hidden, layers)

    def to_latent(self, u: Tensor) -> Tensor:
        """The latent value :math:`Z = T(u)` (sigmoid for the uniform law, identity otherwise)."""
        return torch.sigmoid(u) if self.latent == "uniform" else u

    def forward(self, u: Tensor) -> Tensor:
        z = self.to_latent(u)
        if self.latent == "uniform":
            z = 2 * z - 1  # centre the input of the MLP
        return self.net(z)

    def log_prior(self, u: Tensor) -> Tensor:
        r"""Log-density of the unconstrained latent :math:`u`: standard logistic (uniform Z) or
        standard normal (Gaussian Z), summed over the d coordinates."""
        if self.latent == "uniform":
            return (F.logsigmoid(u) + F.logsigmoid(-u)).sum(-1)
        return (-0.5 * u * u - 0.5 * math.log(2 * math.pi)).sum(-1)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` unconstrained latents u ``[n, d]`` from the prior."""
        p = next(self.parameters())
        if self.latent == "uniform":
            v = torch.rand(n, self.latent_dim, generator=generator, dtype=p.dtype, device=p.device)
            v = v.clamp(1e-7, 1 - 1e-7)
            return torch.log(v) - torch.log1p(-v)
        return torch.randn(n, self.latent_dim, generator=generator, dtype=p.dtype, device=p.device)

    @torch.no_grad()
    def push_forward(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples ``[n, D]`` of :math:`g_\\# P_Z` (no observation noise)."""
        return self(self.sample_latent(n, generator))


class Encoder(nn.Module):
    r"""A Gaussian proposal :math:`q(u \mid x) = N(\mu(x), \mathrm{diag}\,\tau(x)^2)` over the
    unconstrained latent (used by the importance-weighted likelihood and the VAE).

    Args:
        data_dim (int): D.
        latent_dim (int): d.
        hidden (int, optional): hidden width (default 64).
        layers (int, optional): hidden layers (default 3).

    Shapes:
        ``forward(x)``: ``[B, D] -> ([B, d], [B, d])`` (mean, log standard deviation).
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: int = 64, layers: int = 3):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.net = MLP(data_dim, 2 * latent_dim, hidden, layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_std = self.net(x).chunk(2, dim=-1)
        return mu, log_std.clamp(-12.0, 5.0)
