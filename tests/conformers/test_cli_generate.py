import csv

import pytest
from rdkit import Chem

from geomgen.cli import main
from geomgen.conformers.generator import ConformerGenerator


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


def test_ring_seeds_spread_conformers_over_ring_conformations(tmp_path, tiny_checkpoint):
    out = tmp_path / "r.sdf"
    assert main(["conformers", "CC1CCCCC1", "-n", "12", "-o", str(out), "--model", str(tiny_checkpoint), "--ring-seeds", "4"]) == 0
    assert len({r.GetIntProp("ring_seed") for r in _records(out)}) >= 2
    assert main(["conformers", "CC1CCCCC1", "-n", "12", "-o", str(out), "--model", str(tiny_checkpoint)]) == 0
    assert not any(r.HasProp("ring_seed") for r in _records(out))  # default: one seed


def test_boltzmann_reports_chains_ess_and_rhat(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "b.sdf"
    assert main(["conformers", "CCCCO", "-n", "8", "-o", str(out), "--model", str(tiny_checkpoint), "--boltzmann",
                 "--boltzmann-sweeps", "2", "--boltzmann-chains", "2", "--jobs", "1"]) == 0
    assert len(_records(out)) == 8
    err = capsys.readouterr().err
    assert "Boltzmann mode, 2 chains, 2 sweeps per conformer, ESS " in err and "R-hat" in err


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
    runs = [("default", []), ("serial", ["--jobs", "1"]), ("chunk1", ["--jobs", "1", "--chunk", "1"]), ("jobs2", ["--jobs", "2", "--chunk", "1"])]
    for tag, extra in runs:
        outs[tag] = tmp_path / f"{tag}.sdf"
        assert main(["conformers", str(smi), "-n", "3", "-o", str(outs[tag]), *extra]) == 0
    assert len({outs[tag].read_bytes() for tag, _ in runs}) == 1


def test_jobs_default_to_every_available_core(monkeypatch):
    """Like RDKit's numThreads=0: no --jobs means one worker per core the process may use."""
    import argparse
    import os

    from geomgen.conformers.commands import generate

    p = argparse.ArgumentParser()
    generate.add_arguments(p)
    args = p.parse_args(["CCO", "-o", "x.sdf"])
    assert args.jobs is None
    generate._check_options(args)
    assert args.jobs == len(os.sched_getaffinity(0)) == generate.available_cores()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    args = p.parse_args(["CCO", "-o", "x.sdf"])
    generate._check_options(args)
    assert args.jobs == 3
    args = p.parse_args(["CCO", "-o", "x.sdf", "--jobs", "1"])
    generate._check_options(args)
    assert args.jobs == 1


@pytest.mark.parametrize(
    ("smiles", "warning"),
    [
        ("CCC=CCC", "1 double bond left unspecified in the input; generated one stereoisomer, CC/C=C"),
        ("NC(=N)c1ccccc1", None),  # the C=NH of an amidine is not a stereo element to report
        ("NCC(=O)N[C@@H](CCCNC(=N)N)C(=O)O", None),  # arginine, fully specified
        ("NCC(=O)NC(CCCNC(=N)N)C(=O)O", "1 stereocentre left unspecified in the input; generated one stereoisomer, N=C(N)NCCC[C@"),
    ],
)
def test_unspecified_stereo_is_generated_and_reported(tmp_path, capsys, smiles, warning):
    """Issue 13, item 1: these failed with "the seed geometry cannot reproduce the input's stereochemistry"."""
    out = tmp_path / "x.sdf"
    assert main(["conformers", smiles, "-n", "3", "-o", str(out)]) == 0
    recs = _records(out)
    assert len(recs) == 3
    err = capsys.readouterr().err
    assert "stereochemistry" not in err
    warnings = [line for line in err.splitlines() if "warning" in line]
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith("geomgen conformers: warning: 'mol-0': ") and warning in warnings[0]
        # the reported isomer is the one generated
        from geomgen.conformers import parse_molecule
        from geomgen.conformers.stereo import fixed_stereo

        chosen = warnings[0].rsplit(", ", 1)[1]
        assert all(fixed_stereo(r, reference=parse_molecule(smiles)).smiles == chosen for r in recs)


# -- issue 13: one-line errors, exit statuses, streaming output, --resume, unique names --------------------------


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a model is loaded or a molecule generated (usage errors come before any work)."""
    from geomgen.conformers import generator
    from geomgen.conformers.commands import generate

    def forbidden(*args, **kwargs):
        raise AssertionError("work was started")

    monkeypatch.setattr(generator.ConformerGenerator, "from_checkpoint", classmethod(forbidden))
    monkeypatch.setattr(generator.ConformerGenerator, "generate_many", forbidden)
    monkeypatch.setattr(generate, "_GEN", {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/empty.sdf", "-o", "{tmp}/x.sdf"], "no molecules in '{tmp}/empty.sdf'"),
        (["{tmp}/missing.smi", "-o", "{tmp}/x.sdf"], "input file '{tmp}/missing.smi' does not exist"),
        (["{tmp}/folder.smi", "-o", "{tmp}/x.sdf"], "'{tmp}/folder.smi': is a folder, not an input file"),
        (["{tmp}/binary.smi", "-o", "{tmp}/x.sdf"], "'{tmp}/binary.smi': not a text file"),
        (["CCO", "-o", "/proc/x.sdf"], "'/proc/x.sdf': cannot write:"),
        (["CCO", "-o", "{tmp}/folder.smi"], "'{tmp}/folder.smi': is a folder; give a file name ending in .sdf"),
        (["CCO", "-o", "{tmp}/x.foo"], "'{tmp}/x.foo': unknown output type '.foo' (use .sdf)"),
        (["CCO", "-o", "{tmp}/empty.sdf/x.sdf"], "'{tmp}/empty.sdf/x.sdf': '{tmp}/empty.sdf' is a file, not a folder"),
        (["CCO", "-o", "{tmp}/x.sdf", "--chunk", "0"], "--chunk must be a positive integer, got 0"),
        (["CCO", "-o", "{tmp}/x.sdf", "--chunk", "-1"], "--chunk must be a positive integer, got -1"),
        (["CCO", "-o", "{tmp}/x.sdf", "--jobs", "0"], "--jobs must be a positive integer, got 0"),
        (["CCO", "-o", "{tmp}/x.sdf", "-n", "0"], "-n must be a positive integer, got 0"),
        (["CCO", "-o", "{tmp}/x.sdf", "--boltzmann-sweeps", "0"], "--boltzmann-sweeps must be at least 1, got 0"),
        (["CCO", "-o", "{tmp}/x.sdf", "--boltzmann-chains", "0"], "--boltzmann-chains must be at least 1, got 0"),
        (["CCO", "-o", "{tmp}/x.sdf", "--ring-seeds", "-1"], "--ring-seeds must be 0 or more, got -1"),
        (["CCO", "-o", "-", "--resume"], "--resume needs an output file, not standard output (-)"),
    ],
)
def test_usage_errors_are_one_line_exit_2_before_any_work(tmp_path, capsys, no_work, args, message):
    (tmp_path / "empty.sdf").write_text("")
    (tmp_path / "folder.smi").mkdir()
    (tmp_path / "binary.smi").write_bytes(b"\xff\xfe\x00CCO\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    extra = [] if "-n" in args else ["-n", "2"]
    assert main(["conformers", *[a.format(tmp=tmp_path) for a in args], *extra]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("geomgen conformers: " + message.format(tmp=tmp_path)), line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temporary file


@pytest.mark.parametrize("bad", ["missing.ckpt", "notes.ckpt"])
def test_bad_model_is_one_line_exit_2(tmp_path, capsys, bad):
    (tmp_path / "notes.ckpt").write_text("not a checkpoint\n")
    assert main(["conformers", "CCO", "-n", "2", "-o", str(tmp_path / "x.sdf"), "--model", str(tmp_path / bad)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("geomgen conformers: ") and bad in line
    assert not (tmp_path / "x.sdf").exists()


_GENERATE_MANY = ConformerGenerator.generate_many


def _interrupt_after(monkeypatch, calls: int):
    """Make generate_many raise KeyboardInterrupt (Ctrl-C) on its ``calls + 1``-th call; return the call log."""
    original = _GENERATE_MANY
    log = []

    def generate_many(self, items, *args, **kwargs):
        if len(log) == calls:
            raise KeyboardInterrupt
        log.append([name for name, _ in items])
        return original(self, items, *args, **kwargs)

    monkeypatch.setattr(ConformerGenerator, "generate_many", generate_many)
    return log


INPUT = "CCCCO a\nC1CC broken\nCOc1ccc(CCN)cc1 c\nCC(=O)Nc1ccc(O)cc1 d\nCCOC(=O)CCc1ccncc1 e\nOCC(=O)Nc1ccccc1 f\n"


def test_ctrl_c_keeps_finished_molecules_and_resume_matches_an_uninterrupted_run(tmp_path, capsys, monkeypatch):
    smi = tmp_path / "in.smi"
    smi.write_text(INPUT)
    full = tmp_path / "full" / "out.sdf"
    assert main(["conformers", str(smi), "-n", "3", "-o", str(full), "--seed", "2"]) == 0
    capsys.readouterr()

    out = tmp_path / "part" / "out.sdf"
    args = ["conformers", str(smi), "-n", "3", "-o", str(out), "--seed", "2", "--chunk", "1", "--jobs", "1"]
    (tmp_path / "part").mkdir()
    out.write_text("stale output of an earlier run\n")
    _interrupt_after(monkeypatch, 3)  # a, broken, c done; Ctrl-C while generating d
    assert main(args) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"geomgen conformers: {smi}: interrupted with 3 of 6 molecule(s) left; {out} holds the 2 finished, "
                       f"{out.parent / 'out.failures.csv'} the 1 failed (rerun with --resume to continue)")
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.failures.csv", "out.sdf"]  # no temporary file
    assert [r.GetProp("molecule") for r in _records(out)] == ["a"] * 3 + ["c"] * 3
    assert [r["name"] for r in csv.DictReader(open(out.parent / "out.failures.csv"))] == ["broken"]

    log = _interrupt_after(monkeypatch, 99)
    assert main([*args, "--resume"]) == 0
    assert log == [["d"], ["e"], ["f"]]  # finished molecules (and the failure) were not redone
    assert "resuming" in capsys.readouterr().err
    assert out.read_bytes() == full.read_bytes()
    assert (out.parent / "out.failures.csv").read_bytes() == (full.parent / "out.failures.csv").read_bytes()
    # resuming a finished job redoes nothing and changes nothing
    assert main([*args, "--resume"]) == 0 and log == [["d"], ["e"], ["f"]]
    assert out.read_bytes() == full.read_bytes()


def test_resume_checks_the_input_and_options(tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCCCO a\nCOc1ccc(CCN)cc1 c\n")
    out = tmp_path / "out.sdf"
    assert main(["conformers", str(smi), "-n", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    before = out.read_bytes()
    assert main(["conformers", str(smi), "-n", "3", "-o", str(out), "--resume"]) == 2
    assert "'a' has 2 conformers, not -n 3; --resume needs the input and options of the interrupted run" in _one_line(capsys.readouterr().err)
    other = tmp_path / "other.smi"
    other.write_text("CCCCO x\nCOc1ccc(CCN)cc1 c\n")
    assert main(["conformers", str(other), "-n", "2", "-o", str(out), "--resume"]) == 2
    assert "molecule 'a' (input line 1) is not a molecule of" in _one_line(capsys.readouterr().err)
    assert out.read_bytes() == before
    # nothing to resume from: a plain run
    fresh = tmp_path / "fresh.sdf"
    assert main(["conformers", str(smi), "-n", "2", "-o", str(fresh), "--resume"]) == 0
    assert fresh.read_bytes() == before


def test_ctrl_c_in_a_real_process_then_resume(tmp_path):
    """A real SIGINT to the process group (what Ctrl-C sends) in the middle of a job."""
    import os
    import signal
    import subprocess
    import sys
    import time

    smi = tmp_path / "in.smi"
    smi.write_text("".join(f"CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O m{i}\n" for i in range(60)))
    out = tmp_path / "out.sdf"
    cmd = [sys.executable, "-m", "geomgen", "conformers", str(smi), "-n", "100", "-o", str(out), "--chunk", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # wait for two finished molecules in the temporary file
            tmp = [p for p in tmp_path.iterdir() if p.name.startswith(".out.") and p.suffix == ".sdf"]
            if tmp and tmp[0].read_text().count("$$$$") >= 200:
                break
            assert proc.poll() is None, "the job ended before it could be interrupted"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"geomgen conformers: {smi}: interrupted with ") and "rerun with --resume to continue" in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.smi", "out.sdf"]  # no temporary file left
    names = [r.GetProp("molecule") for r in _records(out)]
    done = len(names) // 100
    assert 2 <= done < 60 and names == [f"m{i}" for i in range(done) for _ in range(100)]  # whole molecules only
    assert main(["conformers", str(smi), "-n", "100", "-o", str(out), "--resume", "--chunk", "20"]) == 0
    names = [r.GetProp("molecule") for r in _records(out)]
    assert names == [f"m{i}" for i in range(60) for _ in range(100)]


def test_every_molecule_failing_removes_a_stale_output(tmp_path, capsys):
    out = tmp_path / "out.sdf"
    out.write_text("from an earlier run\n")
    assert main(["conformers", "C1CC", "-n", "2", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"every molecule failed; no {out} written" in err
    assert not out.exists() and (tmp_path / "out.failures.csv").exists()


def test_duplicate_names_get_suffixes_and_records_carry_the_input_line(tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("# a comment\nCCO a\nC1CC a\n\nCCCO a\nCCCCO a_2\nCCCCCO\n")
    out = tmp_path / "out.sdf"
    assert main(["conformers", str(smi), "-n", "2", "-o", str(out)]) == 0
    recs = _records(out)
    assert [(r.GetProp("molecule"), r.GetProp("input_line")) for r in recs[::2]] == [("a", "2"), ("a_3", "5"), ("a_2_2", "6"), ("mol-6", "7")]
    assert [r.GetProp("_Name") for r in recs[:2]] == ["a_0", "a_1"]
    fails = list(csv.DictReader(open(tmp_path / "out.failures.csv")))
    assert [(f["name"], f["input_line"], f["input"]) for f in fails] == [("a_2", "3", "C1CC")]
    err = capsys.readouterr().err
    assert f"geomgen conformers: warning: {smi}: line 3: the name 'a' is used before; this molecule is 'a_2'" in err
    assert "line 6: the name 'a_2' is used before; this molecule is 'a_2_2'" in err


def test_enumerate_stereo_generates_each_isomer_and_resumes(tmp_path, capsys, monkeypatch):
    from geomgen.conformers import parse_molecule
    from geomgen.conformers.stereo import fixed_stereo

    smi = tmp_path / "in.smi"
    smi.write_text("CCC=CCC hex\nNC(=N)c1ccccc1 benz\nCC(O)CC but\n")
    full = tmp_path / "full.sdf"
    args = ["conformers", str(smi), "-n", "2", "--jobs", "1", "--enumerate-stereo", "--chunk", "1"]
    assert main([*args, "-o", str(full)]) == 0
    err = capsys.readouterr().err
    assert "geomgen conformers: 'hex': 2 stereoisomers, generated as hex-1..hex-2" in err
    assert "warning" not in err  # every isomer is fully specified
    recs = _records(full)
    assert [r.GetProp("molecule") for r in recs[::2]] == ["hex-1", "hex-2", "benz", "but-1", "but-2"]
    assert [r.GetProp("input_line") for r in recs[::2]] == ["1", "1", "2", "3", "3"]
    hexenes = {fixed_stereo(r, reference=parse_molecule("CCC=CCC")).smiles for r in recs[:4]}
    assert hexenes == {"CC/C=C/CC", "CC/C=C\\CC"}
    out = tmp_path / "out.sdf"
    _interrupt_after(monkeypatch, 2)
    assert main([*args, "-o", str(out)]) == 130
    log = _interrupt_after(monkeypatch, 99)
    assert main([*args, "-o", str(out), "--resume"]) == 0
    assert log == [["benz"], ["but-1"], ["but-2"]] and out.read_bytes() == full.read_bytes()
    # a job run without --enumerate-stereo cannot be resumed with it
    assert main([*args[:-3], "-o", str(tmp_path / "one.sdf")]) == 0
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "one.sdf"), "--resume"]) == 2
    assert "is not a molecule of" in capsys.readouterr().err
