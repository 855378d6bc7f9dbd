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
