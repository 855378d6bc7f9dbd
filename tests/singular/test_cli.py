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


def _default_signals():
    """In the child before exec: SIGINT and SIGTERM at their defaults and unblocked, as a shell
    gives a foreground command, whatever the test runner inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

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
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_default_signals)
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


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_study_files_and_output_folders_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    """Issue 13, item 5: these ended in tracebacks."""
    monkeypatch.chdir(tmp_path)
    Path("broken.yaml").write_text("a: [1, 2\n")
    Path("binary.yaml").write_bytes(b"\x00\x01binary")
    Path("latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    Path("notes.txt").write_text("just words\n")
    Path("afile").write_text("")
    cases = [
        (["broken.yaml", "-o", "o"], "geomgen simulate: broken.yaml: not a YAML study file (expected ',' or ']', but got '<stream end>' "
                                     "at line 2, column 1)"),
        (["binary.yaml", "-o", "o"], "geomgen simulate: binary.yaml: not a YAML study file (unacceptable character #x0000"),
        (["latin1.yaml", "-o", "o"], "geomgen simulate: latin1.yaml: not a YAML study file (not UTF-8 text"),
        (["notes.txt", "-o", "o"], "geomgen simulate: notes.txt: study config: expected a mapping at the top level, got str"),
        ([str(TINY), "-o", "afile"], "geomgen simulate: afile: -o names a file; give a folder"),
        ([str(TINY), "-o", "afile/sub"], "geomgen simulate: afile/sub: afile is a file, not a folder"),
        (["nothing", "-o", "o"], "geomgen simulate: nothing: no such study file, and no shipped study of that name (shipped studies: "
                                 f"{_shipped()})"),
        ([str(TINY), "-o", "o", "--workers", "0"], "geomgen simulate: --workers must be >= 1, got 0"),
    ]
    for args, message in cases:
        assert main(["simulate", *args, "--no-progress"]) == 2, args
        assert _one_line(capsys.readouterr().err).startswith(message)
    assert not Path("o").exists() and Path("afile").read_text() == ""


def _shipped() -> str:
    """The shipped studies as the messages list them: every YAML file of the package's configs, by name."""
    from importlib.resources import files

    names = sorted(p.name[: -len(".yaml")] for p in (files("geomgen.singular") / "configs").iterdir() if p.name.endswith(".yaml"))
    assert {"default", "tiny", "rates"} <= set(names)
    return ", ".join(names)


def test_a_folder_does_not_hide_a_shipped_study(tmp_path, capsys, monkeypatch):
    """Issue 13, item 6: `mkdir default; geomgen simulate default -o x` said "file not found"."""
    monkeypatch.chdir(tmp_path)
    Path("tiny").mkdir()
    Path("mine").mkdir()
    assert main(["simulate", "tiny", "-o", "o", "--check"]) == 0
    assert "study tiny: 16 cells" in capsys.readouterr().out
    assert main(["simulate", "mine", "-o", "o"]) == 2
    assert _one_line(capsys.readouterr().err) == ("geomgen simulate: mine: is a folder, not a study YAML file "
                                                  f"(shipped studies: {_shipped()})")
    Path("tiny.yaml").write_text(TINY.read_text().replace("name: tiny", "name: local"))  # a file is taken as given
    assert main(["simulate", "tiny.yaml", "-o", "o", "--check"]) == 0
    assert "16 cells" in capsys.readouterr().out


def test_interrupted_study_is_one_line_exit_130(tmp_path, capsys, monkeypatch):
    import geomgen.singular.studies.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_study", interrupted)
    assert main(["simulate", str(TINY), "-o", str(tmp_path / "o"), "--no-progress"]) == 130
    assert _one_line(capsys.readouterr().err) == (f"geomgen simulate: {TINY}: interrupted; finished cells are kept in "
                                                  f"{tmp_path / 'o'} (rerun to resume)")


def _alias_bomb(levels: int) -> str:
    """A valid-looking study whose description is ``levels`` nested aliases: 9**levels strings from ~400 bytes."""
    anchors = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    anchors += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return ("name: bomb\ndistributions: {circle_vm: {}}\nestimators: {kde: {}}\nn: [40]\nnoise: [0.1]\nseeds: [0]\n"
            f"description: [{', '.join(anchors)}]\n")


def test_yaml_alias_bomb_is_rejected_fast_in_one_short_line(tmp_path, capsys):
    """Issue 25, D7: an 8-level alias bomb (~600 bytes) took ~3 GB and 17-39 s to reject, a 6-level one
    gave a 4.3 MB error line. Aliases are refused while the file is read."""
    for levels in (6, 8):
        bomb = tmp_path / f"bomb{levels}.yaml"
        bomb.write_text(_alias_bomb(levels))
        assert bomb.stat().st_size < 600
        t0 = time.perf_counter()
        assert main(["simulate", str(bomb), "-o", str(tmp_path / "o"), "--check"]) == 2
        assert time.perf_counter() - t0 < 5
        line = _one_line(capsys.readouterr().err)
        assert line == (f"geomgen simulate: {bomb}: not a YAML study file (found alias *l0; YAML aliases and anchors are "
                        "not allowed in study files at line 7, column 89)")


def test_echoed_values_in_errors_are_cut_short(tmp_path, capsys):
    """Issue 25, D7: a bad value is echoed, but never whole; a file over 1 MiB is not read."""
    big = tmp_path / "big.yaml"
    big.write_text(TINY.read_text() + "description: [" + ", ".join(["lol"] * 100_000) + "]\n")
    assert main(["simulate", str(big), "-o", str(tmp_path / "o"), "--check"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"geomgen simulate: {big}: study config: description: expected a string, got ['lol', ") and len(line) < 400
    huge = tmp_path / "huge.yaml"
    huge.write_text(TINY.read_text() + "# " + "x" * (1 << 20) + "\n")
    assert main(["simulate", str(huge), "-o", str(tmp_path / "o"), "--check"]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"geomgen simulate: {huge}: study config: the file is ")


def test_help_lists_every_shipped_study(capsys):
    """Issue 25: --help listed three shipped studies (a hand-kept list) where there are five."""
    shipped = sorted(p.stem for p in TINY.parent.glob("*.yaml"))
    assert len(shipped) >= 5
    try:
        main(["simulate", "--help"])
    except SystemExit as e:
        assert e.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"or the name of a shipped study ({', '.join(shipped)})" in help_text


def test_ctrl_c_during_a_fit_is_exit_130_with_one_line(tmp_path):
    """Issue 25, D11: SIGINT while Lightning trains ended the study with status 1 and no message
    (Lightning catches KeyboardInterrupt and calls sys.exit(1)). The finished cell stays on disk."""
    cfg = yaml.safe_load(TINY.read_text())
    small = {"hidden": 8, "layers": 1, "num_samples": 16, "eval_samples": 32, "batch_size": 16}
    cfg.update(distributions={"circle_vm": {}}, n=[40], seeds=[0],
               estimators={"mle": {"max_steps": 5, **small}, "perturbed_mle": {"max_steps": 10**7, **small}})
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump(cfg, sort_keys=False))  # cells in order: the short mle fit, then the long one
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "geomgen", "simulate", str(study), "-o", str(out), "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_signals)
    try:
        deadline = time.time() + 25
        while time.time() < deadline and not cell_files(out) and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(1.5)  # Lightning is imported: the long fit is under way
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    line = _one_line(err)
    assert line.startswith(f"geomgen simulate: {study}: interrupted during cell circle_vm__n40__s0.1__perturbed_mle__seed0__")
    assert ", perturbed_mle fit at step " in line
    assert line.endswith(f"; finished cells are kept in {out} (rerun to resume)")
    (done,) = cell_files(out)
    assert "__mle__" in done.name and json.loads(done.read_text())["status"] == "ok"
