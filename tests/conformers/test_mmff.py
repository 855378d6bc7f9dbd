"""The MMFF94 wrapper against finite differences of its own energy."""

import numpy as np

from geomgen.conformers import MMFF, embed_seed, parse_molecule


def _finite_difference(mmff, pos, atoms, h=1e-6):
    out = np.zeros((len(atoms), 3))
    for i, a in enumerate(atoms):
        for c in range(3):
            d = np.zeros_like(pos)
            d[a, c] = h
            out[i, c] = (mmff.energy(pos + d) - mmff.energy(pos - d)) / (2 * h)
    return out


def test_gradient_is_that_of_its_own_geometry_whatever_was_evaluated_before():
    """RDKit's CalcGrad reuses the distances cached by the last CalcEnergy: a gradient asked for
    right after the energy of another geometry (a rejected Monte Carlo proposal) must still be
    the gradient at the geometry asked for."""
    mol = embed_seed(parse_molecule("CCCCOc1ccccc1C(=O)N"), seed=0)
    mmff = MMFF(mol)
    rng = np.random.default_rng(0)
    x = mol.GetConformer().GetPositions()
    other = x + rng.normal(scale=0.3, size=x.shape)
    atoms = [0, 4, 9, 12]
    expected = _finite_difference(mmff, x, atoms)
    for before in (x, other, other[::-1].copy()):
        mmff.energy(before)
        np.testing.assert_allclose(mmff.grad(x)[atoms], expected, atol=1e-5)
    # and a gradient alone, with no energy evaluated before
    np.testing.assert_allclose(MMFF(mol).grad(x)[atoms], expected, atol=1e-5)


def test_with_conformers_round_trips_positions():
    from geomgen.conformers.mmff import with_conformers

    mol = embed_seed(parse_molecule("CCO"), seed=0)
    pos = mol.GetConformer().GetPositions()[None] + np.arange(3.0)[:, None, None]
    out = with_conformers(mol, pos)
    assert out.GetNumConformers() == 3 and mol.GetNumConformers() == 1
    np.testing.assert_allclose(np.stack([c.GetPositions() for c in out.GetConformers()]), pos)
    assert [c.GetId() for c in out.GetConformers()] == [0, 1, 2]


def test_energies_and_gradients_match_rdkits_own_force_field_bit_for_bit_along_a_walk():
    """The wrapper hands geometries to RDKit through its molecule's conformer: along a walk of
    energies and gradients in any order, each must equal, exactly, a separate RDKit force field
    given the coordinates as a list (a stale distance cache gives other numbers after the first
    call), and the caller's array must not be held (changing it in place changes nothing)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = embed_seed(parse_molecule("CC(=O)Nc1ccc(OCC(O)CN)cc1"), seed=0)
    mmff = MMFF(mol)
    copy = Chem.Mol(mol)
    ff = AllChem.MMFFGetMoleculeForceField(copy, AllChem.MMFFGetMoleculeProperties(copy), ignoreInterfragInteractions=False)
    rng = np.random.default_rng(1)
    x0 = mol.GetConformer().GetPositions()
    for i in range(30):
        x = x0 + rng.normal(scale=0.1, size=x0.shape)
        flat = x.ravel().tolist()
        want_e, want_g = ff.CalcEnergy(flat), np.asarray(ff.CalcGrad(flat)).reshape(-1, 3)
        if i % 3 == 0:
            assert np.array_equal(mmff.grad(x), want_g)
        assert mmff.energy(x) == want_e
        if i % 3 == 1:
            x_kept = x.copy()
            x += 1.0  # in place, after the energy: the next gradient is still that of x_kept
            assert np.array_equal(mmff.grad(x_kept), want_g)
