import pytest
from rdkit import Chem

from geomgen.conformers import MoleculeError, canonical_isomeric_smiles, embed_seed, parse_molecule, stereo_matches


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("C1CC", "unparsable"),
        ("", "empty"),
        ("CCO.Cl", "fragments"),
        ("C[Se]C", "unsupported element.s. Se .MMFF94 has no parameters"),
        ("CB(C)C", "unsupported element.s. B "),
        ("O=[Si]=O", "MMFF94 cannot type every atom of this molecule .its elements other than C and H: O, Si"),
    ],
)
def test_bad_molecules_raise_with_reason(smiles, reason):
    with pytest.raises(MoleculeError, match=reason):
        parse_molecule(smiles, name="mol-7")


def test_silicon_is_supported_where_mmff94_types_it():
    """Issue 25: C[Si](C)(C)C was called unsupported though MMFF94 types Si (type 19)."""
    from rdkit.Chem import AllChem

    for smiles in ("C[Si](C)(C)C", "C[Si](C)(C)O[Si](C)(C)C"):
        mol = parse_molecule(smiles)
        assert AllChem.MMFFHasAllMoleculeParams(mol)
        assert embed_seed(mol).GetNumConformers() == 1


def test_error_names_the_input():
    with pytest.raises(MoleculeError, match="mol-7"):
        parse_molecule("C1CC", name="mol-7")


def test_embed_seed_is_deterministic_and_keeps_stereo():
    mol = parse_molecule("C[C@@H](O)/C=C/c1ccccc1")
    a, b = embed_seed(mol, seed=5), embed_seed(mol, seed=5)
    assert a.GetNumConformers() == 1
    assert (a.GetConformer().GetPositions() == b.GetConformer().GetPositions()).all()
    assert stereo_matches(a, reference=mol)
    assert canonical_isomeric_smiles(a) == Chem.MolToSmiles(Chem.MolFromSmiles("C[C@@H](O)/C=C/c1ccccc1"))


def test_kdg_seed_keeps_stereo_and_trans_amides():
    from rdkit.Chem import rdMolTransforms

    mol = parse_molecule("C[C@@H](NC(=O)C)/C=C/c1ccccc1")
    a = embed_seed(mol, seed=3, n_candidates=1, max_iters=100, embedder="kdg")
    assert a.GetNumConformers() == 1 and stereo_matches(a, reference=mol)
    o, c, n, ca = a.GetSubstructMatch(Chem.MolFromSmarts("O=C-[NH]-[CH1]"))
    # a trans secondary amide: O=C-N-C(alpha) syn (|dihedral| < 90)
    assert abs(rdMolTransforms.GetDihedralDeg(a.GetConformer(), o, c, n, ca)) < 90
    with pytest.raises(ValueError, match="embedder"):
        embed_seed(mol, embedder="dg")


def test_stereo_mismatch_is_detected():
    mol = parse_molecule("C[C@@H](O)CC")
    seed = embed_seed(mol)
    mirror = Chem.Mol(seed)
    conf = mirror.GetConformer()
    for a in range(mirror.GetNumAtoms()):
        p = conf.GetAtomPosition(a)
        conf.SetAtomPosition(a, (-p.x, p.y, p.z))
    assert stereo_matches(seed, reference=mol)
    assert not stereo_matches(mirror, reference=mol)


def test_seed_zero_gives_distinct_candidates():
    from rdkit.Chem import AllChem

    from geomgen.conformers.embedding import rdkit_seed

    mol = parse_molecule("CCCCOc1ccccc1CCN")
    p = AllChem.ETKDGv3()
    p.randomSeed = rdkit_seed(0)
    m = Chem.Mol(mol)
    AllChem.EmbedMultipleConfs(m, 3, p)
    pos = [c.GetPositions() for c in m.GetConformers()]
    assert abs(pos[0] - pos[1]).max() > 0.1
