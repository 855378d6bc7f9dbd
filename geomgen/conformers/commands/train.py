"""``geomgen vonmisesnet``: train / validate / test VonMisesNet with LightningCLI.

    geomgen vonmisesnet fit --config geomgen/conformers/configs/vonmisesnet.yaml
    geomgen vonmisesnet fit --config ... --ckpt_path last      # resume after a kill
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("cli_args", nargs=argparse.REMAINDER, help="LightningCLI arguments (fit/validate/test --config ...)")


def cli_main(args=None):
    from lightning.pytorch.cli import LightningCLI

    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.system import VonMisesNetSystem

    return LightningCLI(VonMisesNetSystem, ConformerDataModule, args=args, save_config_kwargs={"overwrite": True})


def run(args) -> int:
    cli_main(args.cli_args or ["--help"])
    return 0
