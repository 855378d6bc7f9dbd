"""End to end: the user-facing example script evaluation/singular/fit_your_data.py on a tiny input."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "evaluation" / "singular" / "fit_your_data.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("fit_your_data", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.filterwarnings("ignore:.*treespec.*")
@pytest.mark.filterwarnings("ignore:.*does not have many workers.*")
@pytest.mark.filterwarnings("ignore:.*IterableDataset.*")
def test_fit_your_data_end_to_end(script, tmp_path, capsys):
    shipped = script.read_points(SCRIPT.parent / "example_circle.csv")
    assert shipped.shape == (500, 2) and np.allclose(np.linalg.norm(shipped, axis=1), 1.0, atol=1e-5)
    data = tmp_path / "points.csv"
    np.savetxt(data, shipped[:60], delimiter=",", header="a,b", comments="")
    rc = script.main([str(data), "--samples", "50", "--max-steps", "3", "--hidden", "8", "--layers", "1",
                      "--folds", "2", "--grid", "0.05", "0.2", "--out", str(tmp_path / "out" / "fit")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "two-NN estimate" in text and "chosen s = " in text and "2-fold CV" in text
    samples = script.read_points(tmp_path / "out" / "fit_samples.csv")
    assert samples.shape == (50, 2) and (tmp_path / "out" / "fit_samples.png").stat().st_size > 0


def test_read_points_rejects_bad_rows(script, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n" + "1,2\n" * 12 + "3,\n")
    with pytest.raises(ValueError, match="non-finite"):
        script.read_points(bad)
    np.save(tmp_path / "p.npy", np.zeros((20, 3)))
    assert script.read_points(tmp_path / "p.npy").shape == (20, 3)
