import numpy as np
import pytest

from geomgen.conformers import MoleculeError, dihedral_angles, parse_molecule, rotatable_torsions, stereo_matches
from geomgen.conformers.clashes import ClashGuard
from geomgen.conformers.generator import ConformerGenerator

DRUG = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"  # (S)-ibuprofen


@pytest.fixture(scope="module")
def gen(tiny_checkpoint):
    return ConformerGenerator.from_checkpoint(tiny_checkpoint)


def _bond_lengths(mol):
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    b = np.array([(x.GetBeginAtomIdx(), x.GetEndAtomIdx()) for x in mol.GetBonds()])
    return np.linalg.norm(pos[:, b[:, 0]] - pos[:, b[:, 1]], axis=-1)


def test_generate_keeps_stereo_and_geometry_and_is_reproducible(gen):
    ref = parse_molecule("C[C@H](N)C/C=C/C[C@@H](O)CC(C)C")
    mol = gen.generate(ref, n=12, seed=3)
    assert mol.GetNumConformers() == 12
    for c in mol.GetConformers():
        assert stereo_matches(mol, conf_id=c.GetId(), reference=ref)
    lengths = _bond_lengths(mol)
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=1e-6)
    ts = rotatable_torsions(mol)
    ang = dihedral_angles(np.stack([c.GetPositions() for c in mol.GetConformers()]), ts.atoms)
    assert ang.std(0).min() > 0.05  # torsions actually vary
    again = gen.generate(ref, n=12, seed=3)
    np.testing.assert_allclose(again.GetConformer(5).GetPositions(), mol.GetConformer(5).GetPositions())


def test_no_clashes_in_output(gen):
    mol = gen.generate(DRUG, n=20, seed=1)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    assert ClashGuard(mol).ok(pos).all()


def test_relax_and_boltzmann_properties(gen):
    mol = gen.generate(DRUG, n=8, seed=0, relax=True)
    e = [c.GetDoubleProp("MMFF94_energy_kcal_mol") for c in mol.GetConformers()]
    assert len(e) == 8 and max(e) < 50
    mol = gen.generate(DRUG, n=8, seed=0, boltzmann=True)
    props = [c.GetPropsAsDict() for c in mol.GetConformers()]
    assert all("boltzmann_weight" in p and 1 <= p["boltzmann_ess"] <= 32 for p in props)


def test_rigid_molecule_and_bad_inputs(gen):
    assert gen.generate("c1ccccc1", n=3).GetNumConformers() == 3
    for smi, reason in [("C1CC", "unparsable"), ("CCO.Cl", "fragments"), ("C[Si](C)(C)C", "unsupported element")]:
        with pytest.raises(MoleculeError, match=reason):
            gen.generate(smi, n=2)


def test_clash_failure_is_reported_not_silent(gen, monkeypatch):
    monkeypatch.setattr(ClashGuard, "ok", lambda self, pos: np.zeros(len(pos), dtype=bool))
    mols, reports = gen.generate_many([("x", "CCCCO")], n=4)
    assert mols == [None] and not reports[0].ok and "clash" in reports[0].reason


def test_clash_guard_detects_overlap():
    mol = parse_molecule("CCCCCC")
    from geomgen.conformers import embed_seed

    mol = embed_seed(mol)
    pos = mol.GetConformer().GetPositions()[None].copy()
    guard = ClashGuard(mol)
    assert guard.ok(pos).all()
    pos[0, 5] = pos[0, 0] + 0.5  # put the terminal carbons on top of each other
    assert not guard.ok(pos).any()
