import csv

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from geomgen.pointclouds.autoencoder import PointCloudAutoencoder
from geomgen.pointclouds.datamodule import PointCloudDataModule
from geomgen.pointclouds.losses import SlicedWassersteinLoss
from geomgen.pointclouds.monitor import TrainingMonitor, fixed_shapes
from geomgen.pointclouds.system import PointCloudAutoencoderSystem
from tests.pointclouds.losses.properties import single_thread  # noqa: F401

N = 32


def _system(every=1):
    L.seed_everything(0, verbose=False)
    ae = PointCloudAutoencoder(latent_dim=8, n_points=N, encoder_hidden=(8,), decoder_hidden=(16,))
    return PointCloudAutoencoderSystem(ae, SlicedWassersteinLoss(16), figure_every_n_epochs=every)


def _fit(tmp_path, system, max_epochs, ckpt_path=None):
    dm = PointCloudDataModule("shapes", path=str(tmp_path / "cache"), n_points=N, shapes_per_class=10, batch_size=8)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=max_epochs, limit_train_batches=2, default_root_dir=tmp_path,
                        logger=CSVLogger(tmp_path, name="logs", version=0), enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True)], log_every_n_steps=1)  # fmt: skip
    trainer.fit(system, dm, ckpt_path=ckpt_path)
    return trainer


def test_every_run_logs_val_metrics_wall_time_and_writes_figures(tmp_path):
    trainer = _fit(tmp_path, _system(every=2), max_epochs=3)
    rows = list(csv.DictReader(open(tmp_path / "logs" / "version_0" / "metrics.csv")))
    val = [r for r in rows if r.get("val/chamfer")]
    assert len(val) == 3  # one per epoch, none from the sanity check
    for key in ("val/chamfer", "val/sw", "val/emd", "val/train_wall_s", "val/batches"):
        assert all(float(r[key]) >= 0 for r in val), key
    assert [float(r["val/batches"]) for r in val] == [2.0, 4.0, 6.0]
    walls = [float(r["val/train_wall_s"]) for r in val]
    assert walls == sorted(walls) and walls[0] > 0
    # epoch 2 (every 2) and epoch 3 (the last)
    assert sorted(p.name for p in (tmp_path / "reconstructions").glob("*.png")) == ["epoch0002.png", "epoch0003.png"]
    assert trainer.checkpoint_callback is not None


def test_wall_time_and_batches_survive_a_resume(tmp_path):
    _fit(tmp_path, _system(every=0), max_epochs=1)
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"]["TrainingMonitor"]
    assert saved["batches"] == 2 and saved["train_wall_s"] > 0
    trainer = _fit(tmp_path, _system(every=0), max_epochs=2, ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"))
    monitor = next(c for c in trainer.callbacks if isinstance(c, TrainingMonitor))
    assert monitor.batches == 4 and monitor.train_wall_s > saved["train_wall_s"]
    assert not (tmp_path / "reconstructions").exists()  # every=0: no figures


def test_fixed_shapes_takes_one_of_each_class_first():
    data = [(torch.zeros(1), torch.tensor(c)) for c in [0, 0, 1, 1, 2, 2]]
    assert fixed_shapes(data, 3) == [0, 2, 4]
    assert fixed_shapes(data, 4) == [0, 1, 2, 4]
    assert fixed_shapes([torch.zeros(1)] * 5, 2) == [0, 1]
