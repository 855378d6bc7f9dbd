import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback

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


def test_every_config_rewrites_last_checkpoint_every_epoch():
    """A ModelCheckpoint with ``save_last`` and a monitor rewrites last.ckpt only when the metric
    improves; the shipped configs use a monitor-less one named ``last``, saved at every epoch end,
    in ``<default_root_dir>/checkpoints`` (no dirpath, so ``--trainer.default_root_dir`` moves it)."""
    for path in configs_dir().glob("*.yaml"):
        callbacks = yaml.safe_load(path.read_text())["trainer"]["callbacks"]
        checkpoints = [c.get("init_args", {}) for c in callbacks if c["class_path"].endswith("ModelCheckpoint")]
        last = [c for c in checkpoints if c.get("filename") == "last"]
        assert len(last) == 1 and last[0].get("monitor") is None and last[0]["save_on_train_epoch_end"], path.name
        assert not any(c.get("save_last") or c.get("dirpath") for c in checkpoints), path.name


class RecordStart(Callback):
    """Writes ``"<epoch> <global step>"`` to ``path`` when fitting starts (after any resume)."""

    def __init__(self, path: str):
        self.path = path

    def on_train_start(self, trainer, pl_module) -> None:
        Path(self.path).write_text(f"{trainer.current_epoch} {trainer.global_step}")


def test_fit_resumes_from_last_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # logger on: each run gets a new version_N folder, the checkpoints must not
    opts = ["--config", "amortized_linformer", *TINY, "--trainer.logger", "true", "--data.path", str(tmp_path / "cache")]
    args = ["pointcloud", "fit", *opts]
    assert main(args) == 0
    last = tmp_path / "runs" / "pointcloud" / "amortized_linformer" / "checkpoints" / "last.ckpt"
    first = torch.load(last, map_location="cpu", weights_only=True)
    # global_step counts both optimizers' steps (manual optimisation): 2 batches -> 4
    assert first["epoch"] == 0 and first["global_step"] == 4

    record = {"class_path": f"{__name__}.RecordStart", "init_args": {"path": str(tmp_path / "start.txt")}}
    assert main([*args, "--trainer.max_epochs", "2", f"--trainer.callbacks+={json.dumps(record)}", "--ckpt_path", "last"]) == 0
    # the second run started where the first stopped (epoch 1, step 4), not from epoch 0
    assert (tmp_path / "start.txt").read_text() == "1 4"
    second = torch.load(last, map_location="cpu", weights_only=True)
    assert second["epoch"] == 1 and second["global_step"] == 8
    assert not list(tmp_path.rglob("version_*/**/*.ckpt"))
    # an explicit checkpoint file: LightningCLI parses its hyper-parameters back into the model's arguments
    assert main(["pointcloud", "validate", *opts, "--ckpt_path", str(last)]) == 0


def test_ckpt_path_last_with_nothing_to_resume_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "elsewhere"
    rc = main(["pointcloud", "fit", "--config", "sw", *TINY, "--trainer.default_root_dir", str(root), "--ckpt_path", "last"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--ckpt_path last" in err and os.path.realpath(root / "checkpoints") in err


@pytest.mark.parametrize(("config", "verb"), [("amortized_linformer", "train"), ("vdsw", "fit")])
def test_train_export_reconstruct_end_to_end(tmp_path, monkeypatch, capsys, config, verb):
    monkeypatch.chdir(tmp_path)
    extra = ["--model.loss.init_args.n_iters", "2"] if config == "vdsw" else []
    args = ["pointcloud", verb, "--config", config, *TINY, *extra, "--data.path", str(tmp_path / "cache")]
    assert main(args) == 0
    deprecated = "geomgen pointcloud train is deprecated: use 'geomgen pointcloud fit'"
    assert (deprecated in capsys.readouterr().err) == (verb == "train")
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
    assert main(["pointcloud", "reconstruct", str(tmp_path / "batch.npy"), "-o", str(tmp_path / "b.ply"), "--model", str(ckpt)]) == 2
    assert f"{tmp_path / 'b.ply'}: 3 clouds need a .npy output" in capsys.readouterr().err


def test_reconstruct_with_shipped_model_as_subprocess(tmp_path):
    cloud = np.random.default_rng(1).normal(size=(500, 3))
    np.savetxt(tmp_path / "c.xyz", cloud)
    out = subprocess.run(
        [sys.executable, "-m", "geomgen", "pointcloud", "reconstruct", str(tmp_path / "c.xyz"), "-o", str(tmp_path / "r.ply")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert load_point_cloud(tmp_path / "r.ply").shape[1] == 3


def test_model_files_load_weights_only(tmp_path):
    model, meta = load_autoencoder()  # the shipped models/pointcloud_ae_shapes.pt
    assert model.config()["n_points"] > 0 and not model.training
    from geomgen.assets import asset_path

    shipped = Path(asset_path("models/pointcloud_ae_shapes.pt"))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(shipped.read_bytes()[:1000])
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1.0}}, other)
    for bad in (truncated, text, other):
        with pytest.raises(ValueError, match=bad.name):
            load_autoencoder(bad)
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_autoencoder(tmp_path / "nothing.pt")


def _write_bad_inputs(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "n2.npy", np.zeros((10, 2)))
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    (tmp_path / "zero.npy").write_bytes(b"")
    nan = rng.random((100, 3))
    nan[3, 1], nan[5, 0], nan[5, 2] = np.nan, np.inf, -np.inf
    np.save(tmp_path / "nan.npy", nan)
    batch = rng.random((2, 40, 3))
    batch[1, 7, 0] = np.nan
    np.save(tmp_path / "batchnan.npy", batch)
    write_point_cloud(tmp_path / "ok.ply", rng.random((100, 3)))
    (tmp_path / "cut.ply").write_bytes((tmp_path / "ok.ply").read_bytes()[:300])
    write_point_cloud(tmp_path / "ok.npy", rng.random((100, 3)))
    (tmp_path / "afile").write_text("")
    (tmp_path / "notes.pt").write_text("not a model\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["n2.npy", "-o", "o.npy"], "n2.npy: expected points of shape [N, 3] with N >= 1, got (10, 2)"),
        (["empty.npy", "-o", "o.npy"], "empty.npy: expected points of shape [N, 3] with N >= 1, got (0, 3)"),
        (["zero.npy", "-o", "o.npy"], "zero.npy: not a readable .npy file (empty, cut short or malformed: EOFError)"),
        (["nan.npy", "-o", "o.npy"], "nan.npy: 3 non-finite value(s) (NaN or inf) in 2 of 100 points; remove or fix them"),
        (["batchnan.npy", "-o", "o.npy"], "batchnan.npy: 1 non-finite value(s) (NaN or inf) in 1 of 80 points; remove or fix them"),
        (["cut.ply", "-o", "o.npy"], "cut.ply: PLY file cut short: 7 of 100 vertex rows"),
        (["missing.npy", "-o", "o.npy"], "missing.npy: no such file"),
        (["ok.npy", "-o", "o.npy", "--model", "nothing.pt"], "point-cloud autoencoder file '{tmp}/nothing.pt' does not exist"),
        (["ok.npy", "-o", "o.npy", "--model", "notes.pt"], "notes.pt: not a readable geomgen autoencoder file"),
        (["ok.npy", "-o", "x.foo"], "x.foo': unknown output type '.foo' (use .npy or .xyz or .txt or .ply)"),
        (["ok.npy", "-o", "/proc/x.npy"], "'/proc/x.npy': cannot write here"),
        (["ok.npy", "-o", "."], "': is a folder; give a file name ending in .npy or .xyz or .txt or .ply"),
        (["ok.npy", "-o", "afile/x.npy"], "afile/x.npy': '{tmp}/afile' is a file, not a folder"),
    ],
)
def test_bad_reconstruct_arguments_are_one_line_exit_2(tmp_path, capsys, args, message):
    """Issue 13, items 3 and 5: each used to end in a traceback (or, for NaN, an all-NaN reconstruction with exit 0)."""
    _write_bad_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a if a.startswith(("-", "/")) else str(tmp_path / a) for a in args]
    assert main(["pointcloud", "reconstruct", *args]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("geomgen pointcloud reconstruct: ")
    assert message.format(tmp=tmp_path) in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_output_path_is_checked_before_the_model_is_loaded(tmp_path, capsys, monkeypatch):
    import geomgen.pointclouds.cli as pc_cli

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(pc_cli, "load_autoencoder", no_model)
    _write_bad_inputs(tmp_path)
    for out in ("x.foo", "/proc/x.npy", str(tmp_path)):
        assert main(["pointcloud", "reconstruct", str(tmp_path / "ok.npy"), "-o", out]) == 2


def test_small_clouds_are_upsampled_with_a_warning(tmp_path, capsys):
    np.save(tmp_path / "three.npy", np.eye(3))
    assert main(["pointcloud", "reconstruct", str(tmp_path / "three.npy"), "-o", str(tmp_path / "o.npy")]) == 0
    model, _ = load_autoencoder()
    n = model.config()["n_points"]
    err = capsys.readouterr().err
    assert f"geomgen pointcloud reconstruct: warning: {tmp_path / 'three.npy'}: 3 point(s), the model takes {n}: " \
           f"{n - 3} point(s) of each cloud repeated at random" in err
    assert np.load(tmp_path / "o.npy").shape == (n, 3)


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["pointcloud", "export", str(tmp_path / "none.ckpt"), "-o", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("geomgen pointcloud export: ") and "none.ckpt" in err and "\n" not in err


def test_complex_clouds_are_refused_one_line_exit_2(tmp_path, capsys):
    """Issue 25 (M): a complex .npy cloud (or batch of clouds) was reconstructed from its real part."""
    np.save(tmp_path / "one.npy", np.ones((20, 3), dtype=np.complex64))
    np.save(tmp_path / "batch.npy", np.ones((2, 20, 3), dtype=np.complex128))
    for name, dtype in (("one.npy", "complex64"), ("batch.npy", "complex128")):
        assert main(["pointcloud", "reconstruct", str(tmp_path / name), "-o", str(tmp_path / "o.npy")]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"geomgen pointcloud reconstruct: {tmp_path / name}: complex values (dtype {dtype}); point coordinates must be real numbers"
        assert not (tmp_path / "o.npy").exists()


def test_fit_on_a_folder_with_bad_files_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    """Issue 25, D8: ``geomgen pointcloud fit`` on a folder holding a 2-D or a NaN .npy file ended in a
    traceback mid-epoch; the files are now checked when the data are set up, before any step."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        np.save(data / f"ok{i}.npy", rng.random((40, 3)))
    np.save(data / "flat.npy", rng.random((40, 2)))
    nan = rng.random((40, 3))
    nan[0, 0] = np.nan
    np.save(data / "nan.npy", nan)
    args = ["pointcloud", "fit", "--config", "sw", *TINY, "--data.dataset", "folder", "--data.path", str(data)]
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and err[0].startswith(f"geomgen pointcloud fit: error: PointCloudFolder {str(data)!r}: 2 of 10 files")
    assert f"{data / 'flat.npy'}: expected points of shape [N, 3]" in err[0] and f"{data / 'nan.npy'}: 1 non-finite" in err[0]
    assert not list(tmp_path.rglob("*.ckpt"))


def test_export_output_is_checked_first_and_write_failures_leave_nothing(tmp_path, capsys, monkeypatch):
    """Issue 25 (M): ``-o /sys/x.pt`` or an existing folder failed only after the checkpoint was read
    (or with a traceback). The output is checked first (a missing input is not even looked at):
    one line, exit 2; a write that fails midway exits 1 and leaves no file, partial or temporary."""
    (tmp_path / "afile").write_text("")
    missing = str(tmp_path / "nothing.ckpt")
    cases = {"/sys/x.pt": "cannot write here", str(tmp_path): "is a folder",
             str(tmp_path / "afile" / "x.pt"): "is a file, not a folder", str(tmp_path / "x.npy"): "unknown output type '.npy'"}  # fmt: skip
    for output, reason in cases.items():
        assert main(["pointcloud", "export", missing, "-o", output]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"geomgen pointcloud export: {output!r}") and reason in err and "\n" not in err
    from geomgen.assets import asset_path
    from geomgen.pointclouds.checkpoint import DEFAULT_MODEL

    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        real_save({"half": torch.zeros(1000)}, f)
        raise OSError(28, "No space left on device", str(f))

    monkeypatch.setattr(torch, "save", full_disk)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["pointcloud", "export", str(asset_path(DEFAULT_MODEL)), "-o", str(tmp_path / "out.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("geomgen pointcloud export: ") and "No space left on device" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_every_amortized_config_uses_the_amortized_loss_s_default_concentration():
    """The shipped amortized configs train with the concentration the loss defaults to (1, the
    official code's; Table 1 at convergence measured 10 worse than SW)."""
    import inspect

    from geomgen.pointclouds.losses import AmortizedSlicedWassersteinLoss

    default = inspect.signature(AmortizedSlicedWassersteinLoss).parameters["concentration"].default
    paths = [p for p in configs_dir().glob("*.yaml") if "amortized" in p.stem]
    assert len(paths) >= 7
    for path in paths:
        loss = yaml.safe_load(path.read_text())["model"]["loss"]
        assert loss["class_path"].endswith("AmortizedSlicedWassersteinLoss"), path
        assert loss["init_args"]["concentration"] == default == 1.0, path
