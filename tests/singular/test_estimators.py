import math

import lightning as L
import pytest
import torch

from geomgen.singular import (
    MLE,
    VAE,
    Encoder,
    GeneratorNetwork,
    InstanceNoise,
    KernelDensity,
    PerturbedMLE,
    SingularDataModule,
    fit_estimator,
)
from geomgen.singular.fit import ESTIMATORS, VAL_DRAWS, validation_split
from geomgen.singular.manifolds import Circle


def circle_data(n=200, seed=0):
    return Circle(kappa=2.0).sample(n, torch.Generator().manual_seed(seed))


@pytest.mark.filterwarnings("ignore:.*treespec.*")
@pytest.mark.filterwarnings("ignore:.*does not have many workers.*")
@pytest.mark.filterwarnings("ignore:.*IterableDataset.*")
@pytest.mark.parametrize("system,likelihood", [(PerturbedMLE, "mc"), (PerturbedMLE, "iw"), (MLE, "iw"), (VAE, "iw")])
def test_fast_dev_run(system, likelihood):
    torch.manual_seed(0)
    x = circle_data()
    g = GeneratorNetwork(1, 2, hidden=16, layers=2)
    enc = Encoder(2, 1, hidden=16, layers=2) if likelihood == "iw" else None
    model = system(g, enc) if system is VAE else system(g, enc, likelihood=likelihood, num_samples=8, eval_samples=16)
    assert "generator" not in model.hparams and "lr" in model.hparams
    dm = SingularDataModule(x[:150], x[150:], noise=model.noise, fresh_noise=True, batch_size=32, seed=0)
    trainer = L.Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    assert math.isfinite(model.held_out_log_likelihood(x[150:]))
    s = model.sample(10, torch.Generator().manual_seed(0))
    assert s.shape == (10, 2) and torch.isfinite(s).all()
    assert torch.equal(s, model.sample(10, torch.Generator().manual_seed(0)))


def test_mle_has_no_noise_and_perturbed_has_some():
    g = GeneratorNetwork(1, 2)
    assert MLE(g).noise == 0.0
    assert PerturbedMLE(g, noise=0.2).noise == 0.2
    with pytest.raises(ValueError, match="encoder"):
        PerturbedMLE(g, likelihood="iw")
    with pytest.raises(ValueError, match="noise"):
        PerturbedMLE(g, noise=-1.0)


def test_instance_noise_fixed_or_fresh():
    x = torch.zeros(500, 3)
    noisy = InstanceNoise(0.2)(x, torch.Generator().manual_seed(0))
    assert abs(float(noisy.std()) - 0.2) < 0.02
    assert torch.equal(InstanceNoise(0.0)(x), x)
    fixed = SingularDataModule(x, noise=0.2, fresh_noise=False, seed=1)
    a, b = next(iter(fixed.train_dataloader()))[0], None
    assert torch.equal(fixed.perturbed_train(0), fixed.perturbed_train(5))
    fresh = SingularDataModule(x, noise=0.2, fresh_noise=True, seed=1)
    assert not torch.equal(fresh.perturbed_train(0), fresh.perturbed_train(1))
    assert a.shape == (128, 3) and b is None


def test_data_module_streams_fresh_passes_across_epochs():
    """An epoch is several passes; every pass visits each point once (batch < n drops the
    remainder), with fresh noise, and the stream continues across epochs and is seeded."""
    x = torch.arange(10.0).repeat(2, 1).T  # [10, 2], point i = (i, i)
    dm = SingularDataModule(x, noise=0.1, fresh_noise=True, batch_size=5, seed=3, passes_per_epoch=2)
    first = [b for (b,) in dm.train_dataloader()]
    second = [b for (b,) in dm.train_dataloader()]
    assert len(first) == len(second) == 4 == len(dm.train_dataloader())
    for k, pass_batches in enumerate([first[:2], first[2:], second[:2], second[2:]]):
        pts = torch.cat(pass_batches)
        assert sorted(pts[:, 0].round().tolist()) == list(range(10))  # each point once per pass
        clean = pts.round()
        assert torch.allclose(pts, dm.perturbed_train(k)[clean[:, 0].long()])  # pass k's noise
    assert not torch.equal(torch.cat(first[:2]).sort(0).values, torch.cat(first[2:]).sort(0).values)
    again = SingularDataModule(x, noise=0.1, fresh_noise=True, batch_size=5, seed=3, passes_per_epoch=2)
    assert all(torch.equal(p, q) for p, (q,) in zip(first, again.train_dataloader()))
    assert len(SingularDataModule(x, batch_size=64).train_dataloader()) == 100  # one batch of all 10 per pass
    with pytest.raises(ValueError, match="passes_per_epoch"):
        SingularDataModule(x, passes_per_epoch=0)
    with pytest.raises(ValueError, match="noise level"):
        InstanceNoise(-0.1)


def test_tiny_fit_learns_the_circle():
    x = circle_data(400)
    fitted = fit_estimator("perturbed_mle", x, intrinsic_dim=1, noise=0.05, seed=0, max_steps=150, hidden=32,
                           num_samples=128, batch_size=128)
    assert fitted.steps == 150
    y = fitted.sample(500, torch.Generator().manual_seed(0))
    assert abs(float(y.norm(dim=1).mean()) - 1.0) < 0.1  # pushed forward onto (near) the unit circle
    assert 0.02 < fitted.sigma < 0.2  # sigma settles near the instance-noise level s, not at 0


def test_fit_estimator_rejects_unknown_options():
    with pytest.raises(ValueError, match="unknown option"):
        fit_estimator("perturbed_mle", circle_data(), intrinsic_dim=1, max_stepz=3)
    with pytest.raises(ValueError, match="unknown estimator"):
        fit_estimator("gan", circle_data(), intrinsic_dim=1)


def test_kde_known_answer_and_bandwidths():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    kde = KernelDensity(0.5).fit(x)
    p = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    # at (0.5, 0) both kernels are N(0, 0.25 I_2) densities at squared distance 0.25
    ref = -0.25 / (2 * 0.25) - math.log(2 * math.pi * 0.25)
    assert abs(float(kde.log_prob(p)) - ref) < 1e-10
    data = circle_data(300).double()
    h_scott = KernelDensity("scott").fit(data).h
    h_loo = KernelDensity("loo").fit(data).h
    assert 0 < h_loo < h_scott  # singular data: likelihood cross-validation shrinks the bandwidth
    s = KernelDensity("silverman").fit(data).sample(50, torch.Generator().manual_seed(0))
    assert s.shape == (50, 2)
    with pytest.raises(ValueError, match="bandwidth"):
        KernelDensity("wide")
    with pytest.raises(RuntimeError, match="not fitted"):
        KernelDensity().sample(3)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fit_estimator_rejects_non_finite_rows(name):
    """Issue 25, D10: one NaN row gave kde / perturbed_mle a model with sigma nan and NaN samples."""
    x = Circle().sample(30, torch.Generator().manual_seed(0))
    x[7, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^fit_estimator: x has NaN or inf values in 1 of 30 rows: \[7\]$"):
        fit_estimator(name, x, intrinsic_dim=1, noise=0.1, fast_dev_run=True)
    x[:, 1] = float("inf")  # every row: the list is capped
    with pytest.raises(ValueError, match=r"in 30 of 30 rows: \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \.\.\. \(20 more\)\]$"):
        fit_estimator(name, x, intrinsic_dim=1, noise=0.1, fast_dev_run=True)


_VAL_OPTS = dict(seed=0, hidden=16, num_samples=32, eval_samples=64, batch_size=64, likelihood="iw")


def test_validation_split_holds_out_perturbed_points_fixed_by_the_seed():
    x = circle_data(100)
    rest, held = validation_split(x, 0.2, 0.05, seed=3)
    assert rest.shape == (80, 2) and held.shape == (20 * VAL_DRAWS, 2)
    # the draws differ; the points under them are the same 20 held-out points, which are not in rest
    assert not torch.equal(held[:20], held[20:40])
    assert (held[:20] - held[20:40]).norm(dim=1).max() < 0.05 * 10
    clean = {tuple(p) for p in x.tolist()} - {tuple(p) for p in rest.tolist()}
    assert len(clean) == 20
    assert torch.equal(validation_split(x, 0.2, 0.05, seed=3)[1], held)
    clean_held = validation_split(x, 0.2, 0.0, seed=3)[1]  # no noise: the clean points, once
    assert {tuple(p) for p in clean_held.tolist()} == clean
    with pytest.raises(ValueError, match="val_fraction"):
        validation_split(x, 1.0, 0.05, seed=3)


def test_validation_keeps_the_best_state():
    x = circle_data(300)
    fitted = fit_estimator("perturbed_mle", x, intrinsic_dim=1, noise=0.05, max_steps=320, val_fraction=0.2,
                           refit=False, **_VAL_OPTS)
    v = fitted.info["validation"]
    assert (v["val_points"], v["train_points"], v["steps_run"], v["refit"]) == (60, 240, 320, False)
    steps, losses = zip(*v["curve"])
    assert steps == (102, 204, 306)  # every epoch: 34 passes of 3 minibatches of 64 over the 240 kept points
    assert v["best_step"] == steps[losses.index(min(losses))] == fitted.steps
    # the model returned is in its best state: its validation loss, recomputed with the same latent draws
    _, held = validation_split(x, 0.2, 0.05, seed=0)
    with torch.no_grad():
        again = -fitted.model.log_likelihood(held, 64, torch.Generator().manual_seed(0)).mean()
    assert float(again) == pytest.approx(v["best_val_loss"], rel=1e-5)


def test_validation_refits_for_the_chosen_steps_and_patience_stops():
    x = circle_data(300)
    # lr far below float32 resolution: the weights never move, so every validation loss is the same
    # (fixed latent draws) and patience 1 stops at the second validation; the best is the first
    fitted = fit_estimator("mle", x, intrinsic_dim=1, max_steps=1000, lr=1e-12, val_fraction=0.2, patience=1,
                           **_VAL_OPTS)
    v = fitted.info["validation"]
    assert (v["steps_run"], v["best_step"], len(v["curve"])) == (204, 102, 2)
    assert v["curve"][0][1] == v["curve"][1][1]
    assert v["refit"] and fitted.steps == 102  # refitted on all 300 points for the chosen steps
