"""The ``geomgen`` command line.

Dispatch only: each subcommand is a module inside its capability (``geomgen.conformers.commands.*``,
``geomgen.pointclouds.cli``, ``geomgen.singular.cli``) exposing ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their subcommand is parsed, so
``geomgen --help`` and each subcommand import only what they use.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from geomgen import __version__

#: subcommand name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "conformers": ("geomgen.conformers.commands.generate", "generate 3D conformers from SMILES with VonMisesNet"),
    "vonmisesnet": ("geomgen.conformers.commands.train", "fit / validate / test VonMisesNet (LightningCLI)"),
    "reference": ("geomgen.conformers.commands.reference", "sample MMFF94 Boltzmann reference ensembles (MCMC)"),
    "pointcloud": ("geomgen.pointclouds.cli", "fit / validate / test point-cloud autoencoders, reconstruct, export"),
    "simulate": ("geomgen.singular.cli", "run a singular-distribution simulation study from a YAML file"),
}
#: subcommands that hold Ctrl-C and SIGTERM and act on them between work items
#: (:mod:`geomgen.signals`): held before their module is imported, so that no thread a library
#: starts at import time (OpenBLAS, torch) can receive them
HOLDS_SIGNALS = frozenset({"conformers"})


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geomgen",
        description="Generative modelling of geometric data: conformers, point clouds, "
        "singular distributions.",
    )
    parser.add_argument("--version", action="version", version=f"geomgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        # Only the chosen subcommand's module is imported (keeps --help and each command fast).
        if name == chosen:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen in HOLDS_SIGNALS:
        from geomgen import signals

        with signals.held():
            return _main(argv)
    return _main(argv)


def _main(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # a command that does not say more itself (each `run` handles its own first)
        print(f"geomgen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
