"""evaluation/singular/w1_resampling.py: the empirical measure's resampling handicap in W1."""

import json

import numpy as np
import pytest

from evaluation.singular import w1_resampling as wr

SPEC = {"type": "sphere", "dim": 2, "kappa": 2.0, "ambient_dim": 3}


def test_a_subset_of_all_points_is_the_empirical_measure_itself():
    # with m = n the subset is a permutation of the training sample: the same measure as its n atoms
    r = wr.one_repeat(SPEC, 40, 40, seed=3)
    assert r["subset"] == pytest.approx(r["atoms"], abs=1e-12)
    assert all(v > 0 for v in r.values())


def test_repeats_are_reproducible_and_seed_dependent():
    assert wr.one_repeat(SPEC, 50, 20, seed=1) == wr.one_repeat(SPEC, 50, 20, seed=1)
    assert wr.one_repeat(SPEC, 50, 20, seed=1) != wr.one_repeat(SPEC, 50, 20, seed=2)


def test_study_excess_is_the_mean_of_w1_minus_its_floor(tmp_path):
    rows = [("empirical", 0.30, 0.20), ("empirical", 0.26, 0.22), ("empirical", 0.25, 0.20), ("mle", 0.5, 0.1)]
    with open(tmp_path / "runs.csv", "w") as f:
        f.write("n,estimator,w1,oracle_w1,status\n")
        for est, w, o in rows:
            f.write(f"4000,{est},{w},{o},ok\n")
        f.write("4000,empirical,9,0,error\n1000,empirical,9,0,ok\n")  # failed and other-n rows are left out
    out = wr.study_excess(tmp_path, 4000, ("empirical", "perturbed_mle"))
    mean, se, lo, hi, seeds = out["empirical"]
    assert seeds == 3 and mean == pytest.approx(np.mean([0.10, 0.04, 0.05]))
    assert se == pytest.approx(np.std([0.10, 0.04, 0.05], ddof=1) / np.sqrt(3))
    assert lo < mean < hi and "perturbed_mle" not in out
    assert wr.study_excess(tmp_path / "missing", 4000, ("empirical",)) == {}


def test_cli_writes_the_table_for_every_law(tmp_path, capsys):
    assert wr.main(["--n", "40", "--m", "20", "--repeats", "2", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "w1_resampling.md").read_text()
    assert "| sphere_d2 |" in text and "| sphere_d4 |" in text and "resample - fresh" in text
    data = json.loads((tmp_path / "w1_resampling.json").read_text())
    assert data["n"] == 40 and len(data["laws"]["sphere_d4"]["repeats"]) == 2
    assert "sphere_d2" in capsys.readouterr().out


def test_a_resample_larger_than_the_sample_has_no_subset(tmp_path):
    r = wr.one_repeat(SPEC, 20, 40, seed=0)
    assert np.isnan(r["subset"]) and np.isfinite([r["fresh"], r["resample"], r["atoms"]]).all()
    assert wr.main(["--n", "20", "--m", "40", "--repeats", "2", "--laws", "sphere_d2", "--out", str(tmp_path)]) == 0
    assert "| sphere_d2 |" in (tmp_path / "w1_resampling.md").read_text()
    assert "subset" not in wr.measure({"sphere_d2": wr.LAWS["sphere_d2"]}, 20, 40, 2, 0, progress=False)["sphere_d2"]["minus_fresh"]


def test_cli_refuses_a_single_repeat(tmp_path, capsys):
    with pytest.raises(SystemExit):
        wr.main(["--repeats", "1", "--out", str(tmp_path)])
    assert "--repeats must be at least 2" in capsys.readouterr().err
