import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign

from geomgen.metrics import coverage, rmsd_matrix

SMILES = "CC(C)(C)c1ccc(CCOC(=O)c2ccccc2)cc1"


def _ensemble(seed, n):
    m = Chem.AddHs(Chem.MolFromSmiles(SMILES))
    AllChem.EmbedMultipleConfs(m, n, randomSeed=seed)
    return m


def test_rmsd_matrix_matches_rdkit_get_best_rms():
    a, b = _ensemble(1, 4), _ensemble(2, 3)
    d = rmsd_matrix(a, b)
    ah, bh = Chem.RemoveHs(a), Chem.RemoveHs(b)
    ref = np.array([[rdMolAlign.GetBestRMS(Chem.Mol(bh), ah, prbId=j, refId=i) for j in range(3)] for i in range(4)])
    np.testing.assert_allclose(d, ref, atol=1e-6)


def test_identical_ensembles_and_atom_order():
    a = _ensemble(3, 5)
    d = rmsd_matrix(a, a)
    np.testing.assert_allclose(np.diag(d), 0, atol=1e-6)
    cov = coverage(a, a)
    assert cov["COV-R"][0.5] == 1.0 and cov["AMR-R"] == pytest.approx(0, abs=1e-6)
    # renumbering the atoms of the generated molecule changes nothing
    order = list(np.random.default_rng(0).permutation(a.GetNumAtoms()))
    renum = Chem.RenumberAtoms(a, [int(i) for i in order])
    np.testing.assert_allclose(rmsd_matrix(a, renum), d, atol=1e-6)


def test_precision_is_recall_transposed():
    a, b = _ensemble(4, 6), _ensemble(5, 3)
    ab, ba = coverage(a, b), coverage(b, a)
    assert ab["COV-P"] == ba["COV-R"] and ab["AMR-P"] == pytest.approx(ba["AMR-R"])
    assert set(ab["COV-R"]) == {0.5, 0.75, 1.25}
    for t in (0.5, 0.75, 1.25):
        assert 0 <= ab["COV-R"][t] <= 1


def test_mismatched_molecules_raise():
    a = _ensemble(1, 2)
    other = Chem.AddHs(Chem.MolFromSmiles("CCCCCCCCCCCCCCCCCCC"))
    AllChem.EmbedMultipleConfs(other, 2, randomSeed=0)
    with pytest.raises(ValueError):
        rmsd_matrix(a, other)
    with pytest.raises(ValueError, match="no conformers"):
        rmsd_matrix(a, Chem.AddHs(Chem.MolFromSmiles(SMILES)))
