"""The generator's assembled seeds (issue 27): path reported, stereo kept, fallback, ring seeds."""

import numpy as np
import pytest

from geomgen.conformers import parse_molecule, stereo_matches
from geomgen.conformers.generator import ConformerGenerator, seed_paths
from geomgen.conformers.ringlib import RingLibrary


@pytest.fixture(autouse=True)
def _no_clash_fallback(monkeypatch):
    """The tiny test network's draws are untrained and clash often on any seed: these tests are
    about the assembled path, so the clash-share fallback is off unless a test turns it on."""
    import geomgen.conformers.generator as g

    monkeypatch.setattr(g, "ASSEMBLY_CLASH_FALLBACK", 1.0)


@pytest.fixture(scope="module")
def gen(tiny_checkpoint, tmp_path_factory):
    lib = RingLibrary(folder=tmp_path_factory.mktemp("ringlib"), shipped=False)
    return ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="assembly", ring_library=lib)


def test_assembled_seeds_keep_stereo_and_are_reproducible(gen):
    items = [("a", "CC(=O)N[C@@H](Cc1ccccc1)C(=O)N1CC[C@H](O)C1"), ("b", r"F/C=C/C[C@H](N)c1ccncc1")]
    mols, reports = gen.generate_many(items, n=8, seed=2)
    for (_, smi), mol, rep in zip(items, mols, reports):
        assert rep.ok and rep.extra["seed"] == "assembled" and mol.GetNumConformers() == 8
        ref = parse_molecule(smi)
        assert all(stereo_matches(mol, conf_id=c.GetId(), reference=ref) for c in mol.GetConformers())
    again, _ = gen.generate_many(items[::-1], n=8, seed=2)
    np.testing.assert_array_equal(again[1].GetConformer(7).GetPositions(), mols[0].GetConformer(7).GetPositions())
    assert seed_paths(reports) == {"assembled": 2}


def test_macrocycle_falls_back_to_etkdg(gen):
    mols, reports = gen.generate_many([("m", "O=C1CCCCCCCCCCN1")], n=4, seed=0)
    assert reports[0].ok and mols[0].GetNumConformers() == 4
    assert reports[0].extra["seed"] == "etkdg" and reports[0].extra["seed_fallback"] == "macrocycle"
    assert seed_paths(reports) == {"etkdg": 1}


def test_ring_conformations_become_seeds_by_weight(gen):
    mol = gen.generate("C[C@H]1CC[C@H](CC1)CCO", n=20, seed=1)  # cis: the methyl or the ethanol axial
    seeds = {int(c.GetProp("ring_seed")) for c in mol.GetConformers()}
    assert len(seeds) == 2


def test_unknown_seed_method_is_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="seed_method"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="corina")


def test_a_molecule_whose_draws_keep_clashing_on_the_assembled_seed_gets_an_etkdg_seed(gen, monkeypatch):
    """Above ASSEMBLY_CLASH_FALLBACK (the share of draws the clash check rejects), the molecule
    is generated again from an ETKDGv3 seed and the report says why; at 1 nothing falls back."""
    import geomgen.conformers.generator as g

    item = [("x", "CC(=O)N[C@@H](Cc1ccccc1)C(=O)N1CC[C@H](O)C1")]
    monkeypatch.setattr(g, "ASSEMBLY_CLASH_FALLBACK", 1.0)
    _, (kept,) = gen.generate_many(item, n=6, seed=2)
    assert kept.ok and kept.extra["seed"] == "assembled" and "seed_fallback" not in kept.extra
    monkeypatch.setattr(g, "ASSEMBLY_CLASH_FALLBACK", -1.0)  # every molecule with a draw falls back
    (mol,), (rep,) = gen.generate_many(item, n=6, seed=2)
    assert rep.ok and mol.GetNumConformers() == 6 and rep.extra["seed"] == "etkdg"
    assert rep.extra["seed_fallback"].startswith("the clash check rejected ") and "draws on the assembled seed" in rep.extra["seed_fallback"]
