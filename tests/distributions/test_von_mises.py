import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import i0e, i1e

from geomgen.distributions import VonMisesMixture, von_mises_log_normalizer
from tests.conftest import TOL

KAPPAS = [1e-3, 0.5, 5.0, 100.0, 1e3]


@pytest.mark.parametrize("kappa", KAPPAS)
def test_log_prob_matches_scipy(kappa, dtype):
    theta = torch.linspace(-math.pi, math.pi, 101, dtype=dtype)
    mix = VonMisesMixture(torch.tensor([0.7], dtype=dtype), torch.tensor([kappa], dtype=dtype), torch.zeros(1, dtype=dtype))
    ours = mix.log_prob(theta.unsqueeze(-1)).squeeze(-1)
    ref = stats.vonmises.logpdf(theta.double().numpy(), kappa, loc=0.7)
    rel = 1e-5 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=rel, atol=rel * max(1.0, kappa))


def test_mixture_log_prob_matches_scipy_mixture():
    loc = torch.tensor([[-2.0, 0.5, 3.0], [1.0, 1.5, -0.3]], dtype=torch.float64)
    kap = torch.tensor([[1.0, 20.0, 300.0], [1e-3, 2.0, 5.0]], dtype=torch.float64)
    logits = torch.tensor([[0.1, -1.0, 2.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    mix = VonMisesMixture(loc, kap, logits)
    theta = torch.linspace(-4, 4, 57, dtype=torch.float64).unsqueeze(-1).expand(57, 2)
    w = torch.softmax(logits, -1).numpy()
    for b in range(2):
        ref = sum(w[b, k] * stats.vonmises.pdf(theta[:, b].numpy(), kap[b, k].item(), loc=loc[b, k].item()) for k in range(3))
        np.testing.assert_allclose(mix.log_prob(theta)[:, b].numpy(), np.log(ref), rtol=1e-9)


@pytest.mark.parametrize("kappa", KAPPAS)
def test_density_integrates_to_one(kappa):
    theta = torch.linspace(-math.pi, math.pi, 400_001, dtype=torch.float64)
    mix = VonMisesMixture(torch.tensor([[3.1, -1.0]], dtype=torch.float64), torch.tensor([[kappa, 3.0]], dtype=torch.float64),
                          torch.tensor([[0.3, -0.2]], dtype=torch.float64))
    p = mix.prob(theta.unsqueeze(-1)).squeeze(-1)
    assert torch.trapezoid(p, theta).item() == pytest.approx(1.0, abs=1e-6)


def test_log_normalizer_stable_for_extreme_concentrations(dtype):
    k = torch.tensor([0.0, 1e-3, 1.0, 1e3, 1e5], dtype=dtype)
    out = von_mises_log_normalizer(k)
    assert torch.isfinite(out).all()
    ref = np.log(2 * np.pi * i0e(k.double().numpy())) + k.double().numpy()
    np.testing.assert_allclose(out.double().numpy(), ref, rtol=TOL[dtype] * 10)


@pytest.mark.parametrize("kappa", [1e-3, 0.5, 5.0, 100.0, 1e3])
def test_sample_moments_and_ks_against_scipy(kappa):
    g = torch.Generator().manual_seed(1)
    mix = VonMisesMixture(torch.tensor([2.5]), torch.tensor([kappa]), torch.zeros(1))
    x = mix.sample((20000,), generator=g).squeeze(-1).double().numpy()
    assert x.min() >= -math.pi and x.max() < math.pi
    r = i1e(kappa) / i0e(kappa)  # E[cos(theta - mu)]
    c = np.cos(x - 2.5)
    assert abs(c.mean() - r) < 5 * c.std() / math.sqrt(len(x)) + 1e-6
    assert abs(np.sin(x - 2.5).mean()) < 5 * np.sin(x - 2.5).std() / math.sqrt(len(x)) + 1e-6
    # Kolmogorov-Smirnov against scipy's CDF, on the angle centred at the mode.
    centred = np.remainder(x - 2.5 + math.pi, 2 * math.pi) - math.pi
    assert stats.kstest(centred, stats.vonmises(kappa).cdf).pvalue > 1e-3


def test_mixture_sample_weights():
    g = torch.Generator().manual_seed(0)
    mix = VonMisesMixture(torch.tensor([[-2.0, 2.0]]), torch.tensor([[200.0, 200.0]]), torch.log(torch.tensor([[0.25, 0.75]])))
    x = mix.sample((40000,), generator=g)
    assert x.shape == (40000, 1)
    frac = (x > 0).double().mean().item()
    assert abs(frac - 0.75) < 0.01


def test_stratified_components_each_draw_follows_the_mixture_and_counts_are_systematic():
    """Systematic sampling in a random order: every draw (slot) has the mixture's law, the
    draws of one mixture give each component floor or ceil of S w_k, mixtures stay independent."""
    w = torch.tensor([[0.55, 0.3, 0.15], [0.05, 0.05, 0.9]], dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    reps, s = 20000, 7
    comps = torch.stack([VonMisesMixture._systematic_components(w, s, g) for _ in range(reps)])  # [R, S, M]
    for m in range(2):
        counts = torch.nn.functional.one_hot(comps[:, :, m], 3).sum(1).double()  # [R, K]
        assert ((counts >= torch.floor(s * w[m])) & (counts <= torch.ceil(s * w[m]))).all()
        for slot in (0, s - 1):  # each slot's component: chi-square against the weights
            obs = torch.bincount(comps[:, slot, m], minlength=3).double().numpy()
            assert stats.chisquare(obs, reps * w[m].numpy()).pvalue > 1e-3
    # the two mixtures' components in one slot are independent: chi-square on the 3 x 3 table
    table = torch.zeros(3, 3)
    for a, b in comps[:, 0].tolist():
        table[a, b] += 1
    assert stats.chi2_contingency(table.numpy()).pvalue > 1e-3


def test_stratified_sample_ks_against_scipy_mixture():
    """Angles of stratified draws, pooled over calls of S = 5, against the mixture's CDF (scipy)."""
    loc, kap, w = [-2.0, 1.0], [4.0, 30.0], [0.3, 0.7]
    mix = VonMisesMixture(torch.tensor([loc]), torch.tensor([kap]), torch.log(torch.tensor([w])))
    g = torch.Generator().manual_seed(5)
    x = torch.cat([mix.sample((5,), generator=g, stratified=True)[:, 0] for _ in range(4000)]).double().numpy()
    def cdf(t):
        return sum(wk * (stats.vonmises.cdf(t, k, loc=mu) - stats.vonmises.cdf(-math.pi, k, loc=mu)) for wk, k, mu in zip(w, kap, loc))
    assert stats.kstest(x, cdf).pvalue > 1e-3
    # fewer missed modes than independent draws: with S = 5 both modes appear every time
    sharp = VonMisesMixture(torch.tensor([loc]), torch.tensor([[300.0, 300.0]]), torch.log(torch.tensor([w])))
    both = [((v := sharp.sample((5,), generator=g, stratified=True)[:, 0]) > -0.5).any() & (v < -0.5).any() for _ in range(200)]
    assert all(both)
    with pytest.raises(ValueError, match="one-dimensional"):
        mix.sample((2, 3), stratified=True)


def test_generator_reproduces_samples():
    mix = VonMisesMixture(torch.randn(4, 3), torch.rand(4, 3) * 10, torch.randn(4, 3))
    a = mix.sample((100,), generator=torch.Generator().manual_seed(7))
    b = mix.sample((100,), generator=torch.Generator().manual_seed(7))
    c = mix.sample((100,), generator=torch.Generator().manual_seed(8))
    assert a.shape == (100, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_extreme_concentrations_sample_without_nan():
    mix = VonMisesMixture(torch.zeros(2, 1), torch.tensor([[1e-4], [1e4]]), torch.zeros(2, 1))
    x = mix.sample((5000,), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all()
    assert x[:, 1].abs().max() < 0.1  # kappa = 1e4: std ~ 0.01 rad


def test_log_prob_is_periodic_and_differentiable():
    loc = torch.tensor([0.3, -1.0], requires_grad=True)
    kap = torch.tensor([4.0, 0.7], requires_grad=True)
    logits = torch.tensor([0.0, 0.5], requires_grad=True)
    mix = VonMisesMixture(loc, kap, logits)
    t = torch.tensor([1.2])
    assert torch.allclose(mix.log_prob(t), mix.log_prob(t + 2 * math.pi), atol=1e-5)
    mix.log_prob(t).sum().backward()
    for p in (loc, kap, logits):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_rejects_negative_concentration():
    with pytest.raises(ValueError, match="concentration"):
        VonMisesMixture(torch.zeros(1), torch.tensor([-1.0]), torch.zeros(1))
