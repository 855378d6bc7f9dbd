import json

import numpy as np
import pytest

from evaluation.conformers.budget_pilot import draw_molecules, molecule_record, report_lines, share_by_budget, wilson


def test_share_by_budget_known_answer():
    recs = [{"converged": True, "cpu_seconds": 5.0}, {"converged": True, "cpu_seconds": 50.0},
            {"converged": False, "cpu_seconds": 120.0}, {"converged": False, "cpu_seconds": 2.0}]  # the last failed early
    rows = share_by_budget(recs, [10, 60, 120])
    assert [r["converged"] for r in rows] == [1, 2, 2]
    assert rows[0]["mean_cpu_seconds"] == pytest.approx((5 + 10 + 10 + 2) / 4)
    assert rows[1]["mean_cpu_seconds"] == pytest.approx((5 + 50 + 60 + 2) / 4)
    assert rows[2]["converged_per_cpu_hour"] == pytest.approx(2 / (4 * (5 + 50 + 120 + 2) / 4 / 3600))
    assert rows[1]["low"] < 0.5 < rows[1]["high"]


def test_wilson_matches_the_closed_form():
    k, n, z = 7, 20, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson(k, n) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert all(np.isnan(wilson(0, 0)))


def test_draw_is_seeded_without_replacement_in_file_order_and_checks_its_size():
    rows = [(f"m{i}", "C" * (i + 1)) for i in range(10)]
    a = draw_molecules(rows, 4, seed=3)
    assert a == draw_molecules(rows, 4, seed=3) and len({i for i, _ in a}) == 4
    assert a == sorted(a, key=rows.index)
    assert a != draw_molecules(rows, 4, seed=4)
    with pytest.raises(ValueError, match="between 1 and 10"):
        draw_molecules(rows, 11, seed=0)


def test_molecule_record_and_report_read_results_and_failures(tmp_path):
    diag = {"converged": True, "cpu_seconds": 12.5, "n_torsions": 3, "torsion_converged": [True, True, False],
            "torsions_converged": False, "rhat_max": 1.02, "ess_min": 140.0, "state_names": ["amide-0"],
            "state_population": [0.2], "states_converged": True, "sampler_version": 4, "sampler_revision": 11}
    np.savez(tmp_path / "a.npz", diagnostics=np.array(json.dumps(diag)))
    (tmp_path / "b.fail.json").write_text(json.dumps({"id": "b", "ok": False, "error": "ValueError: bad"}))
    a, b = molecule_record("a", "CC(=O)NC", tmp_path), molecule_record("b", "X", tmp_path)
    assert a["converged"] and a["torsions_passing"] == 2 and a["states"] == ["amide-0"]
    assert not b["ok"] and not b["converged"] and "bad" in b["error"]
    text = "\n".join(report_lines([a, b], "train", 60.0, "cmd"))
    assert "| 10 | 0 of 2 |" in text and "| 30 | 1 of 2 |" in text and "| 60 | 1 of 2 |" in text
    assert "failed: ValueError: bad" in text and "amide-0 0.20" in text and "sampler version 4.11" in text
