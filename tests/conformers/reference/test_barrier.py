"""The rotatable-bond torsion energy against RDKit's MMFF94 torsion term."""

import numpy as np
import pytest

from geomgen.conformers import embed_seed, parse_molecule, rotatable_torsions
from geomgen.conformers.reference.barrier import TorsionBarrier

MOLECULES = ["CC(=O)c1cccc(Cl)c1", "CC(C)NCC(O)COc1cccc2ccccc12", "OC(=O)C1CCC1N"]


def _torsion_only_forcefield(mol):
    from rdkit.Chem import AllChem

    props = AllChem.MMFFGetMoleculeProperties(mol)
    for term in ("Bond", "Angle", "StretchBend", "Oop", "VdW", "Ele"):
        getattr(props, f"SetMMFF{term}Term")(False)
    return AllChem.MMFFGetMoleculeForceField(mol, props)


@pytest.mark.parametrize("smiles", MOLECULES)
def test_all_bonds_equal_rdkit_torsion_term(smiles):
    mol = embed_seed(parse_molecule(smiles), seed=0)
    ff = _torsion_only_forcefield(mol)
    rng = np.random.default_rng(0)
    barrier = TorsionBarrier(mol)
    for _ in range(3):
        pos = mol.GetConformer().GetPositions() + rng.normal(0, 0.1, (mol.GetNumAtoms(), 3))
        e, g = barrier.energy_grad(pos)
        assert e == pytest.approx(ff.CalcEnergy(pos.ravel().tolist()), abs=1e-9)
        assert barrier.energy(pos) == pytest.approx(e, abs=1e-9)
        np.testing.assert_allclose(g, np.reshape(ff.CalcGrad(pos.ravel().tolist()), (-1, 3)), atol=1e-8)


def test_rotatable_subset_gradient_matches_finite_differences():
    mol = embed_seed(parse_molecule(MOLECULES[1]), seed=0)
    ts = rotatable_torsions(mol)
    barrier = TorsionBarrier(mol, bonds=[tuple(a[1:3]) for a in ts.atoms])
    assert 0 < len(barrier) < len(TorsionBarrier(mol))
    pos = mol.GetConformer().GetPositions()
    _, g = barrier.energy_grad(pos)
    h = 1e-6
    for a in (0, 5, 11):
        for c in range(3):
            d = np.zeros_like(pos)
            d[a, c] = h
            fd = (barrier.energy(pos + d) - barrier.energy(pos - d)) / (2 * h)
            assert g[a, c] == pytest.approx(fd, abs=1e-5)


def test_no_bonds_is_zero():
    mol = embed_seed(parse_molecule("CCO"), seed=0)
    barrier = TorsionBarrier(mol, bonds=[])
    e, g = barrier.energy_grad(mol.GetConformer().GetPositions())
    assert e == 0.0 and not g.any() and barrier.energy(mol.GetConformer().GetPositions()) == 0.0
