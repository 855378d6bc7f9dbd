import math
from types import SimpleNamespace

import pytest

from evaluation.singular.run_rates import largest_n_lines, validation_lines, variant_base, variant_lines


def test_variant_base_takes_the_longest_prefix_of_the_same_type():
    types = {"mle": "mle", "mle_x4": "mle", "mle_x4_wide": "mle", "perturbed_mle": "perturbed_mle", "kde": "kde",
             "kde_cv": "kde"}
    assert variant_base("mle_x4", types) == "mle"
    assert variant_base("mle_x4_wide", types) == "mle_x4"
    assert variant_base("perturbed_mle", types) is None  # mle is of another type
    assert variant_base("kde_cv", types) == "kde"
    assert variant_base("mle", types) is None


def test_variant_lines_paired_difference_known_answer():
    cfg = SimpleNamespace(estimators={"mle": {"type": "mle"}, "mle_x4": {"type": "mle"}})
    base = {0: (1e-4, 0.20), 1: (3e-4, 0.30), 2: (2e-4, 0.25)}
    var = {0: (0.5e-4, 0.18), 1: (2e-4, 0.27), 2: (1.5e-4, 0.24)}
    rows = [{"status": "ok", "distribution": "s2", "n": 4000, "estimator": e, "noise": 0.0, "seed": s, "energy": v[0], "w1": v[1]}
            for e, t in (("mle", base), ("mle_x4", var)) for s, v in t.items()]
    rows.append({"status": "error", "distribution": "s2", "n": 4000, "estimator": "mle_x4", "noise": 0.0, "seed": 3})
    lines = variant_lines(rows, cfg)
    row = [x for x in lines if x.startswith("| s2 |")]
    assert len(row) == 1
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert cells[:6] == ["s2", "4000", "0.0", "mle_x4", "mle", "3"]
    d = [-0.5e-4, -1e-4, -0.5e-4]
    m, se = sum(d) / 3, math.sqrt(sum((x - sum(d) / 3) ** 2 for x in d) / 2 / 3)
    assert cells[7] == f"{m:+.2e} ± {se:.1e}*"  # beyond 2 SE
    assert float(cells[6]) == pytest.approx(2e-4)
    dw = [-0.02, -0.03, -0.01]
    mw, sew = sum(dw) / 3, math.sqrt(sum((x + 0.02) ** 2 for x in dw) / 2 / 3)
    assert cells[9] == f"{mw:+.4f} ± {sew:.4f}*"
    assert variant_lines(rows, SimpleNamespace(estimators={"mle": {"type": "mle"}})) == []


def _largest_n_rows(n):
    # perturbed below both peers on every seed, in W1 and in energy
    vals = {"perturbed_mle": (1e-4, 0.20), "mle": (3e-4, 0.25), "empirical": (2e-4, 0.23)}
    return [{"status": "ok", "distribution": "s2", "d": 2, "n": n, "estimator": e, "noise": "schedule" if e == "perturbed_mle" else 0.0,
             "seed": s, "energy": v[0] + 1e-6 * s * (e == "mle"), "w1": v[1] + 0.001 * s * (e == "mle"),
             "w1_debiased": v[1] - 0.1 + 0.001 * s * (e == "empirical")}
            for e, v in vals.items() for s in range(3)]


@pytest.mark.parametrize("n", [4000, 1000])
def test_largest_n_does_not_credit_w1_against_the_resampled_empirical_measure(n):
    # the empirical measure's W1 carries the resample's second sampling error at every n: shown, marked, not counted
    cfg = SimpleNamespace(estimators={"perturbed_mle": {"type": "perturbed_mle"}, "mle": {"type": "mle"}, "empirical": {"type": "empirical"}},
                          distributions={"s2": {}}, evaluation=SimpleNamespace(num_points=2000))
    table = {c[5]: c for c in ([x.strip() for x in line.strip("|").split("|")] for line in largest_n_lines(_largest_n_rows(n), cfg)
                                if line.startswith("| s2 |"))}
    assert set(table) == {"w1", "w1_debiased", "energy"}
    assert table["energy"][8] == "met" and "\u2020" not in table["energy"][7]
    for metric in ("w1", "w1_debiased"):
        assert table[metric][7].startswith("-0.03") and table[metric][6].startswith("-0.05")
        assert table[metric][8] == "MISSED" and table[metric][7].endswith("\u2020") and "\u2020" not in table[metric][6]


def test_validation_lines_list_each_early_stopped_fit_and_draw_its_curve(tmp_path):
    val = {"best_step": 200, "steps_run": 300, "best_val_loss": 1.5, "refit": True,
           "curve": [(100, 2.0), (200, 1.5), (300, 1.7)]}
    rows = [{"status": "ok", "distribution": "s4", "n": 4000, "estimator": "mle_es", "seed": s, "sigma": 0.005,
             "validation": val} for s in (1, 0)]
    rows.append({"status": "ok", "distribution": "s4", "n": 4000, "estimator": "mle", "seed": 0})  # no validation
    lines = validation_lines(rows, tmp_path)
    table = [x for x in lines if x.startswith("| s4 |")]
    assert [c.split(" | ")[3] for c in table] == ["0", "1"]  # sorted by seed; the fit without validation left out
    assert table[0] == "| s4 | 4000 | mle_es | 0 | 200 | 300 | 1.5000 | yes | 0.0050 |"
    assert (tmp_path / "validation_curves.png").stat().st_size > 0
    assert validation_lines(rows[2:], tmp_path) == []
