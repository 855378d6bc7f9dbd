import pytest
from rdkit import Chem

from geomgen.conformers import embed_seed, parse_molecule, stereo_matches
from geomgen.conformers.stereo import StereoGuard, fixed_stereo

ARGININE_PEPTIDE = "NCC(=O)N[C@@H](CCCNC(=N)N)C(=O)N[C@@H](CC(C)C)C(=O)O"  # Gly-Arg-Leu


def _mirror(mol):
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for a in range(out.GetNumAtoms()):
        p = conf.GetAtomPosition(a)
        conf.SetAtomPosition(a, (-p.x, p.y, p.z))
    return out


@pytest.mark.parametrize("smiles", ["CCC=CCC", "NC(=N)c1ccccc1", ARGININE_PEPTIDE, "CC=NO", "CC=CC=C/C=C/C", "CC(O)CC"])
def test_unspecified_stereo_is_not_checked(smiles):
    """Issue 13, item 1: an unspecified C=C, the C=NH of an amidine (whose hydrogen gives it an E/Z label in
    3D) and an arginine side chain used to fail with 'seed geometry cannot reproduce the input's stereochemistry'."""
    mol = parse_molecule(smiles)
    for seed in range(3):
        assert stereo_matches(embed_seed(mol, seed=seed, n_candidates=1), reference=mol)


@pytest.mark.parametrize(("given", "other"), [("C/C=C/CC", r"C/C=C\CC"), ("Cl/C(F)=C/C", r"Cl/C(F)=C\C"), ("C/C=N/O", r"C/C=N\O")])
def test_double_bond_mismatch_is_detected(given, other):
    mol = parse_molecule(given)
    seed = embed_seed(mol, n_candidates=1)
    assert stereo_matches(seed, reference=mol)
    assert not stereo_matches(seed, reference=parse_molecule(other))


def test_specified_centres_are_checked_and_unspecified_ones_are_not():
    mol = parse_molecule(ARGININE_PEPTIDE)
    seed = embed_seed(mol, n_candidates=1)
    assert stereo_matches(seed, reference=mol) and not stereo_matches(_mirror(seed), reference=mol)
    open_ = parse_molecule("NCC(=O)NC(CCCNC(=N)N)C(=O)NC(CC(C)C)C(=O)O")
    assert stereo_matches(_mirror(embed_seed(open_, n_candidates=1)), reference=open_)


def test_equivalent_tag_sets_match():
    """Inverting both centres of cis-1,4-dimethylcyclohexane gives the same molecule."""
    mol = parse_molecule("C[C@H]1CC[C@@H](C)CC1")
    seed = embed_seed(mol, n_candidates=1)
    assert stereo_matches(_mirror(seed), reference=mol)


def test_different_atoms_raise():
    with pytest.raises(ValueError, match="differ"):
        stereo_matches(embed_seed(parse_molecule("CCO"), n_candidates=1), reference=parse_molecule("CCCO"))


def test_fixed_stereo_names_what_the_seed_chose():
    mol = parse_molecule("CC(O)C/C=C/C=CC")
    fixed = fixed_stereo(embed_seed(mol, n_candidates=1), reference=mol)
    assert (fixed.centres, fixed.double_bonds) == (1, 1)
    assert fixed.describe() == "1 stereocentre and 1 double bond"
    chosen = parse_molecule(fixed.smiles)
    assert not fixed_stereo(embed_seed(chosen, n_candidates=1), reference=chosen)  # fully specified now
    for smiles in ("NC(=N)c1ccccc1", "C[C@@H](O)CC", "CCO"):  # an =NH is not an unspecified double bond
        m = parse_molecule(smiles)
        assert not fixed_stereo(embed_seed(m, n_candidates=1), reference=m)


def test_stereo_guard_keeps_the_seed_isomer():
    seed = embed_seed(parse_molecule("CC(O)CC=CC"), n_candidates=1)  # both elements fixed by the seed
    guard = StereoGuard(seed)
    assert guard.ok(seed.GetConformer().GetPositions()[None]).all()
    assert not guard.ok(_mirror(seed).GetConformer().GetPositions()[None]).any()


def test_stereoisomers_of_unspecified_elements_only():
    from geomgen.conformers.stereo import stereoisomers

    assert stereoisomers("CCC=CCC") == (["CC/C=C/CC", "CC/C=C\\CC"], False)
    assert stereoisomers("C[C@H](O)CC(C)O")[0] == ["C[C@H](O)C[C@H](C)O", "C[C@H](O)C[C@@H](C)O"]  # the given centre kept
    assert stereoisomers("NC(=N)c1ccccc1") == (["NC(=N)c1ccccc1"], False)  # nothing to enumerate: the input unchanged
    assert stereoisomers("C1CC") == (["C1CC"], False)  # unparsable: left to the generator to report
    isomers, truncated = stereoisomers("CC(O)C(O)C(O)C(O)CC", max_isomers=3)
    assert len(isomers) == 3 and truncated
    mols, _ = stereoisomers(Chem.MolFromSmiles("CC(O)CC"))
    assert len(mols) == 2 and all(isinstance(m, Chem.Mol) for m in mols)
