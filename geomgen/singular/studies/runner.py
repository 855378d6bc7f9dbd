r"""Run a study grid: cells in parallel through any :class:`concurrent.futures.Executor`,
each finished cell persisted atomically, so a rerun resumes.

Python use::

    from geomgen.singular.studies import run_study
    result = run_study("geomgen/singular/configs/default.yaml", "runs/default", workers=2)
    print(result.summary_path.read_text())

    # a cluster: any concurrent.futures-compatible executor, e.g. Dask
    # from dask.distributed import Client
    # run_study(cfg, "runs/big", executor=Client(...).get_executor())

Layout of ``outdir``: ``cells/<cell key>.json`` (one finished cell each, written to a
temporary file and renamed by :func:`geomgen.atomic.atomic_write_text`, so a killed run
leaves only whole files; :func:`geomgen.grid.pack_cells` gathers a finished study's cells into
one ``cells.jsonl``, which is read the same way), then ``runs.csv``, ``summary.csv``, ``summary.md``, ``slopes.csv``,
``w1_vs_n.png``, ``w1_vs_noise.png`` and a copy of the resolved config (``study.json``).
"""

from __future__ import annotations

import json
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path

from geomgen import grid
from geomgen.atomic import atomic_write_text
from geomgen.singular.studies.cell import run_cell
from geomgen.singular.studies.config import StudyConfig, load_study

__all__ = ["run_study", "StudyResult", "load_cells"]


@dataclass
class StudyResult:
    """Where a study wrote its outputs, and what ran."""

    outdir: Path
    rows: list[dict]
    ran: int
    skipped: int
    failed: int
    wall_seconds: float

    @property
    def runs_path(self) -> Path:
        return self.outdir / "runs.csv"

    @property
    def summary_path(self) -> Path:
        return self.outdir / "summary.md"


def _write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (:mod:`geomgen.atomic`): a killed run leaves whole files."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, allow_nan=True))


def load_cells(outdir: str | Path) -> dict[str, dict]:
    """Finished cells in ``outdir/cells``: key -> result row (unreadable and temporary files are ignored)."""
    return grid.load_cells(Path(outdir, "cells"))


def run_study(config: str | Path | dict | StudyConfig, outdir: str | Path, executor: Executor | None = None,
              workers: int | None = None, progress: bool = True, report: bool = True) -> StudyResult:
    r"""Run every unfinished cell of a study and write its tables and plots.

    Args:
        config (path, dict or StudyConfig): the study (validated before anything runs).
        outdir (path): output folder; cells already finished there (status ``ok``) are skipped.
        executor (concurrent.futures.Executor, optional): runs the cells (``submit`` +
            futures); e.g. a ``ProcessPoolExecutor`` or a Dask client's ``get_executor()``.
            Default: a spawn-context ``ProcessPoolExecutor`` with ``workers`` single-threaded
            processes, or in-process execution when ``workers == 1``.
        workers (int, optional): process count for the default executor (default: the config's ``workers``).
        progress (bool, optional): show a tqdm progress bar over the grid (default True).
        report (bool, optional): write ``runs.csv``, summaries and plots at the end (default True).

    Returns:
        StudyResult

    Raises:
        StudyConfigError: a bad config, before any cell runs.
        KeyboardInterrupt: Ctrl-C; finished cells stay on disk. Run in-process, its message names
            the cell that was running.
    """
    cfg = config if isinstance(config, StudyConfig) else load_study(config)
    outdir = Path(outdir)
    (outdir / "cells").mkdir(parents=True, exist_ok=True)
    _write_json(outdir / "study.json", {"name": cfg.name, "description": cfg.description,
                                        "distributions": cfg.distributions, "estimators": cfg.estimators,
                                        "grids": cfg.grids, "evaluation": asdict(cfg.evaluation)})
    cells = cfg.cells()
    workers = int(workers or cfg.workers)

    def failed_row(cell: dict, exc: BaseException) -> dict:  # the worker itself died: retried on rerun
        return {k: cell[k] for k in ("distribution", "n", "noise", "estimator", "seed")} | {
            "status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}

    run = grid.run_grid([(c.key, c.to_dict()) for c in cells], run_cell, outdir / "cells", executor=executor,
                        workers=workers, threads=cfg.threads, progress=progress, desc=f"study {cfg.name}",
                        on_error=failed_row)
    rows = [run.rows[c.key] for c in cells if c.key in run.rows]
    result = StudyResult(outdir, rows, run.ran, run.skipped, run.failed, run.wall_seconds)
    if report:
        from geomgen.singular.studies.report import write_report

        write_report(rows, cfg, outdir)
    return result
