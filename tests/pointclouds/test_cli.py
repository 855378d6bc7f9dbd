import subprocess
import sys

import numpy as np
import pytest

from geomgen.cli import main
from geomgen.pointclouds.cli import configs_dir, load_autoencoder, resolve_config
from geomgen.pointclouds.io import load_point_cloud, write_point_cloud
from tests.pointclouds.losses.properties import single_thread  # noqa: F401

N = 32
TINY = [
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
    "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.logger", "false",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    "--data.n_points", str(N), "--data.shapes_per_class", "10", "--data.batch_size", "4",
    "--model.autoencoder.init_args.n_points", str(N), "--model.autoencoder.init_args.latent_dim", "8",
    "--model.autoencoder.init_args.encoder_hidden", "[8]", "--model.autoencoder.init_args.decoder_hidden", "[16]",
]  # fmt: skip


def test_every_loss_has_a_config():
    names = {p.stem for p in configs_dir().glob("*.yaml")}
    assert {"sw", "max_sw", "vdsw", "amortized_linear", "amortized_generalized_linear", "amortized_nonlinear",
            "amortized_attention", "amortized_efficient_attention", "amortized_linformer", "chamfer", "emd"} <= names  # fmt: skip
    assert resolve_config("sw").endswith("sw.yaml")
    with pytest.raises(FileNotFoundError, match="shipped config"):
        resolve_config("nope")


@pytest.mark.parametrize("config", ["amortized_linformer", "vdsw"])
def test_train_export_reconstruct_end_to_end(tmp_path, monkeypatch, config):
    monkeypatch.chdir(tmp_path)
    extra = ["--model.loss.init_args.n_iters", "2"] if config == "vdsw" else []
    args = ["pointcloud", "train", "--config", config, *TINY, *extra, "--data.path", str(tmp_path / "cache")]
    assert main(args) == 0
    ckpt = tmp_path / "runs" / "pointcloud" / config / "checkpoints" / "last.ckpt"
    assert ckpt.exists()
    # resume one more epoch from the last checkpoint
    assert main([*args[:-2], "--data.path", str(tmp_path / "cache"), "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    assert main(["pointcloud", "export", str(ckpt), "-o", str(tmp_path / "m.pt")]) == 0
    model, meta = load_autoencoder(tmp_path / "m.pt")
    assert model.config()["n_points"] == N and meta["epoch"] >= 1

    rng = np.random.default_rng(0)
    cloud = rng.random((100, 3)) * 4 + 7
    write_point_cloud(tmp_path / "in.ply", cloud)
    np.save(tmp_path / "in.npy", cloud.astype(np.float32))
    np.savetxt(tmp_path / "in.xyz", cloud)
    for inp, out in (("in.ply", "o.npy"), ("in.npy", "o.ply"), ("in.xyz", "o.xyz")):
        assert main(["pointcloud", "reconstruct", str(tmp_path / inp), "-o", str(tmp_path / out), "--model", str(tmp_path / "m.pt")]) == 0
        rec = load_point_cloud(tmp_path / out)
        assert rec.shape == (N, 3)
        assert np.linalg.norm(rec.mean(0) - cloud.mean(0)) < 4  # mapped back into the input's frame
    # the Lightning checkpoint works directly too; a batch of clouds needs .npy output
    np.save(tmp_path / "batch.npy", rng.random((3, 50, 3)).astype(np.float32))
    assert main(["pointcloud", "reconstruct", str(tmp_path / "batch.npy"), "-o", str(tmp_path / "b.npy"), "--model", str(ckpt)]) == 0
    assert np.load(tmp_path / "b.npy").shape == (3, N, 3)
    with pytest.raises(ValueError, match="need a .npy output"):
        main(["pointcloud", "reconstruct", str(tmp_path / "batch.npy"), "-o", str(tmp_path / "b.ply"), "--model", str(ckpt)])


def test_reconstruct_with_shipped_model_as_subprocess(tmp_path):
    cloud = np.random.default_rng(1).normal(size=(500, 3))
    np.savetxt(tmp_path / "c.xyz", cloud)
    out = subprocess.run(
        [sys.executable, "-m", "geomgen", "pointcloud", "reconstruct", str(tmp_path / "c.xyz"), "-o", str(tmp_path / "r.ply")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert load_point_cloud(tmp_path / "r.ply").shape[1] == 3


def test_bad_input_raises(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"\(10, 2\)"):
        main(["pointcloud", "reconstruct", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "o.npy")])
