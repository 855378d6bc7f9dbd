import math

import pytest
import torch
from torch import nn

from geomgen.singular.likelihood import gaussian_log_density, iw_log_likelihood, mc_log_likelihood
from geomgen.singular.networks import GeneratorNetwork


def linear_gaussian_model(sigma=0.3):
    """g(z) = A z + b with Z ~ N(0, I_2), A with orthogonal columns: X ~ N(b, A A^T + sigma^2 I_3)."""
    torch.manual_seed(0)
    g = GeneratorNetwork(2, 3, hidden=4, layers=0, latent="gaussian").double()
    a = torch.tensor([[1.0, 0.0], [0.0, 0.5], [0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([0.2, -0.1, 0.3], dtype=torch.float64)
    with torch.no_grad():
        g.net[0].weight.copy_(a)
        g.net[0].bias.copy_(b)
    cov = a @ a.T + sigma**2 * torch.eye(3, dtype=torch.float64)
    truth = torch.distributions.MultivariateNormal(b, cov)
    return g, a, b, truth


class ExactPosterior(nn.Module):
    """q(u | x) = p(u | x) for the linear Gaussian model (diagonal since A^T A is)."""

    def __init__(self, a, b, sigma):
        super().__init__()
        self.a, self.b, self.sigma = a, b, sigma

    def forward(self, x):
        prec = torch.diagonal(self.a.T @ self.a) / self.sigma**2 + 1.0
        mu = ((x - self.b) @ self.a) / self.sigma**2 / prec
        return mu, (-0.5 * torch.log(prec)).expand_as(mu)


def test_gaussian_log_density_matches_torch():
    r = torch.randn(5, 3, dtype=torch.float64)
    s = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    ref = torch.distributions.Normal(0, s).log_prob(r).sum(-1)
    assert torch.allclose(gaussian_log_density(r, s), ref)


def test_mc_likelihood_agrees_with_closed_form():
    sigma = 0.3
    g, _, _, truth = linear_gaussian_model(sigma)
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, -0.5, 0.4], [-0.5, 0.2, 0.1]], dtype=torch.float64)
    est = mc_log_likelihood(x, g, torch.tensor(sigma, dtype=torch.float64), num_samples=200_000,
                            rng=torch.Generator().manual_seed(0), chunk_size=50_000)
    assert torch.allclose(est, truth.log_prob(x), atol=0.02)


def test_iw_likelihood_is_exact_with_the_true_posterior():
    sigma = 0.3
    g, a, b, truth = linear_gaussian_model(sigma)
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, -0.5, 0.4], [-0.5, 0.2, 0.1]], dtype=torch.float64)
    q = ExactPosterior(a, b, sigma)
    for k in (1, 8):
        est = iw_log_likelihood(x, g, q, torch.tensor(sigma, dtype=torch.float64), num_samples=k,
                                rng=torch.Generator().manual_seed(1))
        assert torch.allclose(est, truth.log_prob(x), atol=1e-10)


def test_iw_bound_tightens_with_k_for_a_poor_proposal():
    sigma = 0.3
    g, a, b, truth = linear_gaussian_model(sigma)
    x = torch.tensor([[1.0, -0.5, 0.4]], dtype=torch.float64)

    class Prior(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 2, dtype=x.dtype), torch.zeros(len(x), 2, dtype=x.dtype)

    s = torch.tensor(sigma, dtype=torch.float64)
    with torch.no_grad():
        vals = [float(iw_log_likelihood(x.expand(400, 3), g, Prior(), s, num_samples=k,
                                        rng=torch.Generator().manual_seed(2)).mean()) for k in (1, 10, 1000)]
    exact = float(truth.log_prob(x))
    assert vals[0] < vals[1] < vals[2] <= exact + 0.05
    assert abs(vals[2] - exact) < 0.1


def test_callable_sigma_and_shape_errors():
    g, _, _, _ = linear_gaussian_model()
    x = torch.zeros(4, 3, dtype=torch.float64)
    out = mc_log_likelihood(x, g, lambda u: torch.full(u.shape[:-1] + (3,), 0.3, dtype=u.dtype), 1000,
                            torch.Generator().manual_seed(0))
    ref = mc_log_likelihood(x, g, torch.tensor(0.3, dtype=torch.float64), 1000, torch.Generator().manual_seed(0))
    assert torch.allclose(out, ref)
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        mc_log_likelihood(torch.zeros(4, 2), g, torch.tensor(0.3))


def test_uniform_latent_prior_is_logistic():
    g = GeneratorNetwork(1, 2, latent="uniform")
    u = g.sample_latent(20000, torch.Generator().manual_seed(0))
    z = g.to_latent(u)
    assert 0 <= float(z.min()) and float(z.max()) <= 1 and abs(float(z.mean()) - 0.5) < 0.01
    # the logistic log-density integrates to one
    grid = torch.linspace(-30, 30, 20001)[:, None]
    assert abs(float(g.log_prior(grid).exp().sum() * (60 / 20000)) - 1) < 1e-4
    assert math.isfinite(float(g.log_prior(torch.tensor([[50.0]]))))
