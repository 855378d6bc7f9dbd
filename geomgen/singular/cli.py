"""``geomgen simulate STUDY.yaml -o OUTDIR``: run a singular-distribution simulation study.

Reads and validates the study (a bad key fails before anything runs, exit status 2), runs
its unfinished cells with ``--workers`` single-threaded processes (or on a Dask cluster,
``--dask SCHEDULER_ADDRESS``, with ``pip install geomgen[dask]``), and writes ``runs.csv``,
``summary.csv``, ``summary.md``, ``slopes.csv``, ``w1_vs_n.png`` and ``w1_vs_noise.png``
into OUTDIR. Rerunning with the same OUTDIR skips finished cells.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study YAML file (e.g. geomgen/singular/configs/default.yaml), or the name "
                        f"of a shipped study ({', '.join(shipped_studies())})")
    parser.add_argument("-o", "--outdir", required=True, help="output folder (reused to resume)")
    parser.add_argument("-w", "--workers", type=int, default=None,
                        help="parallel worker processes (default: the study's 'workers')")
    parser.add_argument("--dask", metavar="SCHEDULER_ADDRESS", default=None,
                        help="run the cells on a dask.distributed cluster (e.g. tcp://10.0.0.5:8786) instead of local "
                        "processes; needs the 'dask' extra (pip install 'geomgen[dask]')")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--check", action="store_true", help="validate the study and list its cells, run nothing")


def shipped_studies() -> list[str]:
    """Names of the studies shipped in ``geomgen/singular/configs``."""
    from importlib.resources import files

    return sorted(p.name[: -len(".yaml")] for p in (files("geomgen.singular") / "configs").iterdir() if p.name.endswith(".yaml"))


def resolve_study(study: str) -> str:
    """The study file a ``study`` argument names: an existing file, else a shipped study of that name
    (also when a folder of that name is in the way: a folder is never a study).

    Raises:
        ValueError: neither (the message says what was found).
    """
    from importlib.resources import files
    from pathlib import Path

    path = Path(study)
    if path.is_file():
        return study
    shipped = files("geomgen.singular") / "configs" / f"{study}.yaml"
    if not study.endswith((".yaml", ".yml")) and shipped.is_file():
        return str(shipped)
    names = ", ".join(shipped_studies())
    if path.is_dir():
        raise ValueError(f"{study}: is a folder, not a study YAML file (shipped studies: {names})")
    raise ValueError(f"{study}: no such study file, and no shipped study of that name (shipped studies: {names})")


def _check_outdir(outdir: str) -> None:
    from pathlib import Path

    path = Path(outdir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{outdir}: -o names a file; give a folder (new, or one of an earlier run to resume it)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{outdir}: {parent} is a file, not a folder")
            break


def _load(study: str):
    """The validated study of a ``study`` argument; ``ValueError`` with a one-line reason."""
    import yaml

    from geomgen.singular.studies.config import StudyConfigError, load_study

    source = resolve_study(study)
    try:
        return load_study(source)
    except StudyConfigError as e:
        raise ValueError(f"{study}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
        raise ValueError(f"{study}: not a YAML study file ({what}{where})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{study}: not a YAML study file (not UTF-8 text: {e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ValueError(f"{study}: cannot read: {e.strerror or e}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``geomgen simulate``: exit 0, 1 when cells failed (or writing the results did), 2 for a bad
    study, option or output folder (before anything runs), 130 when interrupted."""
    prog = "geomgen simulate"
    try:
        cfg = _load(args.study)
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        if not args.check:
            _check_outdir(args.outdir)
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    cells = cfg.cells()
    if args.check:
        print(f"study {cfg.name}: {len(cells)} cells")
        for c in cells:
            print(c.key)
        return 0
    from geomgen.singular.studies.runner import run_study

    client = None
    if args.dask:
        try:
            from distributed import Client
        except ImportError:
            print(f"{prog}: --dask needs dask.distributed: pip install 'geomgen[dask]'", file=sys.stderr)
            return 2
        try:
            client = Client(args.dask)  # connect timeout: dask config distributed.comm.timeouts.connect
        except (OSError, ValueError, TimeoutError) as e:
            print(f"{prog}: --dask {args.dask}: cannot connect to the scheduler ({type(e).__name__}: {e})",
                  file=sys.stderr)
            return 2
    try:
        executor = client.get_executor() if client is not None else None
        res = run_study(cfg, args.outdir, executor=executor, workers=args.workers, progress=not args.no_progress)
    except KeyboardInterrupt as e:
        during = f" during {e}" if str(e) else ""
        print(f"{prog}: {args.study}: interrupted{during}; finished cells are kept in {args.outdir} (rerun to resume)",
              file=sys.stderr)
        return 130
    except OSError as e:
        print(f"{prog}: {e.filename or args.outdir}: {e.strerror or e}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    print(f"study {cfg.name}: {res.ran} cells run, {res.skipped} skipped (already finished), {res.failed} failed, "
          f"{res.wall_seconds:.1f} s; results in {res.outdir}")
    return 1 if res.failed else 0
