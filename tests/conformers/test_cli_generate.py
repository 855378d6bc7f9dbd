import csv

import pytest
from rdkit import Chem

from geomgen.cli import main
from geomgen.conformers.generator import ConformerGenerator


def _records(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_file_with_bad_molecules(tmp_path, tiny_checkpoint, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCCCO butanol\nC1CC broken\nCCO.Cl salt\nC[Se]C selane\nCC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen\n")
    out = tmp_path / "o" / "out.sdf"
    rc = main(["conformers", str(smi), "-n", "3", "-o", str(out), "--model", str(tiny_checkpoint), "--seed", "1"])
    assert rc == 0
    recs = _records(out)
    assert len(recs) == 6
    assert [r.GetProp("_Name") for r in recs[:3]] == ["butanol_0", "butanol_1", "butanol_2"]
    assert {r.GetProp("molecule") for r in recs} == {"butanol", "ibuprofen"}
    fails = {r["name"]: r["reason"] for r in csv.DictReader(open(tmp_path / "o" / "out.failures.csv"))}
    assert set(fails) == {"broken", "salt", "selane"}
    assert "unparsable" in fails["broken"] and "fragments" in fails["salt"] and "unsupported element" in fails["selane"]
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
    assert main(["conformers", "CCC1CCCCC1", "-n", "12", "-o", str(out), "--model", str(tiny_checkpoint), "--seed-method", "etkdg"]) == 0
    # ETKDGv3 seeds without --ring-seeds: one seed (methylcyclohexane, with no torsion, gets ring seeds: issue 25 D6)
    assert not any(r.HasProp("ring_seed") for r in _records(out))


def test_boltzmann_reports_chains_ess_and_rhat(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "b.sdf"
    assert main(["conformers", "CCCCO", "-n", "8", "-o", str(out), "--model", str(tiny_checkpoint), "--boltzmann",
                 "--boltzmann-sweeps", "2", "--boltzmann-chains", "2", "--jobs", "1"]) == 0
    assert len(_records(out)) == 8
    err = capsys.readouterr().err
    assert "Boltzmann mode, 2 chains, 2 sweeps per conformer, ESS " in err and "R-hat" in err


def test_boltzmann_state_moves_reach_the_chains_and_the_fingerprint(tmp_path, tiny_checkpoint):
    from rdkit import Chem

    out = tmp_path / "s.sdf"
    assert main(["conformers", "CC(=O)N(C)Cc1ccccc1", "-n", "4", "-o", str(out), "--model", str(tiny_checkpoint), "--boltzmann",
                 "--boltzmann-sweeps", "2", "--boltzmann-state-moves", "0.5", "--jobs", "1"]) == 0
    assert len([m for m in Chem.SDMolSupplier(str(out), removeHs=False)]) == 4
    assert "--boltzmann-state-moves=0.5" in out.read_text()
    plain = tmp_path / "p.sdf"
    assert main(["conformers", "CC(=O)N(C)Cc1ccccc1", "-n", "4", "-o", str(plain), "--model", str(tiny_checkpoint), "--boltzmann",
                 "--boltzmann-sweeps", "2", "--boltzmann-state-moves", "0", "--jobs", "1"]) == 0
    assert "boltzmann-state-moves" not in plain.read_text()  # off: the fingerprint is what it was


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
        (["CCO", "-o", "{tmp}/x.sdf", "--boltzmann-state-moves", "-0.5"], "--boltzmann-state-moves must be 0 or more, got -0.5"),
        (["CCO", "-o", "{tmp}/x.sdf", "--boltzmann-state-moves", "nan"], "--boltzmann-state-moves must be 0 or more, got nan"),
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
    assert "cannot resume: options differ: -n 3 (was 2); --resume needs the input and options of the interrupted run" in _one_line(
        capsys.readouterr().err)
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
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_signals)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # wait for two finished molecules in the temporary file
            tmp = tmp_path / ".out.sdf.partial"
            if tmp.exists() and tmp.read_text().count("$$$$") >= 200:
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


# -- reliability: resume never mixes runs, interrupts always stop, no lost input ----------------------------------------------

LIB = "".join(f"{s} m{i}\n" for i, s in enumerate(["CCCCO", "COc1ccc(CCN)cc1", "CC(=O)Nc1ccc(O)cc1", "CCOC(=O)CCc1ccncc1",
                                                    "OCC(=O)Nc1ccccc1", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"]))


def test_resume_refuses_other_options_or_a_changed_input_naming_what_differs(tmp_path, capsys, monkeypatch):
    smi = tmp_path / "in.smi"
    smi.write_text(LIB)
    out = tmp_path / "rs.sdf"
    args = ["conformers", str(smi), "-n", "2", "-o", str(out), "--jobs", "1"]
    _interrupt_after(monkeypatch, 2)
    assert main(args) == 130
    monkeypatch.setattr(ConformerGenerator, "generate_many", _GENERATE_MANY)
    before = out.read_bytes()
    capsys.readouterr()
    for extra, says in ((["--seed", "7"], "options differ: --seed 7 (was 0)"), (["--relax"], "options differ: --relax 1 (was 0)"),
                        (["--seed-iters", "5"], "--seed-iters 5 (was 100)")):
        assert main([*args, *extra, "--resume"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert "cannot resume" in line and says in line, line
        assert out.read_bytes() == before
    smi.write_text("c1ccccc1 m0\n" + LIB.split("\n", 1)[1])  # line 1 changed, same name
    assert main([*args, "--resume"]) == 2
    assert "molecule 'm0' (input line 1) was made from another input record" in _one_line(capsys.readouterr().err)
    assert out.read_bytes() == before
    smi.write_text(LIB)
    assert main([*args, "--resume"]) == 0  # the same options and input resume


def _default_signals():
    """In the child before exec: SIGINT and SIGTERM at their defaults and unblocked, as a shell
    gives a foreground command, whatever the test runner inherited (a runner started in the
    background by a script has SIGINT ignored, and an ignored signal is discarded on arrival)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _run_cli(tmp_path, *args):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "geomgen", "conformers", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=tmp_path,
                            preexec_fn=_default_signals)


def _wait_for_records(proc, path, count: int, timeout: float = 90):
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"$$$$") >= count:
            return
        assert proc.poll() is None, "the job ended before it could be interrupted: " + proc.stderr.read()
        time.sleep(0.02)
    raise AssertionError(f"no {count} records in {path} after {timeout} s")


def _big_input(tmp_path, n=40):
    smi = tmp_path / "lib.smi"
    pool = ["CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "COc1ccc(CCN(C)C)cc1", "CC(=O)Nc1ccc(OCC)cc1", "CCOC(=O)CCc1ccncc1"]
    smi.write_text("".join(f"{pool[i % 4]} m{i}\n" for i in range(n)))
    return smi


def test_signals_are_held_in_every_thread_of_a_running_job(tmp_path):
    """Ctrl-C and SIGTERM are blocked in every thread (numpy's, torch's, RDKit's): none can swallow a
    signal or die of one; the main thread acts on them between molecules."""
    import os
    import signal

    smi = _big_input(tmp_path)
    proc = _run_cli(tmp_path, smi, "-n", "30", "-o", "o.sdf", "--jobs", "1")
    try:
        _wait_for_records(proc, tmp_path / ".o.sdf.partial", 30)
        tasks = os.listdir(f"/proc/{proc.pid}/task")
        assert len(tasks) >= 2  # OpenBLAS / torch threads exist
        for tid in tasks:
            status = open(f"/proc/{proc.pid}/task/{tid}/status").read()
            blocked = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
            for sig in (signal.SIGINT, signal.SIGTERM):
                assert blocked >> (sig - 1) & 1, f"thread {tid} does not block {sig.name}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_and_sigterm_with_one_job_always_stop_and_change_no_result(tmp_path, sig, code):
    import os
    import signal

    smi = _big_input(tmp_path, 24)
    full = tmp_path / "full.sdf"
    assert main(["conformers", str(smi), "-n", "20", "-o", str(full), "--jobs", "1"]) == 0
    proc = _run_cli(tmp_path, smi, "-n", "20", "-o", "lt.sdf", "--jobs", "1")
    try:
        _wait_for_records(proc, tmp_path / ".lt.sdf.partial", 40)
        os.killpg(proc.pid, getattr(signal, sig))
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Interrupted, cancelling" not in err
    assert "interrupted with" in err.strip().splitlines()[-1]
    out = (tmp_path / "lt.sdf").read_bytes()
    assert 40 <= out.count(b"$$$$") < 480 and full.read_bytes().startswith(out)  # finished molecules, as an uninterrupted run has them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.sdf", "lib.smi", "lt.sdf"]  # no temporary file


def test_a_killed_job_resumes_from_its_partial_file(tmp_path, capsys):
    import os
    import signal

    smi = _big_input(tmp_path, 12)
    full = tmp_path / "full.sdf"
    assert main(["conformers", str(smi), "-n", "20", "-o", str(full), "--jobs", "1"]) == 0
    proc = _run_cli(tmp_path, smi, "-n", "20", "-o", "k.sdf", "--jobs", "1")
    _wait_for_records(proc, tmp_path / ".k.sdf.partial", 50)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (tmp_path / "k.sdf").exists() and (tmp_path / ".k.sdf.partial").exists()
    capsys.readouterr()
    assert main(["conformers", str(smi), "-n", "20", "-o", str(tmp_path / "k.sdf"), "--jobs", "1", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "recovering the finished molecules of a run that was killed" in err
    done = int(err.split("resuming")[1].split("molecule(s) done")[0].split(":")[-1])
    assert done >= 2
    assert (tmp_path / "k.sdf").read_bytes() == full.read_bytes()
    assert not (tmp_path / ".k.sdf.partial").exists() and not (tmp_path / ".k.failures.csv.partial").exists()


def test_a_second_run_on_the_same_output_is_refused_while_one_runs(tmp_path, capsys):
    from geomgen.conformers.resumable import JobFiles

    busy = JobFiles(tmp_path / "o.sdf")
    busy.lock()
    try:
        assert main(["conformers", "CCO", "-n", "1", "-o", str(tmp_path / "o.sdf")]) == 2
        assert "another geomgen conformers run is writing it" in _one_line(capsys.readouterr().err)
    finally:
        busy.release()


def test_large_n_is_generated_in_blocks_with_flat_memory(tmp_path, monkeypatch):
    from geomgen.conformers.commands import generate

    calls = []
    original = ConformerGenerator.generate_many

    def generate_many(self, items, n=10, **kwargs):
        calls.append((n, kwargs.get("block", 0)))
        return original(self, items, n, **kwargs)

    monkeypatch.setattr(ConformerGenerator, "generate_many", generate_many)
    monkeypatch.setattr(generate, "BLOCK", 4)
    out = tmp_path / "big.sdf"
    assert main(["conformers", "CCCCO", "-n", "10", "-o", str(out), "--jobs", "1"]) == 0
    assert calls == [(4, 0), (4, 1), (2, 2)]  # never more than a block at once
    recs = _records(out)
    assert [r.GetIntProp("conformer") for r in recs] == list(range(10))
    assert [r.GetProp("_Name") for r in recs] == [f"mol-0_{c}" for c in range(10)]
    assert len({r.GetProp("torsions_rad") for r in recs}) == 10  # blocks draw different torsions
    small = tmp_path / "small.sdf"  # block 0 is the plain call
    assert main(["conformers", "CCCCO", "-n", "4", "-o", str(small), "--jobs", "1"]) == 0
    assert [r.GetProp("torsions_rad") for r in _records(small)] == [r.GetProp("torsions_rad") for r in recs[:4]]


@pytest.mark.parametrize("layout", ["same", "failures"])
def test_an_output_that_is_the_input_is_refused_before_any_work(tmp_path, capsys, layout):
    if layout == "same":
        src = tmp_path / "same.sdf"
        assert main(["conformers", "CCCO", "-n", "2", "-o", str(src)]) == 0
        out = src
    else:
        src = tmp_path / "out.failures.csv"
        src.write_text("smiles,name\nCCO,a\n")
        out = tmp_path / "out.sdf"
    before = src.read_bytes()
    capsys.readouterr()
    assert main(["conformers", str(src), "-n", "2", "-o", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "is the input" in line and "overwrite" in line
    assert src.read_bytes() == before


@pytest.mark.parametrize("suffix", [".csv", ".smi"])
def test_names_that_would_break_an_sd_file_are_made_safe(tmp_path, suffix):
    names = ["two\nlines", "$$$$", "M  END", "> <x>", "tab\there"]
    if suffix == ".csv":
        import csv as _csv

        src = tmp_path / "in.csv"
        with open(src, "w", newline="") as f:
            w = _csv.writer(f)
            w.writerow(["name", "smiles"])
            w.writerows([(n, "CCO") for n in names])
        expect = ["two_lines", "_$$$$", "_M  END", "_> <x>", "tab_here"]
    else:
        src = tmp_path / "in.smi"
        src.write_text("".join(f"CCO {n}\n" for n in names[1:]))
        expect = ["_$$$$", "_M  END", "_> <x>", "tab_here"]
    out = tmp_path / "out.sdf"
    assert main(["conformers", str(src), "-n", "2", "-o", str(out)]) == 0
    recs = _records(out)
    assert None not in recs and len(recs) == 2 * len(expect)
    assert [r.GetProp("molecule") for r in recs[::2]] == expect
    assert main(["conformers", str(src), "-n", "2", "-o", str(out), "--resume"]) == 0  # and it resumes


def test_a_long_smiles_argument_is_read_as_smiles(tmp_path):
    # 1-nonadecanol written with atom-map numbers: 273 characters (longer than a file name may be), 20 heavy atoms
    long = "[CH3:1000000]" + "".join(f"[CH2:{1000001 + i}]" for i in range(18)) + "[OH:1000019]"
    assert len(long) > 255
    out = tmp_path / "long.sdf"
    assert main(["conformers", long, "-n", "1", "-o", str(out)]) == 0
    assert _records(out)[0].GetNumHeavyAtoms() == 20


def test_csv_with_a_byte_order_mark(tmp_path):
    src = tmp_path / "bom.csv"
    src.write_bytes("\ufeffsmiles,name\nCCCO,propanol\n".encode())
    out = tmp_path / "bom.sdf"
    assert main(["conformers", str(src), "-n", "1", "-o", str(out)]) == 0
    assert _records(out)[0].GetProp("molecule") == "propanol"


def test_sd_input_properties_are_carried_to_every_output_record(tmp_path):
    m = Chem.AddHs(Chem.MolFromSmiles("CCCO"))
    from rdkit.Chem import AllChem

    AllChem.EmbedMolecule(m, randomSeed=1)
    m.SetProp("_Name", "propanol")
    m.SetProp("vendor_id", "ZINC123")
    m.SetProp("activity", "7.5")
    m.SetProp("MMFF94_energy_kcal_mol", "999")  # a value geomgen writes itself is not carried over
    src = tmp_path / "in.sdf"
    with Chem.SDWriter(str(src)) as w:
        w.write(m)
    out = tmp_path / "out.sdf"
    assert main(["conformers", str(src), "-n", "3", "-o", str(out)]) == 0
    recs = _records(out)
    assert [(r.GetProp("vendor_id"), r.GetProp("activity")) for r in recs] == [("ZINC123", "7.5")] * 3
    assert not any(r.HasProp("MMFF94_energy_kcal_mol") for r in recs)
    out2 = tmp_path / "out2.sdf"  # the same through worker processes (pickled molecules lose their properties)
    assert main(["conformers", str(src), "-n", "3", "-o", str(out2), "--jobs", "2", "--chunk", "1"]) == 0
    assert out2.read_bytes() == out.read_bytes()


def test_resume_with_a_failures_file_that_is_not_one_is_one_line(tmp_path, capsys):
    out = tmp_path / "out.sdf"
    assert main(["conformers", "CCCO", "-n", "1", "-o", str(out)]) == 0
    (tmp_path / "out.failures.csv").write_bytes(bytes(range(256)) * 4)
    capsys.readouterr()
    assert main(["conformers", "CCCO", "-n", "1", "-o", str(out), "--resume"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "cannot resume" in line and "not a failures file written by geomgen conformers" in line


def test_an_output_folder_that_does_not_exist_is_announced(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "o.sdf"
    assert main(["conformers", "CCO", "-n", "1", "-o", str(out)]) == 0
    assert f"creating folder {str(tmp_path / 'new')!r} for the output" in capsys.readouterr().err


def test_boltzmann_note_says_what_rhat_means_and_warns_when_unmixed():
    from geomgen.conformers.commands.generate import _boltzmann_note

    x = {"boltzmann_chains": 2, "boltzmann_sweeps": 20, "boltzmann_rhat": 66.9, "boltzmann_torsion_acceptance": 0.4,
         "boltzmann_kept_start": 0}
    note = _boltzmann_note("m", x, 3.0)
    assert "R-hat near 1 means the chains agree" in note
    assert "warning: m: R-hat 66.90 > 1.1: the Boltzmann-mode chains have not mixed" in note
    assert "warning" not in _boltzmann_note("m", {**x, "boltzmann_rhat": 1.02}, 150.0)


def test_closed_standard_output_is_a_usage_error(tmp_path):
    import subprocess
    import sys

    res = subprocess.run(["bash", "-c", f"'{sys.executable}' -m geomgen conformers CCCO -n 1 -o - >&-"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == "geomgen conformers: -o -: standard output is closed; give an output file"


def test_seed_method_assembly_from_the_command_line(tmp_path, tiny_checkpoint, monkeypatch):
    """Issue 27: assembled seeds (the default) spread conformers over ring conformations by
    weight; the seed method is part of the options a --resume must match, and ETKDGv3 seeds stay
    reachable."""
    monkeypatch.setenv("GEOMGEN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "a.sdf"
    assert main(["conformers", "CCC1CCCCC1", "-n", "12", "-o", str(out), "--model", str(tiny_checkpoint), "--seed-method", "assembly",
                 "--jobs", "1"]) == 0
    recs = _records(out)
    assert len(recs) == 12 and all("--seed-method=assembly" in r.GetProp("geomgen_options") for r in recs)
    assert len({r.GetIntProp("ring_seed") for r in recs}) >= 2  # equatorial and axial ethyl, without --ring-seeds
    plain = tmp_path / "p.sdf"
    assert main(["conformers", "CCC1CCCCC1", "-n", "12", "-o", str(plain), "--model", str(tiny_checkpoint), "--jobs", "1"]) == 0
    assert all("--seed-method=assembly" in r.GetProp("geomgen_options") for r in _records(plain))  # the default
    etkdg = tmp_path / "e.sdf"
    assert main(["conformers", "CCC1CCCCC1", "-n", "12", "-o", str(etkdg), "--model", str(tiny_checkpoint), "--jobs", "1",
                 "--seed-method", "etkdg"]) == 0
    assert all("--seed-method=etkdg" in r.GetProp("geomgen_options") for r in _records(etkdg))


def test_draws_flag_is_recorded_and_changes_the_draws(tmp_path, tiny_checkpoint, monkeypatch):
    """Stratified component draws are the default; --draws independent gives the plain draws.
    Both are in the options a --resume must match."""
    monkeypatch.setenv("GEOMGEN_CACHE_DIR", str(tmp_path / "cache"))
    runs = {}
    for draws in (None, "stratified", "independent"):
        out = tmp_path / f"{draws}.sdf"
        extra = [] if draws is None else ["--draws", draws]
        assert main(["conformers", "CCCCOc1ccccc1", "-n", "8", "-o", str(out), "--model", str(tiny_checkpoint), "--jobs", "1",
                     *extra]) == 0
        runs[draws] = _records(out)
    assert all("--draws=stratified" in r.GetProp("geomgen_options") for r in runs[None] + runs["stratified"])
    assert all("--draws=independent" in r.GetProp("geomgen_options") for r in runs["independent"])
    torsions = {k: [r.GetProp("torsions_rad") for r in v] for k, v in runs.items()}
    assert torsions[None] == torsions["stratified"] != torsions["independent"]


@pytest.mark.parametrize("flags, said", [
    (["--seed-method", "etkdg", "--amide-states", "library"], "--amide-states library has no effect with --seed-method etkdg"),
    (["--relax", "--seed-iters", "5"], "--seed-iters 5 has no effect with --relax"),
    (["--boltzmann-sweeps", "3"], "--boltzmann-sweeps has no effect without --boltzmann"),
    (["--boltzmann-state-moves", "0.2"], "--boltzmann-state-moves has no effect without --boltzmann"),
    (["--state-seeds", "4", "--acid-states", "usual"], "--acid-states usual has no effect with --state-seeds 4"),
    ([], None),
])
def test_a_flag_that_another_makes_ineffective_is_warned_about(tmp_path, tiny_checkpoint, capsys, flags, said):
    out = tmp_path / "w.sdf"
    assert main(["conformers", "CCCO", "-n", "2", "-o", str(out), "--model", str(tiny_checkpoint), *flags]) == 0
    err = capsys.readouterr().err
    if said is None:
        assert "has no effect" not in err
    else:
        assert f"geomgen conformers: warning: {said}" in err


def test_acid_states_flag_reaches_the_generator_and_the_fingerprint(tmp_path, tiny_checkpoint):
    """Glycine: by default its O-H is seeded from both states' minima (anti, hydrogen-bonded to the
    amine), with --acid-states usual it stays syn; the fingerprint says which."""
    from rdkit import Chem

    from geomgen.conformers.discrete_states import amide_states

    cis = {}
    for mode in (None, "usual"):
        out = tmp_path / f"gly_{mode}.sdf"
        extra = [] if mode is None else ["--acid-states", mode]
        assert main(["conformers", "NCC(=O)O", "-n", "4", "-o", str(out), "--model", str(tiny_checkpoint), *extra]) == 0
        recs = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
        assert all(f"--acid-states={mode or 'minima'}" in r.GetProp("geomgen_options") for r in recs)
        cis[mode] = [bool(amide_states(r, r.GetConformer().GetPositions())[0, 0]) for r in recs]
    assert cis[None] == [True] * 4 and cis["usual"] == [False] * 4


def test_relax_bonds_flag_reaches_the_generator_and_the_fingerprint(tmp_path, tiny_checkpoint, capsys):
    from rdkit import Chem

    out = tmp_path / "rb.sdf"
    assert main(["conformers", "CCCCO", "-n", "3", "-o", str(out), "--model", str(tiny_checkpoint), "--relax-bonds", "50"]) == 0
    recs = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert all(m.HasProp("MMFF94_energy_kcal_mol") for m in recs)
    plain = tmp_path / "p.sdf"
    assert main(["conformers", "CCCCO", "-n", "3", "-o", str(plain), "--model", str(tiny_checkpoint)]) == 0
    assert "relax-bonds" not in plain.read_text()  # a default run's fingerprint is what it was
    assert "relax-bonds=50" in out.read_text()
    assert main(["conformers", "CCCCO", "-n", "3", "-o", str(out), "--model", str(tiny_checkpoint), "--relax-bonds", "-1"]) == 2


def test_state_seeds_flag_reaches_the_generator_and_the_fingerprint(tmp_path, tiny_checkpoint):
    """N-ethyl-N-methylacetamide's two amide states are about equally likely: with --state-seeds the
    conformers cover both (each record says its seed's states), by default they keep one."""
    from rdkit import Chem

    smi = "CCN(C)C(C)=O"
    out, plain = tmp_path / "s.sdf", tmp_path / "p.sdf"
    args = ["conformers", smi, "-n", "16", "--model", str(tiny_checkpoint), "--seed-method", "etkdg"]
    assert main([*args, "-o", str(out), "--state-seeds", "4"]) == 0
    assert main([*args, "-o", str(plain)]) == 0
    states = {m.GetProp("amide_states") for m in Chem.SDMolSupplier(str(out), removeHs=False)}
    assert states == {"0", "1"}
    assert len({m.GetProp("amide_states") for m in Chem.SDMolSupplier(str(plain), removeHs=False)}) == 1
    assert "state-seeds=4" in out.read_text() and "state-seeds" not in plain.read_text()
    assert main([*args, "-o", str(out), "--state-seeds", "-1"]) == 2
