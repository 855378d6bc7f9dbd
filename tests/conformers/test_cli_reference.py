import csv

import pytest
from rdkit import Chem

from geomgen.cli import main


def test_reference_command_writes_samples_diagnostics_and_failures(tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("ClCCCl dce\nC1CC broken\nCCCO propanol\n")
    out = tmp_path / "out" / "ref.sdf"
    rc = main(["reference", str(smi), "-n", "5", "-o", str(out), "--chains", "2", "--max-sweeps", "20"])
    assert rc == 0
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert len(mols) == 10
    assert {m.GetProp("molecule") for m in mols} == {"dce", "propanol"}
    assert all(float(m.GetProp("MMFF94_energy_kcal_mol")) < 100 for m in mols)
    diag = list(csv.DictReader(open(tmp_path / "out" / "ref.diagnostics.csv")))
    assert [d["name"] for d in diag] == ["dce", "propanol"] and "rhat_max" in diag[0]
    fails = list(csv.DictReader(open(tmp_path / "out" / "ref.failures.csv")))
    assert fails[0]["name"] == "broken" and "unparsable" in fails[0]["reason"]
    assert "broken" in capsys.readouterr().err


def test_reference_command_nothing_succeeds(tmp_path):
    out = tmp_path / "x.sdf"
    assert main(["reference", "C1CC", "-n", "3", "-o", str(out), "--max-sweeps", "5"]) == 1
    assert not out.exists()


def test_molecule_without_rotatable_torsion_and_stdout(tmp_path, capsys, monkeypatch):
    """CCO has no rotatable torsion: valid samples and a message, no traceback; ``-o -`` writes
    the SDF to standard output, the diagnostics to standard error and no stray files."""
    monkeypatch.chdir(tmp_path)
    assert main(["reference", "CCO", "-n", "3", "-o", "-", "--max-sweeps", "20"]) == 0
    cap = capsys.readouterr()
    assert cap.out.count("$$$$") == 3 and "no rotatable torsion" in cap.err and "rhat_max" in cap.err
    assert list(tmp_path.iterdir()) == []


def test_convergence_flags_and_bad_values(tmp_path, capsys):
    out = tmp_path / "r.sdf"
    assert main(["reference", "CCCO", "-n", "4", "-o", str(out), "--max-sweeps", "400", "--max-seconds", "30",
                 "--w1", "0.5", "--ess", "20", "--rhat", "1.2"]) == 0
    diag = list(csv.DictReader(open(tmp_path / "r.diagnostics.csv")))
    assert diag[0]["converged"] == "True"  # loose targets on propanol are met
    assert main(["reference", "CCCO", "-o", str(out), "--chains", "1"]) == 2
    assert "--chains must be at least 2" in capsys.readouterr().err


def test_ring_flip_flag(tmp_path, capsys):
    out = tmp_path / "r.sdf"
    assert main(["reference", "CC1CCCCC1", "-n", "4", "-o", str(out), "--max-sweeps", "200", "--ring-flips", "1"]) == 0
    diag = list(csv.DictReader(open(tmp_path / "r.diagnostics.csv")))
    assert 0.0 < float(diag[0]["ring_flip_acceptance"]) < 1.0
    assert main(["reference", "CC1CCCCC1", "-o", str(out), "--ring-flips", "-1"]) == 2
    assert "--ring-flips must be non-negative" in capsys.readouterr().err


@pytest.mark.parametrize("flags, said", [
    (["--temperature", "0"], "--temperature must be positive and finite, got 0.0"),
    (["--temperature", "-5"], "--temperature must be positive and finite, got -5.0"),
    (["--temperature", "nan"], "--temperature must be positive and finite, got nan"),
    (["--temperature", "inf"], "--temperature must be positive and finite, got inf"),
    (["--rhat", "nan"], "--rhat must be above 1 and finite, got nan"),
    (["--rhat", "1"], "--rhat must be above 1 and finite, got 1.0"),
    (["--w1", "-1"], "--w1 must be positive and finite, got -1.0"),
    (["--w1", "inf"], "--w1 must be positive and finite, got inf"),
    (["--ess", "0"], "--ess must be positive and finite, got 0.0"),
    (["--ess", "nan"], "--ess must be positive and finite, got nan"),
    (["--ring-flips", "nan"], "--ring-flips must be non-negative and finite, got nan"),
    (["--ring-flips", "inf"], "--ring-flips must be non-negative and finite, got inf"),
    (["--max-seconds", "nan"], "--max-seconds must be positive, got nan"),
    (["--max-seconds=-inf"], "--max-seconds must be positive, got -inf"),
    (["--max-sweeps", "0"], "--max-sweeps must be at least 1, got 0"),
    (["--replicas", "0"], "--replicas must be at least 1, got 0"),
    (["--jobs", "0"], "--jobs must be at least 1, got 0"),
    (["-n", "0"], "-n must be at least 1, got 0"),
    (["--seed", "-1"], "--seed must be between 0 and 2147459346, got -1"),
    (["--seed", "4294967296"], "--seed must be between 0 and 2147459346, got 4294967296"),
])
def test_every_numeric_option_is_checked_before_any_work(tmp_path, capsys, monkeypatch, flags, said):
    """Issue 25, D3: --temperature 0 gave a ZeroDivisionError per molecule, -5 and nan ran 20,000
    sweeps and exited 0; --rhat nan and --w1 -1 were accepted. Now: one line, exit 2, nothing done."""
    import geomgen.conformers.commands.reference as reference

    monkeypatch.setattr(reference, "_one", lambda *a: pytest.fail("sampled despite a bad option"))
    out = tmp_path / "r.sdf"
    assert main(["reference", "CCCC", "-o", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err == f"geomgen reference: {said}\n"
    assert list(tmp_path.iterdir()) == []


def test_infinite_max_seconds_means_no_cap(tmp_path):
    assert main(["reference", "CCO", "-n", "2", "-o", str(tmp_path / "r.sdf"), "--max-sweeps", "5", "--max-seconds", "inf"]) == 0


@pytest.mark.parametrize("where, said", [
    ("folder", "is a folder"),
    ("r.txt", "unknown output type '.txt'"),
    ("file/r.sdf", "is a file, not a folder"),
    ("readonly/r.sdf", "cannot write here"),
])
def test_output_path_is_checked_before_any_work(tmp_path, capsys, monkeypatch, where, said):
    """Issue 25, D4: -o /sys/r.sdf or an existing folder gave tracebacks after the sampling, and
    -o r.txt wrote SDF into a .txt file. Now: one line naming the path, exit 2, before any work."""
    import os

    import geomgen.conformers.commands.reference as reference

    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "readonly").mkdir()
    os.chmod(tmp_path / "readonly", 0o555)
    out = str(tmp_path / where)
    if where == "readonly/r.sdf" and os.access(tmp_path / "readonly", os.W_OK):  # root: sysfs is read-only for everyone
        if not os.path.isdir("/sys/kernel"):
            pytest.skip("running as a user who may write anywhere")
        out = "/sys/kernel/r.sdf"
    monkeypatch.setattr(reference, "_one", lambda *a: pytest.fail("sampled despite a bad output path"))
    assert main(["reference", "CCCC", "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"geomgen reference: {out!r}: ") and said in err and err.count("\n") == 1
    assert not (tmp_path / "r.txt").exists()


def test_closed_standard_output_is_a_usage_error(capsys, monkeypatch):
    import sys

    import geomgen.conformers.commands.reference as reference

    monkeypatch.setattr(reference, "_one", lambda *a: pytest.fail("sampled into a closed standard output"))
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["reference", "CCCC", "-o", "-"]) == 2
    assert capsys.readouterr().err == "geomgen reference: -o -: standard output is closed\n"


def test_a_write_failure_at_the_end_is_one_line_and_exit_1(tmp_path):
    """``-o - >/dev/full`` (and a disk that fills up) gave a traceback after the sampling."""
    import os
    import subprocess
    import sys

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    code = "import sys; from geomgen.cli import main; sys.exit(main(sys.argv[1:]))"
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-c", code, "reference", "CCO", "-n", "2", "-o", "-", "--max-sweeps", "5"],
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "Exception" not in res.stderr
    assert res.stderr.splitlines()[-1] == "geomgen reference: CCO: cannot write standard output: No space left on device"
