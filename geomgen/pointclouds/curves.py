r"""Learning curves of point-cloud training runs, read from Lightning's CSV logs, and the plateau rule.

**Plateau rule.** A run has reached its plateau in metric :math:`m` (lower is better; by default
the validation Chamfer distance) after :math:`S` training minibatches when the best value in the
last ``window`` fraction of the steps improves on the best value before that window by less than
``rel_tol``:

.. math::
    \frac{\min_{s \le (1 - w) S} m_s - \min_{s \le S} m_s}{\min_{s \le (1 - w) S} m_s} < \text{rel\_tol}
    \qquad (w = 0.2,\ \text{rel\_tol} = 0.02)

i.e. less than 2 % improvement of the best validation Chamfer over the last 20 % of steps. Best
values (running minima), not raw values, so one noisy evaluation neither starts nor ends a plateau;
at least ``min_points`` evaluations must lie before the window and ``min_points`` inside it (with
fewer, two noisy evaluations could declare a plateau that the next one breaks).

:func:`read_metrics` merges the ``metrics.csv`` files of a run folder (one per Lightning logger
version: a resumed run writes a new one) into the validation rows, with the training minibatches
(``val/batches``) and training wall time (``val/train_wall_s``) that
:class:`~geomgen.pointclouds.monitor.TrainingMonitor` logs.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plateau_reached(steps: Sequence[float], values: Sequence[float], window: float = 0.2, rel_tol: float = 0.02, min_points: int = 3) -> bool:
    """Whether the curve ``values`` (lower is better) at ``steps`` has plateaued by the rule above.

    Args:
        steps (sequence of float): increasing training steps (minibatches) of the evaluations.
        values (sequence of float): the metric at those steps.
        window (float, optional): the last fraction of the steps examined (default 0.2).
        rel_tol (float, optional): relative improvement below which the run has plateaued (default 0.02).
        min_points (int, optional): evaluations needed before the window and inside it (default 3).

    Raises:
        ValueError: unequal lengths, steps not increasing, or ``window`` / ``rel_tol`` out of range.
    """
    s, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"plateau_reached: steps and values must be 1-D of equal length, got {s.shape} and {v.shape}")
    if len(s) > 1 and np.any(np.diff(s) <= 0):
        raise ValueError("plateau_reached: steps must be increasing")
    if not 0 < window < 1 or rel_tol < 0:
        raise ValueError(f"plateau_reached: need 0 < window < 1 and rel_tol >= 0, got {window}, {rel_tol}")
    if len(s) == 0:
        return False
    start = (1 - window) * s[-1]
    before = s <= start
    if before.sum() < min_points or (~before).sum() < min_points:
        return False
    best_before, best = v[before].min(), v.min()
    if not best_before > 0:
        return True
    return bool((best_before - best) / best_before < rel_tol)


def plateau_step(steps: Sequence[float], values: Sequence[float], **rule) -> float | None:
    """The first evaluation step at which :func:`plateau_reached` holds for the curve up to it, else ``None``."""
    for i in range(1, len(steps) + 1):
        if plateau_reached(steps[:i], values[:i], **rule):
            return float(steps[i - 1])
    return None


def read_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The validation rows of every ``metrics.csv`` under ``run_dir`` (all logger versions), sorted
    by ``val/batches`` (else ``step``), one row per evaluation (a repeated step keeps the last):
    ``{"val/chamfer": [...], "val/batches": [...], "val/train_wall_s": [...], ...}`` as float arrays.

    Raises:
        FileNotFoundError: no ``metrics.csv`` under ``run_dir``.
    """
    files = sorted(Path(run_dir).rglob("metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise FileNotFoundError(f"{run_dir}: no metrics.csv (Lightning CSVLogger) found")
    rows: dict[float, dict[str, float]] = {}
    for f in files:
        with open(f, newline="") as fh:
            for r in csv.DictReader(fh):
                if not r.get("val/chamfer"):
                    continue
                row = {k: float(x) for k, x in r.items() if x not in (None, "")}
                rows[row.get("val/batches", row.get("step", len(rows)))] = row
    keys = sorted({k for r in rows.values() for k in r})
    ordered = [rows[k] for k in sorted(rows)]
    return {k: np.array([r.get(k, np.nan) for r in ordered]) for k in keys}


__all__ = ["plateau_reached", "plateau_step", "read_metrics"]
