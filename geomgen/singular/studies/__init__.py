"""Simulation studies of singular-distribution estimators: config -> grid -> results table + plots.

* :func:`run_study` -- run a study (YAML path, dict or :class:`StudyConfig`) into a folder,
  through any :class:`concurrent.futures.Executor`, resuming finished cells.
* :func:`load_study` -- read and validate a study config (:class:`StudyConfigError` names the bad key).
* :func:`run_cell` -- one (distribution, n, noise, estimator, seed) cell, executor-friendly.
* :func:`write_report` -- ``runs.csv``, ``summary.csv``/``.md``, ``slopes.csv`` and plots.
"""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "run_cell": ".cell",
        "Cell": ".cell",
        "Evaluation": ".config",
        "Grid": ".config",
        "StudyConfig": ".config",
        "StudyConfigError": ".config",
        "load_study": ".config",
        "write_report": ".report",
        "StudyResult": ".runner",
        "load_cells": ".runner",
        "run_study": ".runner",
    },
)
