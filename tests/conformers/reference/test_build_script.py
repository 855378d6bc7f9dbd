"""``data/conformers/build_references.py`` end to end on a tiny split: build, assemble, resume, Dask."""
import json

import numpy as np
import pytest

from geomgen.conformers.reference import build as B
from geomgen.conformers.reference.store import load_reference_set
from tests.scripts import load_script

TINY = dict(n_chains=2, n_samples=30, warmup_sweeps=10, round_sweeps=40, min_sweeps=40, max_sweeps=40)


def _setup(tmp_path, monkeypatch):
    mod = load_script("data/conformers/build_references.py")
    monkeypatch.setattr(mod, "HERE", tmp_path)
    monkeypatch.setitem(B.SPLIT_CONFIGS, "tiny", TINY)
    (tmp_path / "smiles_tiny.csv").write_text("id,smiles,source\nm0,CCCO,test\nm1,C1CC,test\nm2,CC(=O)NC,test\n")
    return mod


def test_script_builds_assembles_and_resumes(tmp_path, monkeypatch):
    mod = _setup(tmp_path, monkeypatch)
    mod.main(["--splits", "tiny", "--jobs", "1"])
    refs = load_reference_set(str(tmp_path / "reference_tiny.npz"))
    assert [r.id for r in refs] == ["m0", "m2"]  # m1 is unparsable: reported, the rest built
    summary = json.loads((tmp_path / "build_summary.json").read_text())["tiny"]
    assert summary["molecules"] == 2 and [f["id"] for f in summary["failures"]] == ["m1"]
    assert summary["config"] == TINY and summary[f"core_seconds_v{B.SAMPLER_VERSION}"] > 0

    work = tmp_path / ".build" / f"tiny-v{B.SAMPLER_VERSION}"
    stamps = {p.name: p.stat().st_mtime_ns for p in work.iterdir()}
    assert set(stamps) == {"m0.npz", "m1.fail.json", "m2.npz"}
    mod.main(["--splits", "tiny", "--jobs", "1"])  # resumed: nothing sampled again, the failure not retried
    assert {p.name: p.stat().st_mtime_ns for p in work.iterdir()} == stamps
    assert [r.id for r in load_reference_set(str(tmp_path / "reference_tiny.npz"))] == ["m0", "m2"]


def test_script_on_a_dask_scheduler_equals_a_local_build(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    (tmp_path / "local").mkdir()
    mod = _setup(tmp_path / "local", monkeypatch)
    mod.main(["--splits", "tiny", "--jobs", "1"])
    (tmp_path / "dask").mkdir()
    monkeypatch.setattr(mod, "HERE", tmp_path / "dask")
    (tmp_path / "dask" / "smiles_tiny.csv").write_text((tmp_path / "local" / "smiles_tiny.csv").read_text())
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        mod.main(["--splits", "tiny", "--dask", cluster.scheduler_address])
    local = {r.id: r for r in load_reference_set(str(tmp_path / "local" / "reference_tiny.npz"))}
    dask = {r.id: r for r in load_reference_set(str(tmp_path / "dask" / "reference_tiny.npz"))}
    assert sorted(local) == sorted(dask) == ["m0", "m2"]
    for i in local:
        np.testing.assert_array_equal(local[i].angles, dask[i].angles)
        np.testing.assert_array_equal(local[i].energies, dask[i].energies)


def test_build_orders_put_the_right_molecules_first():
    todo = [("amide", "CC(=O)N(C)Cc1ccccc1"), ("long", "CCCCCCO"), ("bad", "C1CC"), ("short", "CCCO"),
            ("ring", "CC1CCCCC1C")]
    assert B.build_order(todo) == todo
    # with sites (amide, ring flip) first, each group in the list's order
    assert [i for i, _ in B.build_order(todo, "discrete-first")] == ["amide", "ring", "long", "bad", "short"]
    # without sites first, then by rotatable torsions (the ring has none; an unparsable SMILES counts none: it fails fast)
    assert [i for i, _ in B.build_order(todo, "simple-first")] == ["bad", "short", "long", "ring", "amide"]
    with pytest.raises(ValueError, match="order must be one of"):
        B.build_order(todo, "fastest")


def test_script_order_flag_reaches_the_build(tmp_path, monkeypatch):
    mod = _setup(tmp_path, monkeypatch)
    seen = {}
    monkeypatch.setattr(mod, "build_reference_set", lambda *a, **k: seen.update(order=k["order"]) or [])
    monkeypatch.setattr(mod, "assemble", lambda *a, **k: {"molecules": 0, "converged": 0, "failures": [], "missing": [],
                                                          "rebuilt": 0})
    mod.main(["--splits", "tiny", "--order", "simple-first"])
    assert seen["order"] == "simple-first"
    mod.main(["--splits", "tiny", "--discrete-first"])
    assert seen["order"] == "discrete-first"


def test_a_first_pass_at_a_lower_cap_leaves_the_unconverged_to_a_retry_at_the_splits_cap(tmp_path, monkeypatch):
    mod = _setup(tmp_path, monkeypatch)
    mod.main(["--splits", "tiny", "--jobs", "1", "--max-cpu-seconds", "5"])
    work = tmp_path / ".build" / f"tiny-v{B.SAMPLER_VERSION}"

    def configs():
        out = {}
        for p in work.glob("*.npz"):
            with np.load(p) as z:
                out[p.stem] = json.loads(str(z["diagnostics"]))["config"]
        return out

    first = configs()
    assert sorted(first) == ["m0", "m2"] and all(c == {**TINY, "max_cpu_seconds": 5.0} for c in first.values())
    converged = {r.id: r.converged for r in load_reference_set(str(tmp_path / "reference_tiny.npz"))}
    assert not all(converged.values())  # 40 sweeps: at least one molecule left for the retry
    mod.main(["--splits", "tiny", "--jobs", "1", "--retry-unconverged"])
    after = configs()
    for i, ok in converged.items():
        assert after[i] == (first[i] if ok else TINY)  # converged kept; the rest sampled again at the split's settings
    with pytest.raises(SystemExit, match="--max-cpu-seconds must be positive"):
        mod.main(["--splits", "tiny", "--max-cpu-seconds", "0"])
