"""``geomgen vonmisesnet``: fit / validate / test VonMisesNet with LightningCLI.

    geomgen vonmisesnet fit --config geomgen/conformers/configs/vonmisesnet.yaml
    geomgen vonmisesnet fit --config ... --ckpt_path last      # resume after a kill
    geomgen vonmisesnet test --config ... --ckpt_path runs/vonmisesnet/checkpoints/last.ckpt

Checkpoints go to ``<trainer.default_root_dir>/checkpoints`` (one fixed folder per run, whatever
the logger's version) unless a ``ModelCheckpoint`` names its own ``dirpath``; ``--ckpt_path last``
resumes from the ``last.ckpt`` there, and exits with status 2 when there is none.
Lightning is imported only when a stage runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

#: LightningCLI subcommands offered (VonMisesNetSystem has no predict step)
STAGES = ("fit", "validate", "test")


class MissingLastCheckpoint(FileNotFoundError):
    """``--ckpt_path last`` was asked for, but no checkpoint folder of the run holds a ``last*.ckpt``."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add one action per LightningCLI stage; everything after it goes to LightningCLI."""
    sub = p.add_subparsers(dest="vonmisesnet_stage", metavar="STAGE", required=True)
    for stage in STAGES:
        # '+' as prefix: every argument (--config, --trainer.*, --help) goes on to LightningCLI
        s = sub.add_parser(
            stage,
            prefix_chars="+",
            add_help=False,
            help=f"LightningCLI '{stage}' (e.g. --config FILE, --trainer.max_epochs N, --ckpt_path last; --help for all)",
        )
        s.add_argument("cli_args", nargs=argparse.REMAINDER)


def settle_checkpoints(trainer, stage_config) -> None:
    """Give every ``ModelCheckpoint`` of ``trainer`` without a ``dirpath`` the fixed folder
    ``<default_root_dir>/checkpoints``, and check the ``ckpt_path`` of ``stage_config``.

    Lightning would otherwise put checkpoints under the logger's new ``version_N`` folder, where
    ``--ckpt_path last`` never finds the previous run's ``last.ckpt`` and silently starts over.
    Lightning's own checkpoint loads default to ``weights_only=True`` here.

    Args:
        trainer (lightning.pytorch.Trainer): the trainer LightningCLI built.
        stage_config (jsonargparse.Namespace): the subcommand's arguments (``ckpt_path``, ``weights_only``).

    Raises:
        MissingLastCheckpoint: ``ckpt_path`` is ``last`` and no checkpoint folder holds ``last*.ckpt``.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    folders = []
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            if callback.dirpath is None:
                callback.dirpath = os.path.realpath(os.path.join(trainer.default_root_dir, "checkpoints"))
            folders.append(Path(callback.dirpath))
    if stage_config.get("weights_only") is None:
        stage_config["weights_only"] = True
    if stage_config.get("ckpt_path") != "last":
        return
    pattern = f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}*{ModelCheckpoint.FILE_EXTENSION}"
    if not any(path.is_file() for folder in folders for path in folder.glob(pattern)):
        where = ", ".join(str(f) for f in dict.fromkeys(folders)) or "nowhere (no ModelCheckpoint callback)"
        raise MissingLastCheckpoint(
            f"--ckpt_path last: no last checkpoint ({pattern}) in {where}; start the run without --ckpt_path, or pass a checkpoint file"
        )


def cli_main(args: list[str] | None = None):
    """Run LightningCLI on VonMisesNetSystem and ConformerDataModule.

    Args:
        args (list[str], optional): a stage (``fit``, ``validate``, ``test``) and its arguments
            (default: ``sys.argv``).

    Returns:
        The ``LightningCLI`` object.

    Raises:
        MissingLastCheckpoint: ``--ckpt_path last`` with no ``last.ckpt`` in the run's checkpoint folder.
    """
    from lightning.pytorch.cli import LightningCLI

    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.system import VonMisesNetSystem

    class VonMisesNetCLI(LightningCLI):
        @staticmethod
        def subcommands() -> dict[str, set[str]]:
            return {k: v for k, v in LightningCLI.subcommands().items() if k in STAGES}

        def _before_stage(self) -> None:
            settle_checkpoints(self.trainer, self.config_init[self.subcommand])

        before_fit = before_validate = before_test = _before_stage

    with warnings.catch_warnings():
        # we pass `args` on purpose: sys.argv holds the geomgen subcommand, not LightningCLI's
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        return VonMisesNetCLI(VonMisesNetSystem, ConformerDataModule, args=args, save_config_kwargs={"overwrite": True})


def run(args: argparse.Namespace) -> int:
    """Run one LightningCLI stage; return the exit status (2 for ``--ckpt_path last`` with nothing to resume)."""
    try:
        cli_main([args.vonmisesnet_stage, *args.cli_args])
    except MissingLastCheckpoint as err:
        print(f"geomgen vonmisesnet {args.vonmisesnet_stage}: error: {err}", file=sys.stderr)
        return 2
    return 0
