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


@pytest.mark.parametrize("smiles", MOLECULES[1:])
def test_electrostatic_term_is_buffered_coulomb_and_completes_mmff(smiles):
    """Known answer: sum over pairs >= 1-4 apart of 332.0716 q_i q_j / (R + 0.05), 1-4 pairs
    scaled by 0.75 (MMFF94, constant dielectric 1); the other terms plus this one are RDKit's
    full MMFF energy; the gradient matches finite differences."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.reference.barrier import ElectrostaticTerm, SumOfTerms

    mol = embed_seed(parse_molecule(smiles), seed=0)
    before = Chem.MolToSmiles(mol)
    ele = ElectrostaticTerm(mol)
    assert Chem.MolToSmiles(mol) == before  # MMFF typing ran on a copy
    props = AllChem.MMFFGetMoleculeProperties(Chem.Mol(mol))
    q = np.array([props.GetMMFFPartialCharge(i) for i in range(mol.GetNumAtoms())])
    topo = Chem.GetDistanceMatrix(mol)
    pos = mol.GetConformer().GetPositions() + np.random.default_rng(1).normal(0, 0.05, (mol.GetNumAtoms(), 3))
    r = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    scale = np.where(topo >= 4, 1.0, np.where(topo == 3, 0.75, 0.0))
    iu = np.triu_indices(len(q), 1)
    expect = float((332.0716 * scale * np.outer(q, q) / (r + 0.05))[iu].sum())
    e, g = ele.energy_grad(pos)
    assert e == pytest.approx(expect, rel=1e-6)
    rest = AllChem.MMFFGetMoleculeProperties(Chem.Mol(mol))
    rest.SetMMFFEleTerm(False)
    ff_rest = AllChem.MMFFGetMoleculeForceField(Chem.Mol(mol), rest, ignoreInterfragInteractions=False)
    assert e + ff_rest.CalcEnergy(pos.ravel().tolist()) == pytest.approx(MMFF(mol).energy(pos), abs=1e-6)
    h = 1e-6
    for a in (0, 3):
        for c in range(3):
            d = np.zeros_like(pos)
            d[a, c] = h
            assert g[a, c] == pytest.approx((ele.energy(pos + d) - ele.energy(pos - d)) / (2 * h), abs=1e-4)
    both = SumOfTerms(TorsionBarrier(mol), ele)
    eb, gb = both.energy_grad(pos)
    assert eb == pytest.approx(TorsionBarrier(mol).energy(pos) + e) and both.energy(pos) == pytest.approx(eb)
    np.testing.assert_allclose(gb, TorsionBarrier(mol).energy_grad(pos)[1] + g)


def test_ladder_bonds_adds_the_partial_double_bonds():
    """With ``ladder_bonds="rotatable+partial"`` the ladder's term is the rotatable bonds' torsion
    energy plus exactly that of the amide C-N bond (a TorsionBarrier of that bond alone)."""
    from geomgen.conformers import SamplerConfig, embed_seed, parse_molecule
    from geomgen.conformers.discrete_states import partial_double_bonds
    from geomgen.conformers.reference.sampler import System
    from geomgen.conformers.torsions import rotatable_torsions

    mol = embed_seed(parse_molecule("CCN(C)C(=O)CC"), seed=0)
    ts = rotatable_torsions(mol)
    plain = System(mol, ts, SamplerConfig())
    both = System(mol, ts, SamplerConfig(ladder_bonds="rotatable+partial"))
    (site,) = partial_double_bonds(mol)
    amide = TorsionBarrier(mol, bonds=[site.atoms[1:3]])
    pos = mol.GetConformer().GetPositions()
    assert len(amide) > 0 and len(both.barrier) == len(plain.barrier) + len(amide)
    assert both.barrier.energy(pos) == pytest.approx(plain.barrier.energy(pos) + amide.energy(pos))
    with pytest.raises(ValueError, match="ladder_bonds"):
        SamplerConfig(ladder_bonds="all")
