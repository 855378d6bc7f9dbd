import csv
import json
import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from geomgen.singular.studies import load_cells, load_study, run_cell, run_study
from geomgen.singular.studies.report import RUN_COLUMNS, theory_exponent

TINY_NET = {"max_steps": 3, "hidden": 8, "layers": 1, "num_samples": 16, "eval_samples": 32, "batch_size": 16}


def tiny_study(**extra):
    cfg = {
        "name": "tiny",
        "distributions": {"circle_vm": {}, "sphere_in_4d": {"type": "sphere", "ambient_dim": 4}},
        "n": [30, 60],
        "noise": [0.1],
        "estimators": {"perturbed_mle": dict(TINY_NET), "mle": dict(TINY_NET),
                       "vae": {**TINY_NET, "eval_samples": 8}, "kde": {}},
        "seeds": [0, 1],
        "extra_grids": [{"estimators": ["perturbed_mle"], "n": [60], "noise": [0.3], "seeds": [0]}],
        "evaluation": {"num_points": 40, "test_points": 20, "compare_n": 60},
    }
    cfg.update(extra)
    return cfg


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_run_cell_row():
    cell = load_study(tiny_study()).cells()[0].to_dict()
    row = run_cell(cell)
    assert row["status"] == "ok", row.get("traceback")
    assert (row["d"], row["D"]) == (1, 2)
    assert row["w1"] > 0 and row["oracle_w1"] > 0 and math.isfinite(row["loglik"]) and row["seconds"] > 0
    again = run_cell(cell)
    assert again["w1"] == row["w1"]  # seeded end to end
    assert "history" not in row
    cell["estimator_spec"] = {**cell["estimator_spec"], "history_every": 1}
    curve = run_cell(cell)["history"]  # the training curve, when asked for
    assert [h[0] for h in curve] == [0, 1, 2] and all(math.isfinite(h[1]) and h[2] > 0 for h in curve)


def test_python_run_outputs_and_resume(tmp_path):
    out = tmp_path / "study"
    res = run_study(tiny_study(), out, progress=False)
    n_cells = 2 * 2 * 4 * 2 + 2  # dists x n x estimators x seeds + the extra noise level
    assert (res.ran, res.skipped, res.failed) == (n_cells, 0, 0)
    rows = read_csv(out / "runs.csv")
    assert len(rows) == n_cells and list(rows[0]) == RUN_COLUMNS
    assert {r["estimator"] for r in rows} == {"perturbed_mle", "mle", "vae", "kde"}
    assert all(r["status"] == "ok" and float(r["w1"]) > 0 for r in rows)
    summary = read_csv(out / "summary.csv")
    assert {"w1_mean", "w1_se", "loglik_mean", "runs"} <= set(summary[0])
    assert len(summary) == 2 * 2 * 4 + 2
    slopes = read_csv(out / "slopes.csv")
    assert {float(s["theory_slope"]) for s in slopes} == {theory_exponent(1, 2.0), theory_exponent(2, 2.0)}
    md = (out / "summary.md").read_text()
    assert "Comparison at n = 60" in md and "perturbed_mle/mle" in md
    assert (out / "w1_vs_n.png").stat().st_size > 0 and (out / "w1_vs_noise.png").stat().st_size > 0
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert len(mtimes) == n_cells

    res2 = run_study(tiny_study(), out, progress=False)  # everything finished: nothing reruns
    assert (res2.ran, res2.skipped) == (0, n_cells)
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}

    # a changed estimator spec is a new cell; the others are kept
    changed = tiny_study()
    changed["estimators"]["kde"] = {"bandwidth": "silverman"}
    res3 = run_study(changed, out, progress=False, report=False)
    assert res3.ran == 2 * 2 * 2 and res3.skipped == n_cells - 8


def test_partial_run_resumes_only_missing_cells(tmp_path):
    out = tmp_path / "study"
    cfg = tiny_study(estimators={"kde": {}}, extra_grids=[])
    run_study(cfg, out, progress=False, report=False)
    cells = sorted((out / "cells").glob("*.json"))
    assert len(cells) == 8
    # what a kill can leave: a lost cell, a temporary file from an interrupted write, a failed cell
    cells[0].unlink()
    (out / "cells" / ".tmp-abc.json").write_text('{"status": "o')
    failed = json.loads(cells[1].read_text())
    failed["status"] = "error"
    cells[1].write_text(json.dumps(failed))
    keep = {p.name: p.stat().st_mtime_ns for p in cells[2:]}
    res = run_study(cfg, out, progress=False)
    assert (res.ran, res.skipped) == (2, 6)
    assert keep == {p.name: p.stat().st_mtime_ns for p in cells[2:]}
    assert all(v["status"] == "ok" for v in load_cells(out).values())
    assert len(read_csv(out / "runs.csv")) == 8


def test_any_executor_runs_the_grid(tmp_path):
    cfg = tiny_study(estimators={"perturbed_mle": dict(TINY_NET), "kde": {}}, n=[40], seeds=[0], extra_grids=[])
    with ThreadPoolExecutor(max_workers=2) as ex:
        res = run_study(cfg, tmp_path / "s", executor=ex, progress=False)
    assert (res.ran, res.failed) == (4, 0)
    assert len(read_csv(tmp_path / "s" / "runs.csv")) == 4


def test_report_slope_interval_and_ambient_dimension_view(tmp_path):
    """Slopes get a 95 % interval from the per-seed runs (checked against scipy's linregress);
    laws that differ only in D form a family with a W1-against-D table and plot."""
    from scipy import stats

    from geomgen.singular.studies.report import ambient_sensitivity, families, fit_slopes, summarize

    cfg = tiny_study(distributions={"c_D2": {"type": "circle_vm", "ambient_dim": 2},
                                    "c_D6": {"type": "circle_vm", "ambient_dim": 6},
                                    "swiss_roll": {}},
                     estimators={"kde": {}, "empirical": {}}, n=[30, 60, 120], seeds=[0, 1, 2], extra_grids=[])
    res = run_study(cfg, tmp_path / "s", progress=False)
    assert res.failed == 0
    loaded = load_study(cfg)
    assert families(loaded) == {"c": ["c_D2", "c_D6"]}
    rows = res.rows
    summary = summarize(rows)
    slopes = {(s["distribution"], s["estimator"]): s for s in fit_slopes(summary, 2.0, rows)}
    pts = [(math.log(r["n"]), math.log(r["w1"])) for r in rows if r["distribution"] == "c_D6" and r["estimator"] == "kde"]
    fit = stats.linregress(*zip(*pts))
    half = stats.t.ppf(0.975, len(pts) - 2) * fit.stderr
    s = slopes[("c_D6", "kde")]
    assert math.isclose(s["slope_lo"], fit.slope - half) and math.isclose(s["slope_hi"], fit.slope + half)
    sens = ambient_sensitivity(summary, loaded)
    assert {(r["family"], r["estimator"], r["n"]) for r in sens} == {("c", e, n) for e in ("kde", "empirical")
                                                                      for n in (30, 60, 120)}
    r = next(r for r in sens if r["estimator"] == "empirical" and r["n"] == 60)
    w = {x["D"]: x["w1_mean"] for x in summary if x["estimator"] == "empirical" and x["n"] == 60
         and x["distribution"] in ("c_D2", "c_D6")}
    assert (r["D_min"], r["D_max"]) == (2, 6) and math.isclose(r["ratio"], w[6] / w[2])
    assert (tmp_path / "s" / "w1_vs_D.png").stat().st_size > 0
    md = (tmp_path / "s" / "summary.md").read_text()
    assert "W1 against the ambient dimension D" in md and "95 % CI" in md
    emp = [x for x in rows if x["estimator"] == "empirical"]
    assert all(math.isnan(x["loglik"]) and x["w1"] > 0 for x in emp)  # no density; a W1 like any estimator


def test_paired_ambient_draws_share_the_manifold_points(tmp_path):
    """With evaluation.paired_ambient, laws that differ only in D get the same draws on the
    manifold: the empirical measure's W1 and the floor are then equal across D (isometries keep
    every distance), so a W1 difference between D is the estimator's own."""
    from geomgen.singular.studies.cell import Cell, sample_key

    dists = {"c_D2": {"type": "circle_vm", "ambient_dim": 2}, "c_D7": {"type": "circle_vm", "ambient_dim": 7}}
    for paired in (True, False):
        cfg = tiny_study(distributions=dists, estimators={"empirical": {}}, n=[50], seeds=[0], extra_grids=[],
                         evaluation={"num_points": 60, "test_points": 10, "compare_n": 50, "paired_ambient": paired})
        rows = {r["distribution"]: r for r in run_study(cfg, tmp_path / str(paired), progress=False).rows}
        # equal up to the exact solver's tolerance (distances in R^2 and R^7 agree to rounding only)
        same = math.isclose(rows["c_D2"]["w1"], rows["c_D7"]["w1"], rel_tol=1e-6)
        assert same == paired and (rows["c_D2"]["oracle_w1"] == pytest.approx(rows["c_D7"]["oracle_w1"])) == paired
    assert sample_key("c_D2", dists["c_D2"], {"paired_ambient": True}) == sample_key("c_D7", dists["c_D7"], {"paired_ambient": True})
    # switching the option off leaves the cell keys of earlier runs as they were
    plain = Cell("c", {"type": "circle"}, 10, 0.0, "kde", {"type": "kde"}, 0, {"num_points": 5})
    off = Cell("c", {"type": "circle"}, 10, 0.0, "kde", {"type": "kde"}, 0, {"num_points": 5, "paired_ambient": False})
    on = Cell("c", {"type": "circle"}, 10, 0.0, "kde", {"type": "kde"}, 0, {"num_points": 5, "paired_ambient": True})
    assert plain.key == off.key != on.key
