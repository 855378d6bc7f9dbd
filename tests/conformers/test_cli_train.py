import json
import os
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

import geomgen.conformers
from geomgen.assets import asset_path
from geomgen.cli import main
from geomgen.conformers.system import VonMisesNetSystem

CONFIG = str(Path(geomgen.conformers.__file__).parent / "configs" / "vonmisesnet.yaml")


class RecordStart(Callback):
    """Writes ``"<epoch> <global step>"`` to ``path`` when fitting starts (after any resume)."""

    def __init__(self, path: str):
        self.path = path

    def on_train_start(self, trainer, pl_module) -> None:
        Path(self.path).write_text(f"{trainer.current_epoch} {trainer.global_step}")


def _args(reference, tmp_path) -> list[str]:
    # the shipped config (logger on, so each run gets a new version_N folder) on the tiny set, tiny net
    return [
        "--config", CONFIG, f"--trainer.default_root_dir={tmp_path / 'run'}",
        "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1", "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        f"--data.train={reference}", f"--data.val={reference}", f"--data.test={reference}", f"--data.root={tmp_path / 'cache'}",
        "--data.batch_size=3", "--data.train_samples=8", "--data.converged_only=false", "--model.w1_samples=16",
        "--model.net.init_args.hidden=16", "--model.net.init_args.num_layers=1", "--model.net.init_args.num_components=2",
    ]  # fmt: skip


def test_fit_resumes_from_last_checkpoint(tiny_reference, tmp_path):
    args = _args(tiny_reference, tmp_path)
    assert main(["vonmisesnet", "fit", *args, "--trainer.max_epochs=1"]) == 0
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    first = torch.load(last, map_location="cpu", weights_only=True)
    assert first["epoch"] == 0 and first["global_step"] == 2

    record = {"class_path": f"{__name__}.RecordStart", "init_args": {"path": str(tmp_path / "start.txt")}}
    resume = [*args, "--trainer.max_epochs=2", f"--trainer.callbacks+={json.dumps(record)}", "--ckpt_path", "last"]
    assert main(["vonmisesnet", "fit", *resume]) == 0
    # the second run started where the first stopped (epoch 1, step 2), not from epoch 0
    assert (tmp_path / "start.txt").read_text() == "1 2"
    second = torch.load(last, map_location="cpu", weights_only=True)
    assert second["epoch"] == 1 and second["global_step"] == 4
    assert VonMisesNetSystem.from_checkpoint(last).net.config["hidden"] == 16
    # one fixed folder: nothing under the loggers' version_N folders
    assert not list((tmp_path / "run").rglob("version_*/**/*.ckpt"))
    # the other stages take the same checkpoint (an explicit file: LightningCLI re-reads its hyper-parameters)
    assert main(["vonmisesnet", "test", *args, "--ckpt_path", str(last)]) == 0


def test_ckpt_path_last_with_nothing_to_resume_exits_2(tmp_path, capsys):
    rc = main(["vonmisesnet", "fit", *_args(tmp_path / "missing.npz", tmp_path), "--ckpt_path", "last"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--ckpt_path last" in err and os.path.realpath(tmp_path / "run" / "checkpoints") in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_stages(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["vonmisesnet", "predict"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["vonmisesnet", "fit", "--help"])
    assert exit_.value.code == 0 and "--ckpt_path" in capsys.readouterr().out


def test_checkpoints_load_weights_only(tmp_path):
    shipped = asset_path("models/vonmisesnet.ckpt")
    system = VonMisesNetSystem.from_checkpoint(shipped)
    assert not system.training and system.hparams.lr > 0
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(Path(shipped).read_bytes()[:1000])
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    for bad in (truncated, text, other):
        with pytest.raises(ValueError, match=bad.name):
            VonMisesNetSystem.from_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        VonMisesNetSystem.from_checkpoint(tmp_path / "nothing.ckpt")


def test_export_command(tiny_checkpoint, tiny_reference, tmp_path, capsys):
    """``geomgen vonmisesnet export``: one checkpoint gives a slim one, two an ensemble, and a
    missing checkpoint exits 2 naming it, writing nothing. The test stage scores the network a
    checkpoint holds, an ensemble or one configured otherwise, whatever the config's network."""
    from geomgen.conformers.checkpoint import load_vonmisesnet
    from geomgen.conformers.commands.train import cli_main
    from geomgen.conformers.model import VonMisesNet, VonMisesNetEnsemble

    assert main(["vonmisesnet", "export", str(tiny_checkpoint), "-o", str(tmp_path / "slim.ckpt")]) == 0
    assert load_vonmisesnet(tmp_path / "slim.ckpt").config == load_vonmisesnet(tiny_checkpoint).config
    assert main(["vonmisesnet", "export", str(tiny_checkpoint), str(tmp_path / "slim.ckpt"), "-o", str(tmp_path / "ens.ckpt")]) == 0
    ens = load_vonmisesnet(tmp_path / "ens.ckpt")
    assert isinstance(ens, VonMisesNetEnsemble) and len(ens.members) == 2
    args = _args(tiny_reference, tmp_path)  # a 1-layer, 2-component network: not the checkpoints'
    for ckpt, kind in ((tmp_path / "slim.ckpt", VonMisesNet), (tmp_path / "ens.ckpt", VonMisesNetEnsemble)):
        cli = cli_main(["test", *args, "--ckpt_path", str(ckpt)])
        assert type(cli.model.net) is kind and cli.model.net.config == load_vonmisesnet(ckpt).config
        assert 0 < cli.trainer.callback_metrics["test/w1"] < 3.2
    capsys.readouterr()
    assert main(["vonmisesnet", "export", str(tmp_path / "nope.ckpt"), "-o", str(tmp_path / "x.ckpt")]) == 2
    assert "nope.ckpt" in capsys.readouterr().err and not (tmp_path / "x.ckpt").exists()


def _slim_checkpoint(path):
    from geomgen.conformers.model import VonMisesNet

    net = VonMisesNet(hidden=16, num_layers=1, num_components=2)
    torch.save({"net_config": net.config, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def test_export_output_is_checked_first_and_write_failures_leave_nothing(tmp_path, capsys, monkeypatch):
    """Issue 25 (M): ``-o /sys/x.pt``, ``-o`` an existing folder and a failed write gave tracebacks.
    The output is checked before any checkpoint is read (a missing input is not even looked at):
    one line, exit 2; a write that fails midway exits 1 and leaves no file, partial or temporary."""
    (tmp_path / "afile").write_text("")
    missing = str(tmp_path / "nothing.ckpt")
    cases = {"/sys/x.pt": "cannot write here", "/proc/x.ckpt": "cannot write here", str(tmp_path): "is a folder",
             str(tmp_path / "afile" / "x.ckpt"): "is a file, not a folder", str(tmp_path / "x.txt"): "unknown output type '.txt'"}  # fmt: skip
    for output, reason in cases.items():
        assert main(["vonmisesnet", "export", missing, "-o", output]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"geomgen vonmisesnet export: error: {output!r}") and reason in err and "\n" not in err
    src = _slim_checkpoint(tmp_path / "src.ckpt")
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        real_save({"half": torch.zeros(1000)}, f)
        raise OSError(28, "No space left on device", str(f))

    monkeypatch.setattr(torch, "save", full_disk)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["vonmisesnet", "export", str(src), "-o", str(tmp_path / "out.ckpt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("geomgen vonmisesnet export: error: ") and "No space left on device" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unusable_ckpt_path_is_one_line_exit_2(tmp_path, capsys):
    """Issue 25 (M): ``geomgen vonmisesnet validate --ckpt_path truncated.ckpt`` ended in a traceback;
    so did a checkpoint whose net_config does not fit VonMisesNet."""
    src = _slim_checkpoint(tmp_path / "src.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(src.read_bytes()[:3000])
    odd = tmp_path / "odd.ckpt"
    ckpt = torch.load(src, weights_only=True)
    ckpt["net_config"]["width"] = 3
    torch.save(ckpt, odd)
    for path, reason in ((truncated, "not a readable checkpoint"), (odd, "unknown VonMisesNet argument(s) width")):
        assert main(["vonmisesnet", "validate", *_args(tmp_path / "missing.npz", tmp_path), "--ckpt_path", str(path)]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(err) == 1 and err[0].startswith("geomgen vonmisesnet validate: error: --ckpt_path ")
        assert str(path) in err[0] and reason in err[0]


def test_fit_refuses_to_resume_with_another_network(tiny_reference, tmp_path, capsys):
    """Issue 25, D9 through ``geomgen vonmisesnet``: resuming a run with another network width used
    to load the checkpoint's network in place of the configured one and train on silently."""
    args = _args(tiny_reference, tmp_path)
    assert main(["vonmisesnet", "fit", *args, "--trainer.max_epochs=1"]) == 0
    capsys.readouterr()
    rc = main(["vonmisesnet", "fit", *args, "--model.net.init_args.hidden=8", "--trainer.max_epochs=2", "--ckpt_path", "last"])
    assert rc == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "cannot resume" in err[0]
    assert "model.net.init_args.hidden" in err[0] and "net_config.hidden: 16 in the checkpoint, 8 now" in err[0]
