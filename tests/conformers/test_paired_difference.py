import json

import numpy as np
import pytest
from scipy import stats

from evaluation.conformers.paired_difference import main, paired


def _rows(split, method, scores):
    return {"split": split, "method": method, "per molecule": [[f"m{k}", *s] for k, s in enumerate(scores)]}


def test_paired_differences_known_answer_and_seed_averaging():
    base = [[0.3, 0.8, 0.5], [0.2, 0.9, 0.4], [0.4, 0.6, 0.7], [0.1, 1.0, 0.3]]
    shift = np.array([[0.01, -0.1, 0.02], [0.03, 0.0, 0.06], [-0.01, 0.1, 0.01], [0.05, -0.2, 0.03]])
    other = (np.array(base) + shift).tolist()
    seed1 = [_rows("val", "a", base), _rows("val", "b", other)]
    # a second seed where molecule m0 failed for b and m3 differs by twice as much
    other2 = (np.array(base) + shift * np.array([[1], [1], [1], [2]])).tolist()
    other2[0] = [None, None, None]
    seed2 = [_rows("val", "a", base), {"split": "val", "method": "b",
                                         "per molecule": [["m0", None, None, None]] + [[f"m{k}", *s] for k, s in enumerate(other2) if k]}]
    res = {r["metric"]: r for r in paired([seed1, seed2], "a", "b")}
    d = shift.copy()
    d[3] = (shift[3] + 2 * shift[3]) / 2  # averaged over the two seeds; m0 only from seed 1
    for col, name in enumerate(["W1 torsions", "COV-R@0.75", "AMR-R"]):
        x = d[:, col]
        se = x.std(ddof=1) / 2
        half = stats.t.ppf(0.975, 3) * se
        r = res[name]
        assert r["molecules"] == 4 and r["split"] == "val"
        assert r["mean"] == pytest.approx(x.mean()) and r["se"] == pytest.approx(se)
        assert (r["low"], r["high"]) == pytest.approx((x.mean() - half, x.mean() + half))
        assert r["resolved"] == (abs(x.mean()) > half)
    assert res["AMR-R"]["other better"] == 0 and res["COV-R@0.75"]["other better"] == 1  # lower AMR-R, higher COV-R is better


def test_pooled_row_and_cli(tmp_path, capsys):
    rows = [_rows("val", "a", [[0.1, 0.5, 0.5]] * 3), _rows("val", "b", [[0.2, 0.5, 0.5]] * 3),
            _rows("test", "a", [[0.1, 0.5, 0.5]] * 2), _rows("test", "b", [[0.0, 0.5, 0.5]] * 2)]
    f = tmp_path / "r.json"
    f.write_text(json.dumps(rows))
    out = tmp_path / "p.md"
    assert main([str(f), "--base", "a", "--other", "b", "-o", str(out)]) == 0
    res = {(r["split"], r["metric"]): r for r in paired([rows], "a", "b")}
    assert res[("all", "W1 torsions")]["molecules"] == 5
    assert res[("all", "W1 torsions")]["mean"] == pytest.approx((3 * 0.1 - 2 * 0.1) / 5)
    assert "| all | W1 torsions | 5 |" in out.read_text()
    with pytest.raises(ValueError, match="no molecule"):
        paired([rows], "a", "c")



def test_precision_and_energy_scores_where_every_file_has_them():
    six_a = [[0.1, 0.5, 0.5, 0.6, 0.5, -20.0], [0.2, 0.4, 0.6, 0.7, 0.4, -18.0]]
    six_b = [[0.1, 0.5, 0.5, 0.7, 0.4, -21.0], [0.2, 0.4, 0.6, 0.8, 0.3, -19.0]]
    new = [_rows("val", "a", six_a), _rows("val", "b", six_b)]
    res = {r["metric"]: r for r in paired([new], "a", "b")}
    assert res["COV-P@0.75"]["mean"] == pytest.approx(0.1) and res["COV-P@0.75"]["other better"] == 2
    assert res["AMR-P"]["mean"] == pytest.approx(-0.1) and res["dE"]["mean"] == pytest.approx(-1.0)
    # an older file (three scores per molecule) next to a new one: only the three shared scores
    old = [_rows("val", "a", [x[:3] for x in six_a]), _rows("val", "b", [x[:3] for x in six_b])]
    assert {r["metric"] for r in paired([new, old], "a", "b")} == {"W1 torsions", "COV-R@0.75", "AMR-R"}
