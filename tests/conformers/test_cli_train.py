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
