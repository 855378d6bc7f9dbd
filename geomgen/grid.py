r"""Resumable grids of independent cells, on any :class:`concurrent.futures.Executor`.

A *cell* is one independent job of a study (an estimator fitted on one law at one sample size and
seed; a loss trained under one protocol and seed): a key naming it and an argument for the
function that runs it, which returns a JSON-serialisable row. :func:`run_grid` runs the cells that
have no finished row yet and writes each row, as it arrives, to ``<cells_dir>/<key>.json``
(atomically, :func:`geomgen.atomic.atomic_write_text`: a killed run leaves whole files only), so a
rerun resumes where the last one stopped. A row whose ``status`` is not ``"ok"`` is written too
(with its error) and run again next time. :func:`mean_se` is the aggregation the reports use.

A finished study need not keep one file per cell: :func:`pack_cells` gathers them into one
``<cells_dir>.jsonl`` beside the folder (one row per line, sorted by key) and removes the loose
files; :func:`load_cells` and :func:`run_grid` read the packed rows and the loose ones (a loose
file wins), so a packed study still resumes and reports. Committed studies are packed::

    python -c "from geomgen.grid import pack_cells; pack_cells('evaluation/singular/highdim/cells')"

Used by the singular-distribution studies (``geomgen.singular.studies.runner``) and the point-cloud
Table 1 protocols (``evaluation/pointclouds/table1_protocols.py``)::

    from geomgen.grid import run_grid
    run = run_grid([(c.key, c.to_dict()) for c in cells], run_cell, "runs/study/cells", workers=2)

    # a cluster: any concurrent.futures-compatible executor, e.g. Dask
    # run_grid(cells, run_cell, "runs/big/cells", executor=Client(...).get_executor())
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geomgen.atomic import atomic_write_text

__all__ = ["GridRun", "load_cells", "mean_se", "pack_cells", "packed_path", "run_grid", "write_cell"]


@dataclass
class GridRun:
    """What :func:`run_grid` did: cells run, skipped (finished before), failed (row status not
    ``"ok"``), wall seconds, and the rows of every finished cell of the grid (key -> row)."""

    ran: int
    skipped: int
    failed: int
    wall_seconds: float
    rows: dict[str, dict] = field(default_factory=dict)


def packed_path(cells_dir: str | Path) -> Path:
    """The packed rows of ``cells_dir``: ``<cells_dir>.jsonl`` beside the folder."""
    cells_dir = Path(cells_dir)
    return cells_dir.with_name(cells_dir.name + ".jsonl")


def load_cells(cells_dir: str | Path) -> dict[str, dict]:
    """The rows of a grid: key -> row, from its packed file (:func:`packed_path`) and the loose
    files in ``cells_dir`` (a loose file wins over a packed row of the same key); temporary files
    of an interrupted write (names starting with ``.``) and unreadable files or lines are ignored."""
    out = {}
    packed = packed_path(cells_dir)
    if packed.exists():
        for line in packed.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "key" in row:
                out[str(row["key"])] = row
    for p in sorted(Path(cells_dir).glob("*.json")):
        if p.name.startswith("."):
            continue
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return out


def pack_cells(cells_dir: str | Path) -> Path:
    """Gather every row of ``cells_dir`` (packed and loose, :func:`load_cells`) into
    :func:`packed_path` (written atomically, one JSON row per line, sorted by key), then remove the
    loose files. Returns the packed file."""
    cells_dir = Path(cells_dir)
    rows = load_cells(cells_dir)
    for key, row in rows.items():
        row.setdefault("key", key)
    out = packed_path(cells_dir)
    atomic_write_text(out, "".join(json.dumps(rows[k], sort_keys=True, allow_nan=True) + "\n" for k in sorted(rows)))
    for p in cells_dir.glob("*.json"):
        if not p.name.startswith(".") and p.stem in rows:
            p.unlink()
    return out


def write_cell(cells_dir: str | Path, key: str, row: dict) -> None:
    """Write one row to ``cells_dir/<key>.json`` atomically (NaN and infinities allowed)."""
    atomic_write_text(Path(cells_dir) / f"{key}.json", json.dumps(row, indent=1, sort_keys=True, allow_nan=True))


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / sqrt(n)) of ``values``; the standard
    error is NaN for a single value.

    Raises:
        ValueError: no values.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_se: no values")
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan)


def mean_t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """``(mean, se, low, high)``: :func:`mean_se` and the two-sided Student-t interval of the mean
    at ``level`` (n - 1 degrees of freedom; applied to paired differences, the paired t
    interval); ``low`` and ``high`` are NaN for a single value."""
    from scipy.stats import t as student_t

    mean, se = mean_se(values)
    half = float(student_t.ppf(0.5 + level / 2, len(values) - 1)) * se if len(values) > 1 else math.nan
    return mean, se, mean - half, mean + half


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _error_row(exc: BaseException) -> dict:
    return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}


def run_grid(cells: Sequence[tuple[str, Any]], fn: Callable[[Any], dict], cells_dir: str | Path, *,
             executor: Executor | None = None, workers: int = 1, threads: int = 1, progress: bool = True,
             desc: str = "grid", on_error: Callable[[Any, BaseException], dict] | None = None,
             on_row: Callable[[str, dict], None] | None = None) -> GridRun:
    r"""Run the unfinished cells of a grid and persist each row as it arrives.

    Args:
        cells: ``(key, argument)`` pairs; ``fn(argument)`` runs a cell (it must be picklable for
            a process pool or a cluster). Keys name files: they should be unique and path-safe.
        fn (callable): argument -> row (a JSON-serialisable dict; ``status`` ``"ok"`` when the
            cell succeeded, anything else to have it run again next time).
        cells_dir (path): where rows are written; a cell whose row there has status ``"ok"`` is
            skipped.
        executor (Executor, optional): runs the cells (``submit`` + futures), e.g. a Dask
            client's ``get_executor()``. Default: a spawn-context ``ProcessPoolExecutor`` of
            ``workers`` processes with ``threads`` torch threads each, or in this process when
            ``workers`` is 1 or one cell is left.
        progress (bool): a tqdm bar over the grid (default True).
        desc (str): the bar's label.
        on_error (callable, optional): ``(argument, exception) -> row`` for a cell whose worker
            raised (default: ``{"status": "error", "error": ...}``). Run in this process, a
            ``KeyboardInterrupt`` is re-raised naming the cell's key; other exceptions become rows.
        on_row (callable, optional): called with ``(key, row)`` after each row is written.

    Returns:
        :class:`GridRun`.
    """
    from tqdm.auto import tqdm

    cells_dir = Path(cells_dir)
    cells_dir.mkdir(parents=True, exist_ok=True)
    keys = [k for k, _ in cells]
    if len(set(keys)) != len(keys):
        raise ValueError(f"run_grid: duplicate cell keys {sorted({k for k in keys if keys.count(k) > 1})[:5]}")
    done = {k for k, row in load_cells(cells_dir).items() if row.get("status") == "ok"}
    todo = [(k, a) for k, a in cells if k not in done]
    skipped = len(cells) - len(todo)
    t0 = time.perf_counter()
    failed = 0
    bar = tqdm(total=len(cells), initial=skipped, desc=desc, unit="cell", disable=not progress, dynamic_ncols=True)

    def finish(key: str, arg, row: dict) -> None:
        nonlocal failed
        row = dict(row)
        row["key"] = key
        write_cell(cells_dir, key, row)
        if row.get("status") != "ok":
            failed += 1
            bar.write(f"cell {key} failed: {row.get('error')}")
        bar.update(1)
        if on_row is not None:
            on_row(key, row)

    def failure(arg, exc: BaseException) -> dict:
        return on_error(arg, exc) if on_error is not None else _error_row(exc)

    own = None
    try:
        if executor is None and workers > 1 and len(todo) > 1:
            own = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(threads,))
            executor = own
        if executor is None:
            for key, arg in todo:
                try:
                    row = fn(arg)
                except KeyboardInterrupt as e:  # say which cell was running
                    raise KeyboardInterrupt(f"cell {key}" + (f", {e}" if str(e) else "")) from None
                except Exception as e:
                    row = failure(arg, e)
                finish(key, arg, row)
        else:
            futures = {executor.submit(fn, arg): (key, arg) for key, arg in todo}
            try:
                for fut in as_completed(futures):
                    key, arg = futures[fut]
                    try:
                        row = fut.result()
                    except Exception as e:  # the worker itself died: record it, run again next time
                        row = failure(arg, e)
                    finish(key, arg, row)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        bar.close()
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
    finished = load_cells(cells_dir)
    rows = {k: finished[k] for k in keys if k in finished}
    return GridRun(ran=len(todo), skipped=skipped, failed=failed, wall_seconds=time.perf_counter() - t0, rows=rows)
