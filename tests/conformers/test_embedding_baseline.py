"""geomgen.conformers.embedding.etkdg_conformers: the ETKDGv3(+MMFF) baseline of the evaluation."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem  # noqa: E402

from geomgen.conformers import MoleculeError, etkdg_conformers, rdkit_seed  # noqa: E402

SMILES = "CC(=O)Nc1ccc(O)cc1"  # paracetamol: an aromatic ring, an amide, a few torsions


def _positions(mol) -> np.ndarray:
    return np.stack([c.GetPositions() for c in mol.GetConformers()])


def _plain_rdkit(smiles: str, n: int, seed: int, mmff_iters: int = 0):
    """What the evaluation scripts did before they shared the function."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = rdkit_seed(seed)
    params.numThreads = 1
    AllChem.EmbedMultipleConfs(mol, numConfs=n, params=params)
    if mmff_iters:
        AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=mmff_iters)
    return mol


@pytest.mark.parametrize("mmff_iters", [0, 200])
def test_same_conformers_as_plain_rdkit(mmff_iters):
    got = etkdg_conformers(SMILES, 4, seed=3, mmff_iters=mmff_iters)
    want = _plain_rdkit(SMILES, 4, seed=3, mmff_iters=mmff_iters)
    assert got.GetNumConformers() == 4
    np.testing.assert_allclose(_positions(got), _positions(want), atol=1e-6)


def test_a_molecule_is_copied_and_its_conformers_replaced():
    mol = _plain_rdkit(SMILES, 2, seed=0)
    before = _positions(mol)
    got = etkdg_conformers(mol, 5, seed=1)
    assert got is not mol and got.GetNumConformers() == 5
    np.testing.assert_array_equal(_positions(mol), before)  # the input is untouched
    np.testing.assert_allclose(_positions(got), _positions(etkdg_conformers(SMILES, 5, seed=1)), atol=1e-6)


def test_seeds_repeat_and_differ():
    a, b, c = (_positions(etkdg_conformers("CCCCO", 3, seed=s)) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_mmff_lowers_the_energy_and_keeps_aromaticity_flags():
    from geomgen.conformers import MMFF

    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccc2c(c1)nns2"))  # a fused thiadiazole
    flags = [a.GetIsAromatic() for a in mol.GetAtoms()]
    raw = etkdg_conformers(mol, 3, seed=0)
    relaxed = etkdg_conformers(mol, 3, seed=0, mmff_iters=500)
    assert [a.GetIsAromatic() for a in relaxed.GetAtoms()] == flags
    ff = MMFF(relaxed)
    assert np.all(ff.energies(_positions(relaxed)) < ff.energies(_positions(raw)))


def test_unparsable_smiles_is_a_molecule_error():
    with pytest.raises(MoleculeError, match="could not parse"):
        etkdg_conformers("C1CC(", 2)


def test_seed_failure_names_an_unrealisable_stereo():
    # both norbornane bridgeheads written with the same tag: distance geometry cannot realise it
    # with chirality enforced, and embeds it without; the error says so, naming the input
    from rdkit import Chem

    from geomgen.conformers.embedding import embed_seed

    with pytest.raises(MoleculeError, match=r"'C1C\[C@H\]2CC\[C@H\]1C2'.*stereocentres as specified"):
        embed_seed(Chem.AddHs(Chem.MolFromSmiles("C1C[C@H]2CC[C@H]1C2")), n_candidates=2)
