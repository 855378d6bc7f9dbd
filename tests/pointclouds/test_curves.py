import csv

import numpy as np
import pytest

from geomgen.pointclouds.curves import plateau_reached, plateau_step, read_metrics


def test_plateau_rule_known_answers():
    steps = np.arange(1, 101, dtype=float)
    # 1/s keeps improving: best before the last 20 % (step 80) is 1/80, best 1/100: 20 % better
    assert not plateau_reached(steps, 1 / steps)
    # flat after step 40: no improvement in the last 20 %
    flat = np.maximum(1 / steps, 1 / 40)
    assert plateau_reached(steps, flat)
    # 1 % improvement over the window plateaus, 3 % does not
    assert plateau_reached(steps, np.where(steps > 80, 0.99, 1.0))
    assert not plateau_reached(steps, np.where(steps > 80, 0.97, 1.0))
    # a noisy worse evaluation inside the window does not matter (best values)
    noisy = flat.copy()
    noisy[-1] = 1.0
    assert plateau_reached(steps, noisy)
    # the tolerance and window are parameters
    assert plateau_reached(steps, np.where(steps > 80, 0.97, 1.0), rel_tol=0.05)
    assert plateau_step(steps, flat) == 50.0  # first step S with 0.8 S >= 40 (at S = 49: 1/39 -> 1/40, 2.5 %)
    # too few evaluations before or inside the window: no verdict
    assert not plateau_reached([1.0, 2.0, 10.0], [1.0, 1.0, 1.0])
    assert not plateau_reached([], [])
    with pytest.raises(ValueError, match="increasing"):
        plateau_reached([1.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="equal length"):
        plateau_reached([1.0, 2.0], [1.0])


def test_read_metrics_merges_logger_versions(tmp_path):
    header = ["epoch", "step", "train/loss", "val/batches", "val/chamfer", "val/train_wall_s"]
    for version, rows in enumerate(([[0, 9, 0.5, "", "", ""], [0, 9, "", 10, 0.2, 1.5], [1, 19, "", 20, 0.1, 3.0]],
                                    [[1, 19, "", 20, 0.09, 3.1], [2, 29, "", 30, 0.08, 4.5]])):  # fmt: skip
        d = tmp_path / "lightning_logs" / f"version_{version}"
        d.mkdir(parents=True)
        with open(d / "metrics.csv", "w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
    m = read_metrics(tmp_path)
    np.testing.assert_allclose(m["val/batches"], [10, 20, 30])
    np.testing.assert_allclose(m["val/chamfer"], [0.2, 0.09, 0.08])  # the resumed run's row for step 20 wins
    np.testing.assert_allclose(m["val/train_wall_s"], [1.5, 3.1, 4.5])
    with pytest.raises(FileNotFoundError, match="no metrics.csv"):
        read_metrics(tmp_path / "nothing")


def test_learning_curve_script_writes_figure_and_table(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "evaluation" / "pointclouds" / "learning_curves.py"
    spec = importlib.util.spec_from_file_location("learning_curves", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    header = ["epoch", "step", "val/batches", "val/chamfer", "val/sw", "val/emd", "val/train_wall_s"]
    for name, rate in (("a", 1.0), ("b", 0.0)):
        d = tmp_path / name / "lightning_logs" / "version_0"
        d.mkdir(parents=True)
        rows = [[e, 10 * e + 9, 10 * (e + 1), 0.1 / (1 + rate * e), 0.2, 0.3, 2.0 * (e + 1)] for e in range(20)]
        with open(d / "metrics.csv", "w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
    out = tmp_path / "curves"
    assert module.main(["--run", f"falling={tmp_path / 'a'}", "--run", f"flat={tmp_path / 'b'}", "--out", str(out)]) == 0
    assert out.with_suffix(".png").stat().st_size > 0
    table = out.with_suffix(".md").read_text()
    assert "| falling | 200 | 40 | 0.0050 | 0.0050 |" in table and "| no | - |" in table
    assert "| flat | 200 | 40 | 0.1000 | 0.1000 |" in table and "| yes | 110 |" in table
