import pytest
import torch

from geomgen.pointclouds.losses import (
    ATTENTION_KINDS,
    AmortizedSlicedWassersteinLoss,
    GeneralizedLinearAmortizer,
    LinearAmortizer,
    NonLinearAmortizer,
    SelfAttentionAmortizer,
    projected_wasserstein,
)
from tests.pointclouds.losses.properties import assert_permutation_invariant, assert_symmetric, assert_zero_on_identical


def _pair(n=24, m=24, b=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, 3, generator=g, dtype=dtype), 0.5 * torch.randn(b, m, 3, generator=g, dtype=dtype) + 0.2


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_self_attention_amortizer_invariances(kind):
    torch.manual_seed(0)
    f = SelfAttentionAmortizer(hidden=8, kind=kind, linformer_k=4).double()
    x, y = _pair()
    out = f(x, y)
    assert out.shape == (3, 3) and torch.allclose(out.norm(dim=-1), torch.ones(3, dtype=torch.float64))
    assert_permutation_invariant(f, x, y, rtol=1e-10, atol=1e-12)
    assert_symmetric(f, x, y, rtol=1e-10, atol=1e-12)
    x2, y2 = _pair(n=24, m=17)  # clouds of different sizes
    assert_symmetric(f, x2, y2, rtol=1e-10, atol=1e-12)
    assert_permutation_invariant(f, x2, y2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [LinearAmortizer, GeneralizedLinearAmortizer, NonLinearAmortizer])
def test_index_weighted_amortizers(cls):
    torch.manual_seed(0)
    f = cls(24).double()
    x, y = _pair()
    out = f(x, y)
    assert out.shape == (3, 3) and torch.allclose(out.norm(dim=-1), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[B, 24, 3\].*\(3, 10, 3\)"):
        f(x[:, :10], y[:, :10])


def test_amortized_loss_gives_both_players_gradients():
    torch.manual_seed(0)
    loss = AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), n_projections=16, concentration=10.0).double()
    x, y = _pair()
    y.requires_grad_(True)
    v = loss(x, y)
    assert v.shape == (3,)
    v.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    grads = [p.grad for p in loss.amortizer.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    # zero for identical clouds; eval mode detaches the projections from the amortizer
    assert_zero_on_identical(loss, x)
    loss.eval()
    loss.zero_grad()
    loss(x, y).sum().backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in loss.amortizer.parameters())


def test_amortizer_ascent_step_increases_the_projected_distance():
    torch.manual_seed(1)
    loss = AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), concentration=None).double()
    x, y = _pair()
    opt = torch.optim.SGD(loss.amortizer.parameters(), lr=1e-2, maximize=True)

    def objective():
        return projected_wasserstein(x, y, loss.projections(x, y)).mean()

    before = objective()
    before.backward()
    opt.step()
    assert objective() > before


def test_amortized_loss_rejects_negative_concentration():
    with pytest.raises(ValueError, match="concentration"):
        AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(), concentration=-1.0)
