"""evaluation/conformers/compare_references.py: two builds of the same molecules, by the verification rule."""

from types import SimpleNamespace

from geomgen.conformers.reference.build import build_reference_set
from geomgen.conformers.reference.store import assemble
from tests.scripts import load_script

TINY = dict(n_chains=2, n_samples=60, warmup_sweeps=20, round_sweeps=300, min_sweeps=300, max_sweeps=300)


def _build(tmp_path, name, cfg):
    csv_path = tmp_path / "smiles.csv"
    csv_path.write_text("id,smiles,source\nm0,FC1CCCCC1,test\n")
    build_reference_set(csv_path, tmp_path / f"w-{name}", cfg, jobs=1, progress=False)
    out = tmp_path / f"{name}.npz"
    assemble(csv_path, tmp_path / f"w-{name}", out)
    return out


def test_rebuilt_ids_are_those_whose_build_differs():
    C = load_script("evaluation/conformers/compare_references.py")

    def ref(seed, rev, cpu):
        return SimpleNamespace(diagnostics={"seed": seed, "sampler_version": 4, "sampler_revision": rev, "cpu_seconds": cpu})

    old = {"a": ref(0, 11, 5.0), "b": ref(0, 11, 7.0), "c": ref(0, 11, 9.0)}
    new = {"a": ref(0, 11, 5.0), "b": ref(0, 12, 8.0), "c": ref(1, 11, 9.0), "d": ref(0, 12, 1.0)}
    assert C.rebuilt_ids(old, new) == ["b", "c"]


def test_a_frozen_chair_is_contradicted_and_a_build_agrees_with_itself(tmp_path):
    """Fluorocyclohexane built without ring flips keeps its seed's chair (fluorine axial 0 or 1);
    with flips both chairs are populated: the monitored pucker state differs by far more than
    0.05, so the rule says the old ensemble was wrong. A build against itself agrees."""
    C = load_script("evaluation/conformers/compare_references.py")
    old = _build(tmp_path, "old", dict(TINY, ring_flips_per_sweep=0.0))
    new = _build(tmp_path, "new", dict(TINY, ring_flips_per_sweep=1.0))
    out = tmp_path / "cmp.md"
    (rec,) = C.main([str(old), "--split", str(new), "-o", str(out)])
    assert rec["id"] == "m0" and rec["agrees"] is False and rec["worst_state_difference"] > 0.1
    assert "**0 of 1 agree**" in out.read_text() and out.with_suffix(".json").exists()
    (same,) = C.main([str(new), "--split", str(new), "--ids", "m0", "-o", str(out)])
    assert same["agrees"] is True and same["worst_state_difference"] == 0.0
