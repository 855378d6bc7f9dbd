import itertools

import numpy as np
import pytest
from rdkit import Chem

from geomgen.conformers import dihedral_angles, embed_seed, parse_molecule, rotatable_torsions, rotate_torsion, set_torsions, stereo_matches


@pytest.mark.parametrize(
    "smiles, count",
    [
        ("CCCC", 1),  # butane
        ("ClCCCl", 1),
        ("CC", 0),  # only hydrogens on each side
        ("Cc1ccccc1", 0),  # methyl rotor
        ("c1ccc(-c2ccccc2)cc1", 1),  # biaryl
        ("CC(=O)NC", 0),  # amide C-N is a partial double bond
        ("CC(=O)OC", 0),  # ester C-O too
        ("CCOC(=O)C", 1),  # ... but the O-CH2 bond rotates
        ("C1CCCCC1", 0),  # ring bonds
        ("FC(F)(F)CC", 0),  # symmetric CF3 top
        ("CC#CC", 0),  # linear
        ("OCCO", 1),
        ("CC(C)Cc1ccc(cc1)C(C)C(=O)O", 4),  # ibuprofen
    ],
)
def test_rotatable_counts(smiles, count):
    assert len(rotatable_torsions(Chem.AddHs(Chem.MolFromSmiles(smiles)))) == count


def test_definition_independent_of_atom_order():
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)OCC"))
    ts = rotatable_torsions(mol)
    perm = [int(i) for i in np.random.default_rng(1).permutation(mol.GetNumAtoms())]
    renum = Chem.RenumberAtoms(mol, perm)  # new atom a is old atom perm[a]
    ts2 = rotatable_torsions(renum)
    sym = list(Chem.CanonicalRankAtoms(mol, breakTies=False))

    def key(rows, mapping):
        # compare up to symmetry-equivalent atoms and bond direction
        out = set()
        for row in rows:
            t = tuple(sym[mapping(int(a))] for a in row)
            out.add(min(t, t[::-1]))
        return out

    assert key(ts2.atoms, lambda a: perm[a]) == key(ts.atoms, lambda a: a)
    assert len(ts2) == len(ts)


def _geometry(pos, mol):
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    lengths = np.linalg.norm(pos[..., bonds[:, 0], :] - pos[..., bonds[:, 1], :], axis=-1)
    triples = []
    for a in mol.GetAtoms():
        nbs = [n.GetIdx() for n in a.GetNeighbors()]
        triples += [(i, a.GetIdx(), k) for i, k in itertools.combinations(nbs, 2)]
    t = np.array(triples)
    u = pos[..., t[:, 0], :] - pos[..., t[:, 1], :]
    v = pos[..., t[:, 2], :] - pos[..., t[:, 1], :]
    cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return lengths, cos


def test_set_torsions_vectorised_keeps_geometry_and_stereo():
    # two stereocentres and an E double bond
    mol = embed_seed(parse_molecule("C[C@H](N)C/C=C/C[C@@H](O)CC(C)C"), seed=3)
    ts = rotatable_torsions(mol)
    assert len(ts) >= 4
    pos = mol.GetConformer().GetPositions()
    angles = np.random.default_rng(0).uniform(-np.pi, np.pi, (16, len(ts)))
    out = set_torsions(pos, ts, angles)
    assert out.shape == (16, mol.GetNumAtoms(), 3)
    got = dihedral_angles(out, ts.atoms)
    np.testing.assert_allclose(np.angle(np.exp(1j * (got - angles))), 0, atol=1e-9)
    l0, c0 = _geometry(pos, mol)
    l1, c1 = _geometry(out, mol)
    np.testing.assert_allclose(l1, np.broadcast_to(l0, l1.shape), atol=1e-9)
    np.testing.assert_allclose(c1, np.broadcast_to(c0, c1.shape), atol=1e-9)
    m = Chem.Mol(mol)
    for c in range(16):
        conf = m.GetConformer()
        for a, p in enumerate(out[c]):
            conf.SetAtomPosition(a, p.tolist())
        assert stereo_matches(m, reference=mol)


def test_rotate_torsion_adds_delta_and_matches_rdkit():
    from rdkit.Chem import rdMolTransforms

    mol = embed_seed(parse_molecule("CCOc1ccccc1CCN"), seed=0)
    ts = rotatable_torsions(mol)
    pos = mol.GetConformer().GetPositions()
    ref = [rdMolTransforms.GetDihedralRad(mol.GetConformer(), *map(int, a)) for a in ts.atoms]
    np.testing.assert_allclose(dihedral_angles(pos, ts.atoms), ref, atol=1e-9)
    for t in range(len(ts)):
        new = rotate_torsion(pos, ts, t, 0.7)
        d = dihedral_angles(new, ts.atoms) - dihedral_angles(pos, ts.atoms)
        d = np.angle(np.exp(1j * d))
        assert d[t] == pytest.approx(0.7, abs=1e-9)
        assert np.abs(np.delete(d, t)).max(initial=0) < 1e-9


def test_set_torsions_bad_shape():
    mol = embed_seed(parse_molecule("CCCC"))
    ts = rotatable_torsions(mol)
    with pytest.raises(ValueError, match="torsions"):
        set_torsions(mol.GetConformer().GetPositions(), ts, np.zeros((2, 3)))


@pytest.mark.parametrize("smiles, bond, expected, label", [
    ("c1ccccc1-c1ccccc1", (5, 6), "aryl-aryl", "ar-ar"),
    ("CC(=O)c1ccccc1", (1, 3), "aryl-carbonyl", "C(=X)-ar"),
    ("COc1ccccc1", (1, 2), "aryl-O", "Osp2-ar"),
    ("CNc1ccccc1", (1, 2), "aryl-N", "Nsp2-ar"),
    ("CSc1ccccc1", (1, 2), "aryl-S", "Ssp3-ar"),
    ("CCc1ccccc1", (1, 2), "sp3-aryl", "Csp3-ar"),
    ("CCCC", (1, 2), "sp3-sp3", "Csp3-Csp3"),
    ("CC(=O)NCC", (3, 4), "amide-adjacent", "Csp3-Nsp2"),
    ("CCC(=O)OC", (1, 2), "amide-adjacent", "C(=X)-Csp3"),
    ("CCC(=O)C", (1, 2), "other", "C(=X)-Csp3"),
])
def test_torsion_class_and_label(smiles, bond, expected, label):
    from geomgen.conformers import TORSION_CLASSES, torsion_bond_label, torsion_class

    mol = Chem.MolFromSmiles(smiles)
    assert mol.GetBondBetweenAtoms(*bond) is not None
    assert torsion_class(mol, *bond) == expected and expected in TORSION_CLASSES
    assert torsion_class(mol, *bond[::-1]) == expected
    assert torsion_bond_label(mol, *bond) == label
