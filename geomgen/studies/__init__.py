"""Simulation studies of singular-distribution estimators: config -> grid -> results table + plots.

* :func:`run_study` -- run a study (YAML path, dict or :class:`StudyConfig`) into a folder,
  through any :class:`concurrent.futures.Executor`, resuming finished cells.
* :func:`load_study` -- read and validate a study config (:class:`StudyConfigError` names the bad key).
* :func:`run_cell` -- one (distribution, n, noise, estimator, seed) cell, executor-friendly.
* :func:`write_report` -- ``runs.csv``, ``summary.csv``/``.md``, ``slopes.csv`` and plots.
"""

from geomgen.studies.cell import run_cell
from geomgen.studies.config import Cell, StudyConfig, StudyConfigError, load_study
from geomgen.studies.report import write_report
from geomgen.studies.runner import StudyResult, load_cells, run_study

__all__ = ["run_study", "StudyResult", "load_cells", "load_study", "StudyConfig", "StudyConfigError", "Cell",
           "run_cell", "write_report"]
