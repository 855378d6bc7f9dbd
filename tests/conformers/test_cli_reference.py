import csv

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
