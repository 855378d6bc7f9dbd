import inspect

import pytest
import torch

from geomgen.pointclouds.losses import (
    DEFAULT_N_PROJECTIONS,
    AmortizedSlicedWassersteinLoss,
    DistributionalSlicedWassersteinLoss,
    EnergyBasedSlicedWassersteinLoss,
    MaxSlicedWassersteinLoss,
    QuasiSlicedWassersteinLoss,
    RandomPathSlicedWassersteinLoss,
    SelfAttentionAmortizer,
    SlicedWassersteinLoss,
    distributional_sliced_wasserstein,
    energy_based_sliced_wasserstein,
    importance_weighted_random_path_sliced_wasserstein,
    projected_wasserstein,
    quasi_sliced_wasserstein,
    random_path_sliced_wasserstein,
    sliced_wasserstein,
)


def _pair(n=24, b=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, 3, generator=g, dtype=dtype), 0.5 * torch.randn(b, n, 3, generator=g, dtype=dtype) + 0.2


def test_one_default_number_of_projections():
    defaults = {
        f.__qualname__: inspect.signature(f).parameters["n_projections"].default
        for f in (sliced_wasserstein, distributional_sliced_wasserstein, SlicedWassersteinLoss.__init__,
                  DistributionalSlicedWassersteinLoss.__init__, AmortizedSlicedWassersteinLoss.__init__,
                  energy_based_sliced_wasserstein, quasi_sliced_wasserstein, random_path_sliced_wasserstein,
                  importance_weighted_random_path_sliced_wasserstein, EnergyBasedSlicedWassersteinLoss.__init__,
                  QuasiSlicedWassersteinLoss.__init__, RandomPathSlicedWassersteinLoss.__init__)
    }  # fmt: skip
    assert set(defaults.values()) == {DEFAULT_N_PROJECTIONS} == {100}, defaults


@pytest.mark.parametrize("make", [lambda: MaxSlicedWassersteinLoss(n_iters=5), lambda: DistributionalSlicedWassersteinLoss(8, n_iters=5),
                                  lambda: AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), 8)])  # fmt: skip
def test_modules_return_unit_directions_on_request(make):
    torch.manual_seed(0)
    loss = make().double()
    x, y = _pair()
    value, direction = loss(x, y, return_direction=True)
    assert value.shape == (3,) and direction.shape == (3, 3) and not direction.requires_grad
    assert torch.allclose(direction.norm(dim=-1), torch.ones(3, dtype=torch.float64))
    assert loss(x, y).shape == (3,)


def test_amortized_direction_is_the_amortizers_and_achieves_the_value_without_concentration():
    torch.manual_seed(0)
    loss = AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), concentration=None).double()
    x, y = _pair()
    value, eps = loss(x, y, return_direction=True)
    assert torch.allclose(eps, loss.amortizer(x, y))
    assert torch.allclose(value, projected_wasserstein(x, y, eps.unsqueeze(1)).squeeze(-1).sqrt())


def test_amortizer_optimizer_owned_by_the_loss():
    torch.manual_seed(1)
    loss = AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), concentration=None).double()
    x, y = _pair()
    with pytest.raises(RuntimeError, match="configure_amortizer_optimizer"):
        loss.amortizer_step(x, y)
    opt = loss.configure_amortizer_optimizer(lr=1e-2, betas=(0.0, 0.9))
    assert opt is loss.amortizer_optimizer and opt.defaults["maximize"] and opt.defaults["betas"] == (0.0, 0.9)
    assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in loss.amortizer.parameters()}
    with pytest.raises(ValueError, match="both x and y"):
        loss.amortizer_step(x)

    # the official scheme: re-evaluate on the detached pair, ascend; the distance grows, no gradient leaks
    y.requires_grad_(True)
    before = loss.amortizer_step(x, y)
    assert before.shape == (3,) and not before.requires_grad and y.grad is None
    assert loss(x, y).detach().mean() > before.mean()
    assert all(p.grad is None for p in loss.amortizer.parameters())

    # the one-backward scheme: step with the gradients of the last backward pass, then clear them
    params = [p.detach().clone() for p in loss.amortizer.parameters()]
    loss(x, y).mean().backward()
    assert y.grad is not None and loss.amortizer_step() is None
    assert all(not torch.equal(a, b) for a, b in zip(params, loss.amortizer.parameters()))
    assert all(p.grad is None for p in loss.amortizer.parameters())


@pytest.mark.parametrize("make", [SlicedWassersteinLoss, lambda: MaxSlicedWassersteinLoss(n_iters=2),
                                  lambda: DistributionalSlicedWassersteinLoss(4, n_iters=2),
                                  lambda: AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), 4)])  # fmt: skip
def test_modules_refuse_non_finite_clouds(make):
    """Issue 25, S4: a NaN coordinate gave a finite (0.0) loss for that cloud; every SW loss refuses it,
    the amortized one too (it goes through its own projections) and its amortizer step."""
    torch.manual_seed(0)
    loss = make().double()
    x, y = _pair()
    y[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"y \(3, 24, 3\) holds 1 non-finite value"):
        loss(x, y)
    if isinstance(loss, AmortizedSlicedWassersteinLoss):
        loss.configure_amortizer_optimizer()
        with pytest.raises(ValueError, match=r"y \(3, 24, 3\) holds 1 non-finite value"):
            loss.amortizer_step(x, y)


# --- the slicing variants beyond the paper: selectable by config and in Table 1 ---------------------------------

NEW_LOSS_CONFIGS = {
    "ebsw": "EnergyBasedSlicedWassersteinLoss",
    "qsw": "QuasiSlicedWassersteinLoss",
    "rqsw": "QuasiSlicedWassersteinLoss",
    "rpsw": "RandomPathSlicedWassersteinLoss",
    "iwrpsw": "RandomPathSlicedWassersteinLoss",
}


def _instantiate(spec: dict) -> torch.nn.Module:
    """A ``class_path`` / ``init_args`` dict checked against its constructor by jsonargparse, as LightningCLI does."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--module", type=torch.nn.Module)
    return parser.instantiate(parser.parse_object({"module": spec})).module


@pytest.mark.parametrize("name", sorted(NEW_LOSS_CONFIGS))
def test_new_losses_have_configs_that_build_them(name):
    import yaml

    from geomgen.pointclouds.cli import resolve_config

    spec = yaml.safe_load(open(resolve_config(name)).read())
    assert spec["trainer"]["default_root_dir"] == f"runs/pointcloud/{name}"
    loss = _instantiate(spec["model"]["loss"])
    assert type(loss).__name__ == NEW_LOSS_CONFIGS[name]
    x, y = _pair()
    value = loss(x, y)
    assert value.shape == (3,) and torch.isfinite(value).all()
    if name == "rqsw":
        assert loss.randomize == "rotation"
    if name == "iwrpsw":
        assert loss.importance_weighted


def test_new_losses_are_rows_of_the_geomgen_table1_protocol():
    import yaml

    from geomgen.pointclouds.cli import configs_dir

    methods = yaml.safe_load((configs_dir() / "table1" / "geomgen.yaml").read_text())["methods"]
    for row, name in (("EBSW", "ebsw"), ("QSW", "qsw"), ("RQSW", "rqsw"), ("RPSW", "rpsw"), ("IWRPSW", "iwrpsw")):
        shipped = yaml.safe_load((configs_dir() / f"{name}.yaml").read_text())["model"]["loss"]
        assert methods[row] == shipped, row  # the row trains with the shipped config's loss
        assert isinstance(_instantiate(methods[row]), torch.nn.Module)
