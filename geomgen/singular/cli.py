"""``geomgen simulate STUDY.yaml -o OUTDIR``: run a singular-distribution simulation study.

Reads and validates the study (a bad key fails before anything runs, exit status 2), runs
its unfinished cells with ``--workers`` single-threaded processes, and writes ``runs.csv``,
``summary.csv``, ``summary.md``, ``slopes.csv``, ``w1_vs_n.png`` and ``w1_vs_noise.png``
into OUTDIR. Rerunning with the same OUTDIR skips finished cells.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study YAML file (e.g. geomgen/singular/configs/default.yaml), or the name "
                        "of a shipped study (default, tiny, large)")
    parser.add_argument("-o", "--outdir", required=True, help="output folder (reused to resume)")
    parser.add_argument("-w", "--workers", type=int, default=None,
                        help="parallel worker processes (default: the study's 'workers')")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--check", action="store_true", help="validate the study and list its cells, run nothing")


def _resolve(study: str) -> str:
    from pathlib import Path

    if Path(study).exists() or study.endswith((".yaml", ".yml")):
        return study
    from importlib.resources import files

    shipped = files("geomgen.singular") / "configs" / f"{study}.yaml"
    return str(shipped) if shipped.is_file() else study


def run(args: argparse.Namespace) -> int:
    from geomgen.singular.studies.config import StudyConfigError, load_study

    try:
        cfg = load_study(_resolve(args.study))
    except StudyConfigError as e:
        print(f"geomgen simulate: {e}", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print(f"geomgen simulate: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    cells = cfg.cells()
    if args.check:
        print(f"study {cfg.name}: {len(cells)} cells")
        for c in cells:
            print(c.key)
        return 0
    from geomgen.singular.studies.runner import run_study

    res = run_study(cfg, args.outdir, workers=args.workers, progress=not args.no_progress)
    print(f"study {cfg.name}: {res.ran} cells run, {res.skipped} skipped (already finished), {res.failed} failed, "
          f"{res.wall_seconds:.1f} s; results in {res.outdir}")
    return 1 if res.failed else 0
