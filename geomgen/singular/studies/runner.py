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
leaves only whole files), then ``runs.csv``, ``summary.csv``, ``summary.md``, ``slopes.csv``,
``w1_vs_n.png``, ``w1_vs_noise.png`` and a copy of the resolved config (``study.json``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

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
    out = {}
    for p in sorted(Path(outdir, "cells").glob("*.json")):
        if p.name.startswith("."):  # a write interrupted by a kill
            continue
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return out


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


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
    done = {k: v for k, v in load_cells(outdir).items() if v.get("status") == "ok"}
    todo = [c for c in cells if c.key not in done]
    skipped = len(cells) - len(todo)
    workers = int(workers or cfg.workers)
    t0 = time.perf_counter()
    failed = 0

    from tqdm.auto import tqdm

    bar = tqdm(total=len(cells), initial=skipped, desc=f"study {cfg.name}", unit="cell", disable=not progress,
               dynamic_ncols=True)

    def finish(cell, row):
        nonlocal failed
        row["key"] = cell.key
        _write_json(outdir / "cells" / f"{cell.key}.json", row)
        if row.get("status") != "ok":
            failed += 1
            bar.write(f"cell {cell.key} failed: {row.get('error')}")
        bar.update(1)

    own = None
    try:
        if executor is None and workers > 1 and len(todo) > 1:
            own = ProcessPoolExecutor(max_workers=min(workers, len(todo)),
                                      mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(cfg.threads,))
            executor = own
        if executor is None:
            for cell in todo:
                try:
                    row = run_cell(cell.to_dict())
                except KeyboardInterrupt as e:  # say which cell was running
                    raise KeyboardInterrupt(f"cell {cell.key}" + (f", {e}" if str(e) else "")) from None
                finish(cell, row)
        else:
            futures = {executor.submit(run_cell, cell.to_dict()): cell for cell in todo}
            try:
                for fut in as_completed(futures):
                    cell = futures[fut]
                    try:
                        row = fut.result()
                    except Exception as e:  # the worker itself died: record it, retry on rerun
                        row = {"distribution": cell.distribution, "n": cell.n, "noise": cell.noise,
                               "estimator": cell.estimator, "seed": cell.seed, "status": "error",
                               "error": f"{type(e).__name__}: {e}"[:300]}
                    finish(cell, row)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        bar.close()
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
    wall = time.perf_counter() - t0
    finished = load_cells(outdir)
    rows = [finished[c.key] for c in cells if c.key in finished]
    result = StudyResult(outdir, rows, len(todo), skipped, failed, wall)
    if report:
        from geomgen.singular.studies.report import write_report

        write_report(rows, cfg, outdir)
    return result
