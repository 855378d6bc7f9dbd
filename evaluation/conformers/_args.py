"""Command-line arguments shared by the conformer scripts (argparse only, so ``--help`` stays fast)."""

from __future__ import annotations

import argparse


def sample_parser(description: str, *, molecules: int, n: int, n_help: str) -> argparse.ArgumentParser:
    """A parser with ``--split`` (default ``val``), ``--molecules`` and ``-n`` (conformers per molecule)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--split", default="val")
    ap.add_argument("--molecules", type=int, default=molecules)
    ap.add_argument("-n", type=int, default=n, help=n_help)
    return ap
