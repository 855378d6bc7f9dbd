"""``geomgen vonmisesnet``: fit / validate / test VonMisesNet with LightningCLI.

    geomgen vonmisesnet fit --config geomgen/conformers/configs/vonmisesnet.yaml
    geomgen vonmisesnet fit --config ... --ckpt_path last      # resume after a kill
    geomgen vonmisesnet test --config ... --ckpt_path runs/vonmisesnet/checkpoints/last.ckpt
    geomgen vonmisesnet export runs/vonmisesnet/checkpoints/best-epoch=21.ckpt -o model.ckpt
    geomgen vonmisesnet export RUN_A/best.ckpt RUN_B/best.ckpt -o ensemble.ckpt   # an ensemble

Checkpoints go to ``<trainer.default_root_dir>/checkpoints`` (one fixed folder per run, whatever
the logger's version) unless a ``ModelCheckpoint`` names its own ``dirpath``; ``--ckpt_path last``
resumes from the ``last.ckpt`` there, and exits with status 2 when there is none.
Lightning is imported only when a stage runs.
"""

from __future__ import annotations

import argparse
import sys

from geomgen.lightning_cli import USAGE_ERRORS, CheckpointHooks, quiet_lightning

#: LightningCLI subcommands offered (VonMisesNetSystem has no predict step)
STAGES = ("fit", "validate", "test")


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
    e = sub.add_parser("export", help="write a slim inference checkpoint (for geomgen conformers --model); "
                                      "several checkpoints make one ensemble (the mean of their mixture densities)")
    e.add_argument("checkpoints", nargs="+", help="Lightning (or slim) VonMisesNet checkpoints")
    e.add_argument("-o", "--output", required=True, help="the slim checkpoint to write (atomically)")


def cli_main(args: list[str] | None = None):
    """Run LightningCLI on VonMisesNetSystem and ConformerDataModule.

    Args:
        args (list[str], optional): a stage (``fit``, ``validate``, ``test``) and its arguments
            (default: ``sys.argv``).

    Returns:
        The ``LightningCLI`` object.

    Raises:
        MissingLastCheckpoint: ``--ckpt_path last`` with no ``last.ckpt`` in the run's checkpoint folder.
        UnusableCheckpoint: a ``--ckpt_path`` file that is missing, unreadable or not a VonMisesNet
            checkpoint, or a ``fit`` resume from a run configured otherwise.
    """
    from lightning.pytorch.cli import LightningCLI

    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.system import VonMisesNetSystem

    class VonMisesNetCLI(CheckpointHooks, LightningCLI):
        @staticmethod
        def subcommands() -> dict[str, set[str]]:
            return {k: v for k, v in LightningCLI.subcommands().items() if k in STAGES}

    with quiet_lightning():
        return VonMisesNetCLI(VonMisesNetSystem, ConformerDataModule, args=args, save_config_kwargs={"overwrite": True})


#: file types ``geomgen vonmisesnet export`` writes
EXPORT_SUFFIXES = (".ckpt", ".pt", ".pth")


def export(checkpoints: list[str], output: str) -> None:
    """One checkpoint: :func:`~geomgen.conformers.checkpoint.export_checkpoint`; several:
    :func:`~geomgen.conformers.checkpoint.export_ensemble`. The output path is checked first.

    Raises:
        ValueError: ``output`` cannot be written (a folder, an unknown suffix, a folder that cannot
            hold it), or a checkpoint is unreadable or not a VonMisesNet one; naming the file.
        FileNotFoundError: a checkpoint does not exist.
        OSError: writing failed (disk full...); no partial file is left.
    """
    from geomgen.atomic import output_problem
    from geomgen.conformers.checkpoint import export_checkpoint, export_ensemble

    problem = output_problem(output, EXPORT_SUFFIXES, probe=True)
    if problem:
        raise ValueError(problem)
    if len(checkpoints) == 1:
        export_checkpoint(checkpoints[0], output)
    else:
        export_ensemble(checkpoints, output)


def run(args: argparse.Namespace) -> int:
    """Run one LightningCLI stage or the export; return the exit status (2 for a usage error:
    ``--ckpt_path last`` with nothing to resume, an unusable ``--ckpt_path``, a checkpoint that
    cannot be exported or an output that cannot be written; 1 when writing the output failed)."""
    if args.vonmisesnet_stage == "export":
        try:
            export(args.checkpoints, args.output)
        except (FileNotFoundError, ValueError) as err:
            print(f"geomgen vonmisesnet export: error: {err}", file=sys.stderr)
            return 2
        except OSError as err:  # writing failed after the checks (disk full...)
            print(f"geomgen vonmisesnet export: error: {err.filename or args.output}: {err.strerror or err}", file=sys.stderr)
            return 1
        print(f"wrote {args.output}")
        return 0
    try:
        cli_main([args.vonmisesnet_stage, *args.cli_args])
    except USAGE_ERRORS as err:
        print(f"geomgen vonmisesnet {args.vonmisesnet_stage}: error: {err}", file=sys.stderr)
        return 2
    return 0
