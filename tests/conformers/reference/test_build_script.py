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
