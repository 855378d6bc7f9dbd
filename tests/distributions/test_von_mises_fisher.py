import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import gammaln, ive

from geomgen.distributions import VonMisesFisher


def _mean_resultant(kappa, d):
    return ive(d / 2, kappa) / ive(d / 2 - 1, kappa)


@pytest.mark.parametrize("d", [2, 3, 5, 10])
@pytest.mark.parametrize("kappa", [0.1, 1.0, 10.0, 300.0])
def test_log_prob_matches_scipy(d, kappa):
    rng = np.random.default_rng(d)
    mu = rng.normal(size=d)
    mu /= np.linalg.norm(mu)
    x = rng.normal(size=(20, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ours = VonMisesFisher(torch.tensor(mu), kappa).log_prob(torch.tensor(x)).numpy()
    ref = stats.vonmises_fisher(mu, kappa).logpdf(x)
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("kappa", [1e-4, 1.0, 50.0])
def test_density_integrates_to_one(d, kappa):
    if d == 2:  # on the circle integrate over the angle
        phi = torch.linspace(-math.pi, math.pi, 200_001, dtype=torch.float64)
        x = torch.stack([phi.cos(), phi.sin()], -1)
        dens = VonMisesFisher(torch.tensor([0.6, 0.8], dtype=torch.float64), kappa).log_prob(x).exp()
        assert torch.trapezoid(dens, phi).item() == pytest.approx(1.0, abs=1e-8)
        return
    # Integrate over w = mu.x: the area element is |S^{d-2}| (1 - w^2)^{(d-3)/2} dw.
    w = torch.linspace(-1, 1, 200_001, dtype=torch.float64)
    x = torch.zeros(len(w), d, dtype=torch.float64)
    x[:, 0] = w
    x[:, 1] = torch.sqrt(1 - w * w)
    mu = torch.zeros(d, dtype=torch.float64)
    mu[0] = 1.0
    dens = VonMisesFisher(mu, kappa).log_prob(x).exp()
    area = math.exp(math.log(2) + ((d - 1) / 2) * math.log(math.pi) - gammaln((d - 1) / 2))
    integrand = dens * area * (1 - w * w) ** ((d - 3) / 2)
    assert torch.trapezoid(integrand, w).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("d", [3, 4, 7])
@pytest.mark.parametrize("kappa", [0.5, 5.0, 100.0])
def test_sample_moments_and_ks_against_scipy(d, kappa):
    g = torch.Generator().manual_seed(d)
    mu = torch.nn.functional.normalize(torch.arange(1.0, d + 1, dtype=torch.float64), dim=0)
    x = VonMisesFisher(mu, kappa).sample((20000,), generator=g)
    np.testing.assert_allclose(x.norm(dim=-1).numpy(), 1.0, atol=1e-12)
    w = (x @ mu).numpy()
    a = _mean_resultant(kappa, d)
    assert abs(w.mean() - a) < 5 * w.std() / math.sqrt(len(w))
    ref = stats.vonmises_fisher(mu.numpy(), kappa).rvs(20000, random_state=np.random.default_rng(0)) @ mu.numpy()
    assert stats.ks_2samp(w, ref).pvalue > 1e-3
    # the tangent part is isotropic: the mean of x is along mu
    mean = x.mean(0).numpy()
    np.testing.assert_allclose(mean, a * mu.numpy(), atol=5 / math.sqrt(20000))


@pytest.mark.parametrize("d", [2, 3, 5, 64])
@pytest.mark.parametrize("kappa", [1e-4, 1e4])
def test_extreme_concentrations_terminate_without_nan(d, kappa):
    mu = torch.nn.functional.normalize(torch.randn(d, generator=torch.Generator().manual_seed(0)), dim=0)
    for dt in (torch.float32, torch.float64):
        x = VonMisesFisher(mu.to(dt), kappa).rsample((2000,), generator=torch.Generator().manual_seed(1))
        assert torch.isfinite(x).all()
        assert torch.allclose(x.norm(dim=-1), torch.ones(2000, dtype=dt), atol=1e-5)
        cos = (x @ mu.to(dt)).double()
        if kappa == 1e4:
            assert cos.min() > 0.99
        else:
            assert abs(cos.mean().item()) < 5 / math.sqrt(2000 * d) + 0.01


def test_rsample_has_gradient_to_loc():
    loc = torch.tensor([0.3, -0.5, 0.8], requires_grad=True)
    target = torch.tensor([1.0, 0.0, 0.0])
    x = VonMisesFisher(loc, 20.0).rsample((256,), generator=torch.Generator().manual_seed(0))
    (x @ target).mean().backward()
    assert loc.grad is not None and torch.isfinite(loc.grad).all() and loc.grad.norm() > 0
    # d=5 path too
    loc5 = torch.randn(5, requires_grad=True)
    VonMisesFisher(loc5, 3.0).rsample((64,))[:, 0].sum().backward()
    assert torch.isfinite(loc5.grad).all() and loc5.grad.norm() > 0


def test_batched_and_reproducible():
    loc = torch.randn(4, 6)
    kappa = torch.tensor([0.1, 1.0, 10.0, 100.0])
    v = VonMisesFisher(loc, kappa)
    a = v.rsample((10,), generator=torch.Generator().manual_seed(3))
    b = v.rsample((10,), generator=torch.Generator().manual_seed(3))
    assert a.shape == (10, 4, 6)
    assert torch.equal(a, b)
    assert v.log_prob(a).shape == (10, 4)


def test_loc_equal_to_e1_and_minus_e1():
    for sign in (1.0, -1.0):
        mu = torch.tensor([sign, 0.0, 0.0])
        x = VonMisesFisher(mu, 1e3).sample((500,), generator=torch.Generator().manual_seed(0))
        assert (x @ mu).min() > 0.95


def test_bad_input():
    with pytest.raises(ValueError, match="d >= 2"):
        VonMisesFisher(torch.tensor([1.0]), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        VonMisesFisher(torch.tensor([1.0, 0.0]), -1.0)


def test_rsample_gradient_at_e1_and_minus_e1():
    for sign in (1.0, -1.0):
        loc = torch.tensor([sign, 0.0, 0.0], requires_grad=True)
        x = VonMisesFisher(loc, 10.0).rsample((128,), generator=torch.Generator().manual_seed(0))
        x[:, 1].sum().backward()
        assert torch.isfinite(loc.grad).all() and loc.grad.norm() > 0
