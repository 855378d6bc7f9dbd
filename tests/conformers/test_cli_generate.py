import csv

import pytest
from rdkit import Chem

from geomgen.cli import main


def _records(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_file_with_bad_molecules(tmp_path, tiny_checkpoint, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCCCO butanol\nC1CC broken\nCCO.Cl salt\nC[Si](C)(C)C silane\nCC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen\n")
    out = tmp_path / "o" / "out.sdf"
    rc = main(["conformers", str(smi), "-n", "3", "-o", str(out), "--model", str(tiny_checkpoint), "--seed", "1"])
    assert rc == 0
    recs = _records(out)
    assert len(recs) == 6
    assert [r.GetProp("_Name") for r in recs[:3]] == ["butanol_0", "butanol_1", "butanol_2"]
    assert {r.GetProp("molecule") for r in recs} == {"butanol", "ibuprofen"}
    fails = {r["name"]: r["reason"] for r in csv.DictReader(open(tmp_path / "o" / "out.failures.csv"))}
    assert set(fails) == {"broken", "salt", "silane"}
    assert "unparsable" in fails["broken"] and "fragments" in fails["salt"] and "unsupported element" in fails["silane"]
    err = capsys.readouterr().err
    assert "broken" in err and "3 molecule(s) failed" in err


def test_csv_sdf_inputs_jobs_and_options(tmp_path, tiny_checkpoint):
    c = tmp_path / "in.csv"
    c.write_text("name,SMILES\nA,CCCCO\nB,OCC(=O)Nc1ccccc1\n")
    out = tmp_path / "a.sdf"
    assert main(["conformers", str(c), "-n", "2", "-o", str(out), "--model", str(tiny_checkpoint), "--jobs", "2", "--chunk", "1", "--relax"]) == 0
    recs = _records(out)
    assert [r.GetProp("molecule") for r in recs] == ["A", "A", "B", "B"]
    assert all(r.HasProp("MMFF94_energy_kcal_mol") for r in recs)
    # the SDF output is itself a valid input
    out2 = tmp_path / "b.sdf"
    assert main(["conformers", str(out), "-n", "1", "-o", str(out2), "--model", str(tiny_checkpoint), "--boltzmann"]) == 0
    assert len(_records(out2)) == 4


def test_exit_codes(tmp_path, tiny_checkpoint):
    out = tmp_path / "x.sdf"
    assert main(["conformers", "C1CC", "-n", "2", "-o", str(out), "--model", str(tiny_checkpoint)]) == 1
    assert not out.exists()
    assert main(["conformers", str(tmp_path / "missing.smi"), "-n", "2", "-o", str(out), "--model", str(tiny_checkpoint)]) == 2
    assert main(["conformers", "CCCC", "-n", "2", "-o", str(out), "--model", str(tmp_path / "none.ckpt")]) == 2
    assert main(["conformers", "CCCC", "-n", "0", "-o", str(out), "--model", str(tiny_checkpoint)]) == 2
    with pytest.raises(SystemExit):
        main(["conformers", "CCCC"])  # -o is required


def test_stdout_output(tiny_checkpoint, capfd):
    assert main(["conformers", "CCCCO", "-n", "2", "-o", "-", "--model", str(tiny_checkpoint)]) == 0
    out = capfd.readouterr().out
    assert out.count("$$$$") == 2 and "mol-0_1" in out


def _positions(path):
    import numpy as np

    return [np.round(r.GetConformer().GetPositions(), 4) for r in _records(path)]


def test_molecule_alone_and_in_a_file_give_identical_conformers(tmp_path):
    """Seeds come from (seed, canonical SMILES): a molecule's conformers do not depend on its
    position in the input nor on its neighbours."""
    import numpy as np

    alone = tmp_path / "alone.sdf"
    assert main(["conformers", "OCC(=O)Nc1ccccc1C", "-n", "4", "-o", str(alone), "--seed", "3"]) == 0
    smi = tmp_path / "in.smi"
    smi.write_text("CCCCOc1ccccc1 first\nOCC(=O)Nc1ccccc1C second\n")
    both = tmp_path / "both.sdf"
    assert main(["conformers", str(smi), "-n", "4", "-o", str(both), "--seed", "3"]) == 0
    second = [p for r, p in zip(_records(both), _positions(both)) if r.GetProp("molecule") == "second"]
    assert len(second) == 4
    for a, b in zip(_positions(alone), second):
        np.testing.assert_array_equal(a, b)
    other = tmp_path / "other.sdf"  # a different seed gives different conformers
    assert main(["conformers", "OCC(=O)Nc1ccccc1C", "-n", "4", "-o", str(other), "--seed", "4"]) == 0
    assert not all(np.array_equal(a, b) for a, b in zip(_positions(alone), _positions(other)))


def test_chunk_and_jobs_do_not_change_the_output(tmp_path):
    smi = tmp_path / "in.smi"
    smi.write_text("CCCCO a\nCC(C)Cc1ccc(cc1)C(C)C(=O)O b\nCOc1ccc(CCN)cc1 c\nCC(=O)Nc1ccc(O)cc1 d\n")
    outs = {}
    for tag, extra in [("default", []), ("chunk1", ["--chunk", "1"]), ("jobs2", ["--jobs", "2", "--chunk", "1"])]:
        outs[tag] = tmp_path / f"{tag}.sdf"
        assert main(["conformers", str(smi), "-n", "3", "-o", str(outs[tag]), *extra]) == 0
    assert outs["default"].read_bytes() == outs["chunk1"].read_bytes() == outs["jobs2"].read_bytes()
