"""data/conformers/summarize.py: which rings a reference's chains could flip, which they held, and the verified counts."""

import json
from types import SimpleNamespace

import pytest

from geomgen.conformers import parse_molecule
from tests.scripts import load_script


def _ref(smiles: str, revision: int, flips: float = 1.0, version: int = 4):
    return SimpleNamespace(mol=parse_molecule(smiles), diagnostics={
        "sampler_version": version, "sampler_revision": revision, "config": {"ring_flips_per_sweep": flips}})


@pytest.mark.parametrize("smiles, revision, flips, n_flip, held", [
    ("CC1CCCCC1", 11, 1.0, 1, False),  # an isolated ring flips
    ("CC1CCCCC1", 11, 0.0, 1, True),  # ... unless the build had no flips
    ("CC1CCC2(CC1)CCCC2", 11, 1.0, 0, True),  # spiro rings: held before revision 12
    ("CC1CCC2(CC1)CCCC2", 12, 1.0, 2, False),  # and flipped from it
    ("C1CCC2CCCCC2C1", 12, 1.0, 0, True),  # decalin: fused, held
    ("CC1CCc2ccccc2C1", 11, 1.0, 0, True),  # a tetralin: held before revision 12
    ("CC1CCc2ccccc2C1", 12, 1.0, 1, False),  # and flipped from it
    ("CC1CC1c1ccccc1", 12, 1.0, 0, False),  # a cyclopropane has one conformation
])
def test_flipped_and_held_rings_follow_the_build_revision(smiles, revision, flips, n_flip, held):
    S = load_script("data/conformers/summarize.py")
    r = _ref(smiles, revision, flips)
    assert len(S._flip_rings_at_build(r)) == n_flip
    assert S._ring_held_at_seed(r) is held


def test_verified_counts_say_how_many_the_current_sampler_built(tmp_path):
    S = load_script("data/conformers/summarize.py")
    refs = {"val": {f"val-{i}": SimpleNamespace(mol=parse_molecule("CCCO"), diagnostics={"seed": i, "cpu_seconds": 10.0, "sampler_version": v})
                    for i, v in enumerate([S.SAMPLER_VERSION - 1, S.SAMPLER_VERSION, S.SAMPLER_VERSION])}}
    records = [{"split": "val", "id": f"val-{i}", "stored_seed": i, "stored_cpu_seconds": 10.0, "agrees": a}
               for i, a in enumerate([True, True, False])]
    report = tmp_path / "verify_references_x.json"
    report.write_text(json.dumps({"molecules": records}))
    rows = S._verified_counts([report], refs)
    # three converged, three rerun, none outdated, two agree, one of them built by the current sampler
    assert rows[-1] == "| val | 3 | 3 | 0 | 2 | 1 |"
    assert rows[-3].endswith(f"of them built by sampler v{S.SAMPLER_VERSION} |")
