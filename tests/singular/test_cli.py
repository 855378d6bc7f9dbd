import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from geomgen.cli import main

TINY = Path(__file__).resolve().parents[2] / "geomgen" / "singular" / "configs" / "tiny.yaml"


def test_cli_runs_the_tiny_study_and_resumes(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["simulate", str(TINY), "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "16 cells run, 0 skipped" in text
    with open(out / "runs.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16 and {"distribution", "n", "noise", "estimator", "seed", "w1", "loglik", "seconds"} <= set(rows[0])
    assert (out / "summary.md").exists() and (out / "w1_vs_n.png").exists()
    assert main(["simulate", "tiny", "-o", str(out), "--no-progress"]) == 0  # shipped name, resumes
    assert "0 cells run, 16 skipped" in capsys.readouterr().out


def test_cli_check_and_bad_config(tmp_path, capsys):
    assert main(["simulate", str(TINY), "-o", str(tmp_path / "o"), "--check"]) == 0
    assert "16 cells" in capsys.readouterr().out
    bad = yaml.safe_load(TINY.read_text())
    bad["noise"] = [-0.5]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    assert main(["simulate", str(p), "-o", str(tmp_path / "o2")]) == 2
    assert "noise[0]" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()  # failed before anything ran
    bad = yaml.safe_load(TINY.read_text())
    bad["distributions"]["klein_bottle"] = {}
    p.write_text(yaml.safe_dump(bad))
    assert main(["simulate", str(p), "-o", str(tmp_path / "o3")]) == 2
    assert "distributions.klein_bottle" in capsys.readouterr().err


def cell_files(out):
    """Finished cells, not the temporary file of a write the kill interrupted (``.<name>.*.tmp.json``)."""
    return [p for p in (out / "cells").glob("*.json") if not p.name.startswith(".")]


def test_killed_run_resumes(tmp_path):
    """SIGKILL a running study once some cells finished; the rerun keeps them and runs the rest."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["seeds"] = [0, 1]
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "geomgen", "simulate", str(study), "-o", str(out), "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(cell_files(out)) < 3:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers: a hard kill of the whole run
        proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in cell_files(out)}
    assert 3 <= len(done) < 32
    for p in cell_files(out):
        assert json.loads(p.read_text())["status"] == "ok"  # whole files only
    assert main(["simulate", str(study), "-o", str(out), "--no-progress", "--workers", "1"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in cell_files(out)}
    assert len(after) == 32
    assert all(after[k] == v for k, v in done.items())  # finished cells were not rerun
