"""The LightningCLI glue (geomgen/lightning_cli.py), through the point-cloud CLI (the cheaper of the
two that use it; tests/conformers/test_cli_train.py runs the same checks through ``geomgen vonmisesnet``)."""

import os
import subprocess
import sys

import torch

from geomgen.cli import main
from geomgen.lightning_cli import SETTINGS_KEY
from tests.pointclouds.test_cli import TINY


def _err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip() and "error" in line]


def test_fit_refuses_to_resume_a_run_trained_with_other_settings(tmp_path, monkeypatch, capsys):
    """Issue 25, D9: ``--config chamfer --ckpt_path last`` on an SW run used to continue it silently
    with the Chamfer loss. Now: exit 2, one line naming the differing keys, the checkpoint untouched."""
    monkeypatch.chdir(tmp_path)
    common = [*TINY, "--trainer.default_root_dir", str(tmp_path / "run"), "--data.path", str(tmp_path / "cache")]
    assert main(["pointcloud", "fit", "--config", "sw", *common]) == 0
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    capsys.readouterr()
    rc = main(["pointcloud", "fit", "--config", "chamfer", *common, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert rc == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("geomgen pointcloud fit: error: --ckpt_path ")
    assert str(last) in err[0] and "cannot resume" in err[0]
    assert "model.loss.class_path" in err[0] and "loss_name" in err[0]
    assert last.read_bytes() == before
    # another hyper-parameter alone is named too
    assert main(["pointcloud", "fit", "--config", "sw", *common, "--model.lr", "0.01", "--ckpt_path", "last"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "hyper_parameters.lr" in err[0] and "model.lr" in err[0]
    # a checkpoint written before the settings were recorded: the hyper-parameters and the loss name still tell
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    del ckpt[SETTINGS_KEY]
    torch.save(ckpt, last)
    assert main(["pointcloud", "fit", "--config", "chamfer", *common, "--ckpt_path", "last"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "loss_name: 'SlicedWassersteinLoss' in the checkpoint, 'ChamferLoss' now" in err[0]
    # the same settings resume
    assert main(["pointcloud", "fit", "--config", "sw", *common, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 1


def test_unusable_ckpt_path_files_are_one_line_exit_2(tmp_path, capsys):
    """Issue 25 (M): a truncated, missing or foreign ``--ckpt_path`` file used to end in a traceback."""
    truncated = tmp_path / "truncated.ckpt"
    buf = tmp_path / "whole.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(100, 100)}}, buf)
    truncated.write_bytes(buf.read_bytes()[:2000])
    notes = tmp_path / "notes.ckpt"
    notes.write_text("not a checkpoint\n")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    cases = {truncated: "not a readable checkpoint", notes: "not a readable checkpoint",
             foreign: "not a Lightning checkpoint (no 'state_dict')", tmp_path / "none.ckpt": "no such file"}  # fmt: skip
    for path, reason in cases.items():
        assert main(["pointcloud", "validate", "--config", "sw", *TINY, "--ckpt_path", str(path)]) == 2
        err = _err_lines(capsys)
        assert len(err) == 1 and err[0].startswith("geomgen pointcloud validate: error: --ckpt_path ")
        assert str(path) in err[0] and reason in err[0]


def test_training_prints_no_lightning_tips_or_library_deprecations(tmp_path):
    """Issue 25: every run printed Lightning's "💡 Tip: ... litlogger" advertisement, the TensorBoard
    notice and torch deprecation warnings raised inside Lightning. Warnings about the user's own
    settings (here: fewer batches than the logging interval) still show."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [*TINY, "--trainer.logger", "true", "--trainer.default_root_dir", str(tmp_path / "run"), "--data.path", str(tmp_path / "cache")]
    out = subprocess.run([sys.executable, "-m", "geomgen", "pointcloud", "fit", "--config", "sw", *args],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "Tip:" not in text and "litlogger" not in text and "litmodels" not in text
    assert "tensorboardX" not in text and "is deprecated" not in text
    assert "smaller than the logging interval" in text


def test_a_checkpoint_from_before_an_argument_existed_resumes_at_its_default(tmp_path, monkeypatch, capsys):
    """An argument added to the system later (``lr_decay``) is absent from older checkpoints: they
    were trained with its default, so resuming at the default works, and another value is refused."""
    monkeypatch.chdir(tmp_path)
    common = [*TINY, "--trainer.default_root_dir", str(tmp_path / "run"), "--data.path", str(tmp_path / "cache")]
    assert main(["pointcloud", "fit", "--config", "sw", *common]) == 0
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    for key in ("lr_decay", "lr_min", "init_from"):
        del ckpt["hyper_parameters"][key]
        del ckpt[SETTINGS_KEY][f"model.{key}"]
    torch.save(ckpt, last)
    capsys.readouterr()
    assert main(["pointcloud", "fit", "--config", "sw", *common, "--model.lr_decay", "cosine", "--ckpt_path", "last"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "hyper_parameters.lr_decay: absent in the checkpoint, 'cosine' now" in err[0]
    assert main(["pointcloud", "fit", "--config", "sw", *common, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 1
