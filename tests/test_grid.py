"""The shared resumable grid (geomgen.grid): resume, failures, executors, aggregation."""

import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import stats

from geomgen.grid import load_cells, mean_se, mean_t_interval, run_grid

CALLS = []


def square(x):
    CALLS.append(x)
    if x < 0:
        raise ValueError(f"negative {x}")
    return {"status": "ok", "value": x * x}


def cells(values):
    return [(f"c{v:+d}", v) for v in values]


def test_runs_every_cell_then_resumes_without_running_them_again(tmp_path):
    CALLS.clear()
    run = run_grid(cells([1, 2, 3]), square, tmp_path, progress=False)
    assert (run.ran, run.skipped, run.failed) == (3, 0, 0)
    assert {k: r["value"] for k, r in run.rows.items()} == {"c+1": 1, "c+2": 4, "c+3": 9}
    assert json.loads((tmp_path / "c+2.json").read_text())["key"] == "c+2"
    again = run_grid(cells([1, 2, 3, 4]), square, tmp_path, progress=False)
    assert (again.ran, again.skipped) == (1, 3) and CALLS == [1, 2, 3, 4]
    assert set(again.rows) == {"c+1", "c+2", "c+3", "c+4"}


def test_a_failed_cell_is_recorded_and_run_again(tmp_path):
    seen = []
    run = run_grid(cells([2, -1]), square, tmp_path, progress=False, on_row=lambda k, r: seen.append((k, r["status"])))
    assert run.failed == 1 and run.rows["c-1"]["status"] == "error" and "negative -1" in run.rows["c-1"]["error"]
    assert sorted(seen) == [("c+2", "ok"), ("c-1", "error")]
    CALLS.clear()
    rerun = run_grid(cells([2, -1]), square, tmp_path, progress=False,
                     on_error=lambda arg, exc: {"status": "error", "error": "custom", "arg": arg})
    assert CALLS == [-1] and rerun.rows["c-1"] == {"status": "error", "error": "custom", "arg": -1, "key": "c-1"}


def test_any_executor_gives_the_rows_of_the_in_process_run(tmp_path):
    a = run_grid(cells(range(6)), square, tmp_path / "a", progress=False)
    with ThreadPoolExecutor(3) as ex:
        b = run_grid(cells(range(6)), square, tmp_path / "b", executor=ex, progress=False)
    assert a.rows == b.rows


def test_a_process_pool_runs_the_cells(tmp_path):
    run = run_grid(cells([1, 2, 3]), square, tmp_path, workers=2, progress=False)
    assert {r["value"] for r in run.rows.values()} == {1, 4, 9} and run.failed == 0


def test_partial_and_unreadable_files_are_ignored_and_keys_must_be_unique(tmp_path):
    (tmp_path / ".c+1.json.tmp.json").write_text("{")
    (tmp_path / "c+2.json").write_text("not json")
    assert load_cells(tmp_path) == {}
    run = run_grid(cells([1, 2]), square, tmp_path, progress=False)
    assert run.ran == 2 and run.rows["c+2"]["value"] == 4
    with pytest.raises(ValueError, match="duplicate cell keys"):
        run_grid([("k", 1), ("k", 2)], square, tmp_path, progress=False)


def test_ctrl_c_in_process_names_the_cell(tmp_path):
    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="cell c\\+5"):
        run_grid(cells([5]), interrupted, tmp_path, progress=False)


def test_mean_and_standard_error_match_scipy():
    x = np.array([0.3, 1.7, 2.2, 0.9, 1.1])
    m, se = mean_se(x)
    assert math.isclose(m, x.mean()) and math.isclose(se, stats.sem(x))
    m1, se1 = mean_se([2.0])
    assert m1 == 2.0 and math.isnan(se1)
    with pytest.raises(ValueError):
        mean_se([])


def test_packed_cells_load_resume_and_yield_to_loose_files(tmp_path):
    from geomgen.grid import pack_cells, packed_path

    cells_dir = tmp_path / "cells"
    run_grid(cells([1, 2, -3]), square, cells_dir, progress=False)
    before = load_cells(cells_dir)
    out = pack_cells(cells_dir)
    assert out == packed_path(cells_dir) == tmp_path / "cells.jsonl"
    assert list(cells_dir.glob("*.json")) == [] and load_cells(cells_dir) == before
    assert len(out.read_text().splitlines()) == 3
    CALLS.clear()
    again = run_grid(cells([1, 2, -3, 4]), square, cells_dir, progress=False)
    assert CALLS == [-3, 4] and again.skipped == 2  # the failed cell runs again, the finished ones do not
    assert again.rows["c-3"]["status"] == "error" and (cells_dir / "c-3.json").exists()  # a loose file wins
    pack_cells(cells_dir)
    assert set(load_cells(cells_dir)) == {"c+1", "c+2", "c-3", "c+4"} and list(cells_dir.glob("*.json")) == []


def test_mean_t_interval_is_scipy_s_t_interval_of_the_mean():
    x = [0.3, -0.1, 0.45, 0.2]
    m, se, low, high = mean_t_interval(x)
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert (m, se) == mean_se(x) and math.isclose(low, ci.low, rel_tol=1e-12) and math.isclose(high, ci.high, rel_tol=1e-12)
    assert all(math.isnan(v) for v in mean_t_interval([2.0])[1:])
