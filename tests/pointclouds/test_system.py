import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from geomgen.pointclouds.autoencoder import PointCloudAutoencoder
from geomgen.pointclouds.datamodule import PointCloudDataModule
from geomgen.pointclouds.losses import (
    AmortizedSlicedWassersteinLoss,
    ChamferLoss,
    DistributionalSlicedWassersteinLoss,
    EarthMoversLoss,
    LinearAmortizer,
    MaxSlicedWassersteinLoss,
    SelfAttentionAmortizer,
    SlicedWassersteinLoss,
)
from geomgen.pointclouds.system import PointCloudAutoencoderSystem
from tests.pointclouds.losses.properties import single_thread  # noqa: F401

N = 32


def _ae():
    return PointCloudAutoencoder(latent_dim=8, n_points=N, encoder_hidden=(8,), decoder_hidden=(16,))


@pytest.fixture(scope="module")
def dm(tmp_path_factory):
    dm = PointCloudDataModule("shapes", path=str(tmp_path_factory.mktemp("shapes")), n_points=N, shapes_per_class=10, batch_size=8)
    dm.prepare_data()
    dm.setup()
    return dm


def _trainer(**kw):
    kw.setdefault("enable_checkpointing", False)
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False, **kw)


LOSSES = {
    "sw": lambda: SlicedWassersteinLoss(16),
    "max_sw": lambda: MaxSlicedWassersteinLoss(n_iters=2),
    "vdsw": lambda: DistributionalSlicedWassersteinLoss(8, n_iters=2),
    "amortized_linear": lambda: AmortizedSlicedWassersteinLoss(LinearAmortizer(N), n_projections=8),
    "amortized_attention": lambda: AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8, kind="linformer"), 8),
    "chamfer": ChamferLoss,
    "emd": EarthMoversLoss,
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_fast_dev_run(dm, name):
    system = PointCloudAutoencoderSystem(_ae(), LOSSES[name]())
    before = [p.detach().clone() for p in system.parameters()]
    trainer = _trainer(fast_dev_run=2)
    trainer.fit(system, dm)
    changed = [not torch.equal(a, b) for a, b in zip(before, system.parameters())]
    assert any(changed)
    if system.amortizer is not None:
        assert all(not torch.equal(a, b) for a, b in zip(before[-len(list(system.amortizer.parameters())):],
                                                          system.amortizer.parameters()))  # fmt: skip
        opts = system.configure_optimizers()
        assert opts[1].defaults["maximize"] and not opts[0].defaults["maximize"]
        ae_ids = {id(p) for g in opts[0].param_groups for p in g["params"]}
        assert not ae_ids & {id(p) for p in system.amortizer.parameters()}
    metrics = trainer.test(system, dm, verbose=False)[0]
    assert {"test/chamfer", "test/sw", "test/emd"} <= set(metrics)


def test_resume_from_checkpoint(dm, tmp_path):
    def system():
        L.seed_everything(0, verbose=False)
        return PointCloudAutoencoderSystem(_ae(), AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), 8))

    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first = _trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, callbacks=[ckpt], enable_checkpointing=True,
                     default_root_dir=tmp_path)
    first.fit(system(), dm)
    assert (tmp_path / "last.ckpt").exists()
    # global_step counts both optimizers' steps (manual optimisation): 3 batches -> 6
    assert first.global_step == 6
    resumed = system()
    second = _trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1, default_root_dir=tmp_path)
    second.fit(resumed, dm, ckpt_path=str(tmp_path / "last.ckpt"))
    assert second.current_epoch == 2 and second.global_step == 12
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["autoencoder_config"]["n_points"] == N and saved["loss_name"] == "AmortizedSlicedWassersteinLoss"
    # the hyper-parameters are the constructor's own arguments (LightningCLI parses them back from --ckpt_path FILE)
    assert set(saved["hyper_parameters"]) == {"lr", "amortizer_lr", "amortizer_betas", "weight_decay", "figure_every_n_epochs",
                                              "lr_decay", "lr_min", "init_from"}
    assert len(saved["optimizer_states"]) == 2


def test_amortizer_optimizer_comes_from_the_loss_with_the_systems_settings():
    loss = AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), 8)
    system = PointCloudAutoencoderSystem(_ae(), loss, amortizer_lr=3e-3, amortizer_betas=(0.0, 0.9))
    ae_opt, amortizer_opt = system.configure_optimizers()
    assert amortizer_opt.defaults["maximize"] and amortizer_opt.defaults["betas"] == (0.0, 0.9)
    assert amortizer_opt.defaults["lr"] == 3e-3 and ae_opt.defaults["betas"] == (0.9, 0.999)
    assert {id(p) for p in amortizer_opt.param_groups[0]["params"]} == {id(p) for p in loss.amortizer.parameters()}


def test_cosine_decay_ends_at_lr_min_and_resumes_on_schedule(dm, tmp_path):
    def system():
        L.seed_everything(0, verbose=False)
        return PointCloudAutoencoderSystem(_ae(), SlicedWassersteinLoss(8), lr=1e-2, lr_decay="cosine", lr_min=1e-4)

    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first = system()
    _trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=1, callbacks=[ckpt], enable_checkpointing=True,
             default_root_dir=tmp_path).fit(first, dm)
    # the cosine's horizon is the run's max_epochs (2): it ends at lr_min
    assert first.optimizers().param_groups[0]["lr"] == pytest.approx(1e-4)
    second = system()
    _trainer(max_epochs=4, limit_train_batches=2, limit_val_batches=1, default_root_dir=tmp_path).fit(
        second, dm, ckpt_path=str(tmp_path / "last.ckpt"))
    # the resumed schedule continues from its saved state (T_max = 2, so it climbs back up after
    # its end, as PyTorch's CosineAnnealingLR does): the same as an uninterrupted scheduler
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-2)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2, eta_min=1e-4)
    for _ in range(4):
        opt.step()
        ref.step()
    assert second.optimizers().param_groups[0]["lr"] == pytest.approx(ref.get_last_lr()[0])


def test_cosine_decay_over_max_epochs():
    system = PointCloudAutoencoderSystem(_ae(), SlicedWassersteinLoss(8), lr=1e-2, lr_decay="cosine", lr_min=1e-4)
    trainer = _trainer(max_epochs=10)
    system.trainer = trainer
    (opt,), (sched,) = system.configure_optimizers()
    lrs = []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[4] == pytest.approx((1e-2 + 1e-4) / 2) and lrs[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_bad_schedule_settings_are_refused():
    with pytest.raises(ValueError, match="lr_decay must be one of"):
        PointCloudAutoencoderSystem(_ae(), lr_decay="step")
    with pytest.raises(ValueError, match="lr_min must be in"):
        PointCloudAutoencoderSystem(_ae(), lr=1e-3, lr_min=1e-2)


def test_init_from_starts_a_new_run_from_trained_weights(dm, tmp_path):
    from geomgen.lightning_cli import UnusableCheckpoint

    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    L.seed_everything(0, verbose=False)
    trained = PointCloudAutoencoderSystem(_ae(), AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), 8))
    _trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, callbacks=[ckpt], enable_checkpointing=True,
             default_root_dir=tmp_path).fit(trained, dm)
    L.seed_everything(1, verbose=False)
    fresh = PointCloudAutoencoderSystem(_ae(), AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), 8),
                                        init_from=str(tmp_path / "last.ckpt"))
    assert not all(torch.equal(a, b) for a, b in zip(fresh.autoencoder.parameters(), trained.autoencoder.parameters()))
    fresh.setup("test")  # only fitting reads init_from
    assert not all(torch.equal(a, b) for a, b in zip(fresh.autoencoder.parameters(), trained.autoencoder.parameters()))
    fresh.setup("fit")
    assert all(torch.equal(a, b) for a, b in zip(fresh.autoencoder.parameters(), trained.autoencoder.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(fresh.amortizer.parameters(), trained.amortizer.parameters()))
    # a plain SW loss has no parameters: the network's weights alone, no warning needed
    other = PointCloudAutoencoderSystem(_ae(), SlicedWassersteinLoss(8), init_from=str(tmp_path / "last.ckpt"))
    other.setup("fit")
    assert all(torch.equal(a, b) for a, b in zip(other.autoencoder.parameters(), trained.autoencoder.parameters()))
    wider = PointCloudAutoencoderSystem(PointCloudAutoencoder(latent_dim=16, n_points=N, encoder_hidden=(8,), decoder_hidden=(16,)),
                                        init_from=str(tmp_path / "last.ckpt"))
    with pytest.raises(UnusableCheckpoint, match="its network differs"):
        wider.setup("fit")
    # a model file of `geomgen pointcloud export`: the network's weights (float32), the loss fresh
    from geomgen.pointclouds.checkpoint import export

    export(tmp_path / "last.ckpt", tmp_path / "model.pt")
    exported = PointCloudAutoencoderSystem(_ae(), AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8), 8),
                                           init_from=str(tmp_path / "model.pt"))
    with pytest.warns(UserWarning, match="start fresh"):
        exported.setup("fit")
    for a, b in zip(exported.autoencoder.state_dict().values(), trained.autoencoder.state_dict().values()):
        torch.testing.assert_close(a, b.to(a.dtype), rtol=1e-6, atol=1e-7)
    missing = PointCloudAutoencoderSystem(_ae(), init_from=str(tmp_path / "nope.ckpt"))
    with pytest.raises(UnusableCheckpoint, match="nope.ckpt"):
        missing.setup("fit")
