"""The evaluation of issue 30 in a study: repeated W1 with its floor, the energy distance, noise rules."""

import csv
import math

import pytest

from geomgen.singular.studies import load_study, run_cell, run_study
from geomgen.singular.studies.report import floor_table, write_report

pytestmark = [pytest.mark.filterwarnings("ignore:.*treespec.*"),
              pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
              pytest.mark.filterwarnings("ignore:.*IterableDataset.*")]

TINY_NET = {"max_steps": 3, "hidden": 8, "layers": 1, "num_samples": 16, "eval_samples": 32, "batch_size": 16}


def study(evaluation=None, noise=(0.1,)):
    return {"name": "ev", "distributions": {"circle_vm": {}}, "n": [30, 60], "noise": list(noise),
            "estimators": {"perturbed_mle": {**TINY_NET, "cv_folds": 2}, "kde": {}, "empirical": {}}, "seeds": [0, 1],
            "evaluation": {"num_points": 40, "test_points": 20, "compare_n": 60, **(evaluation or {})}}


def test_legacy_evaluation_keeps_the_keys_of_older_studies():
    old = load_study(study()).cells()
    explicit = load_study(study({"w1_repeats": 1, "energy_points": 0, "energy_directions": 0})).cells()
    assert [c.key for c in old] == [c.key for c in explicit]
    new = load_study(study({"energy_points": 50})).cells()
    assert not {c.key for c in old} & {c.key for c in new}


def test_cell_records_w1_with_its_floor_and_the_energy_distance():
    cells = load_study(study({"w1_repeats": 3, "energy_points": 60})).cells()
    row = run_cell(next(c for c in cells if c.estimator == "kde").to_dict())
    assert row["status"] == "ok", row.get("traceback")
    assert row["w1_repeats"] == 3 and row["w1_se"] > 0 and row["oracle_w1_se"] > 0
    assert row["w1_debiased"] == pytest.approx(row["w1"] - row["oracle_w1"])
    assert math.isfinite(row["energy"]) and row["energy_se"] > 0 and row["energy_points"] == 60
    assert abs(row["oracle_energy"]) < 5 * row["oracle_energy_se"]
    # repeat 0 draws what a one-repeat (older) evaluation draws
    one = run_cell(next(c for c in load_study(study()).cells() if c.estimator == "kde").to_dict())
    assert "energy" not in one and one["w1_repeats"] == 1 and math.isnan(one["w1_se"])


def test_cell_slices_the_energy_distance_when_asked():
    # the same draws as the exact evaluation; in 1-D (the circle's angles live in R^2, so two
    # directions) the sliced value is close to the exact one and the floor is near 0
    exact = load_study(study({"energy_points": 60})).cells()
    sliced = load_study(study({"energy_points": 60, "energy_directions": 16})).cells()
    assert not {c.key for c in exact} & {c.key for c in sliced}
    a = run_cell(next(c for c in exact if c.estimator == "kde" and c.n == 60).to_dict())
    b = run_cell(next(c for c in sliced if c.estimator == "kde" and c.n == 60).to_dict())
    assert b["status"] == "ok", b.get("traceback")
    assert b["energy_directions"] == 16 and a["energy_directions"] == 0
    assert abs(b["energy"] - a["energy"]) < 2 * (a["energy_se"] + b["energy_se"])
    assert abs(b["oracle_energy"]) < 5 * b["oracle_energy_se"]


def test_noise_rules_in_a_study_and_the_report(tmp_path):
    cfg = load_study(study({"energy_points": 60}, noise=(0.1, "schedule", "auto")))
    res = run_study(cfg, tmp_path, progress=False)
    assert res.failed == 0
    auto = [r for r in res.rows if r["noise"] == "auto"]
    assert auto and all(r["noise_used"] in [t["noise"] for t in r["noise_selection"]["table"]] for r in auto)
    sched = [r for r in res.rows if r["noise"] == "schedule"]
    assert sched and sched[0]["noise_used"] > 0
    with open(tmp_path / "runs.csv") as fh:
        runs = list(csv.DictReader(fh))
    assert {"noise_used", "w1_debiased", "energy", "oracle_energy"} <= set(runs[0])
    assert (tmp_path / "floors.csv").exists() and (tmp_path / "energy_vs_n.png").exists()
    assert "Evaluation floor" in (tmp_path / "summary.md").read_text()
    # rows of an older study (no new columns) still make a report
    old = [{k: v for k, v in r.items() if k not in ("energy", "oracle_energy", "oracle_energy_se", "w1_debiased",
                                                     "noise_used")} for r in res.rows]
    (tmp_path / "old").mkdir()
    rep = write_report(old, cfg, tmp_path / "old")
    assert all(math.isnan(f["energy_floor"]) for f in rep["floors"])


def test_floor_table_ratio():
    summary = [{"distribution": "a", "d": 1, "D": 2, "n": 10, "estimator": e, "w1_mean": w, "oracle_w1_mean": 0.05,
                "energy_mean": en, "oracle_energy_se_mean": 0.001, "w1_debiased_mean": db, "w1_debiased_se_mean": dse}
               for e, w, en, db, dse in (("x", 0.2, 0.01, 0.15, 0.004), ("y", 0.1, 0.02, 0.05, 0.006))]
    (row,) = floor_table(summary)
    assert row["w1_min_estimator"] == "y" and row["w1_ratio"] == pytest.approx(0.5)
    assert row["energy_min_estimator"] == "x" and row["energy_ratio"] == pytest.approx(0.2)
    # W1 - floor: twice the mean standard error over the smallest mean
    assert row["w1_debiased_min_estimator"] == "y" and row["w1_debiased_floor"] == pytest.approx(0.01)
    assert row["w1_debiased_ratio"] == pytest.approx(0.2)
    # an estimate at or below 0 (within the noise of the truth) has no ratio
    summary[1]["w1_debiased_mean"] = -0.001
    assert math.isnan(floor_table(summary)[0]["w1_debiased_ratio"])


def test_floors_are_solved_once_per_law_and_seed_and_equal_a_fresh_solve(monkeypatch):
    """Every estimator of one (law, seed) meets the same truth samples, so its floors come from the
    worker's cache after the first cell, with the values a fresh solve gives."""
    from geomgen.singular.studies import cell as cell_mod

    cells = [c for c in load_study(study({"w1_repeats": 2, "energy_points": 60})).cells() if c.seed == 0 and c.n == 30]
    monkeypatch.setattr(cell_mod, "_FLOORS", {})
    first = run_cell(cells[0].to_dict())
    assert len(cell_mod._FLOORS) == 3  # two W1 repeats and the energy distance
    rows = [run_cell(c.to_dict()) for c in cells[1:]]
    assert len(cell_mod._FLOORS) == 3
    monkeypatch.setattr(cell_mod, "_FLOORS", {})
    fresh = run_cell(cells[-1].to_dict())
    for key in ("oracle_w1", "oracle_w1_se", "oracle_energy", "oracle_energy_se", "w1", "w1_debiased"):
        assert rows[-1][key] == fresh[key]
    assert all(r["oracle_w1"] == first["oracle_w1"] for r in rows)


def test_empirical_energy_line_of_a_study_law():
    # E||X - X'|| / n of the law named in a study: exactly 1/n in n (one set of draws), and the sliced
    # version over the study's directions close to it for the uniform circle (isotropic)
    from geomgen.singular.studies.report import empirical_energy_line

    full = empirical_energy_line({"type": "circle"}, [10, 40], draws=20_000)
    assert full[0].value == pytest.approx(4 * full[1].value, rel=1e-12) and full[0].se > 0
    # uniform on the unit circle: E||X - X'|| = E 2|sin(U/2)| = 4 / pi
    assert full[0].value == pytest.approx(0.4 / math.pi, abs=4 * full[0].se)
    sliced = empirical_energy_line({"type": "circle"}, [10], directions=16, draws=20_000)
    assert sliced[0].value == pytest.approx(full[0].value, rel=0.05)
