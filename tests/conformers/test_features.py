"""Torsion-potential features: MMFF94's torsion term about a bond, as Fourier coefficients."""

import numpy as np
import pytest

from geomgen.conformers import embed_seed, parse_molecule, rotatable_torsions
from geomgen.conformers.features import KT_300, collate, featurize, torsion_potential
from geomgen.conformers.molecule import MoleculeError


def _torsion_term_energy(mol, props):
    from rdkit.Chem import AllChem

    return AllChem.MMFFGetMoleculeForceField(mol, props).CalcEnergy()


@pytest.mark.parametrize("smiles", ["CCCC", "CC(=O)Nc1ccccc1C", "OC(=O)c1ccccc1Cl", "CC(C)(C)c1ccccc1"])
def test_fourier_series_is_rdkits_torsion_energy_under_rotation(smiles):
    """Rotating one bond rigidly changes only the torsion terms about it, so RDKit's MMFF94
    energy with every term but the torsions switched off must follow the returned series."""
    from rdkit import Chem
    from rdkit.Chem import AllChem, rdMolTransforms

    mol = embed_seed(parse_molecule(smiles))
    ts = rotatable_torsions(mol)
    coef = torsion_potential(mol, ts.atoms)
    assert coef.shape == (len(ts), 6)
    typed = Chem.Mol(mol)
    props = AllChem.MMFFGetMoleculeProperties(typed)
    for switch in ("Bond", "Angle", "StretchBend", "Oop", "VdW", "Ele"):
        getattr(props, f"SetMMFF{switch}Term")(False)
    for t, (i, j, k, l) in enumerate(ts.atoms):
        work = Chem.Mol(typed)
        conf = work.GetConformer()
        thetas = np.linspace(-np.pi, np.pi, 13)[:-1]
        energies = []
        for th in thetas:
            rdMolTransforms.SetDihedralRad(conf, int(i), int(j), int(k), int(l), float(th))
            energies.append(_torsion_term_energy(work, props))
        n = np.arange(1, 4)[:, None]
        series = KT_300 * (coef[t, 0::2, None] * np.cos(n * thetas) + coef[t, 1::2, None] * np.sin(n * thetas)).sum(0)
        e = np.array(energies)
        np.testing.assert_allclose(e - e.mean(), series - series.mean(), atol=2e-3)


def test_amide_bond_has_a_twofold_barrier_and_reversal_keeps_the_features():
    """An anilide's aryl-N bond is conjugated: the twofold coefficient dominates and its sign makes
    the planar states (theta = 0, pi) the minima; the quadruple read backwards gives the same."""
    mol = embed_seed(parse_molecule("CC(=O)Nc1ccccc1"))
    ts = rotatable_torsions(mol)
    coef = torsion_potential(mol, ts.atoms)
    np.testing.assert_allclose(torsion_potential(mol, ts.atoms[:, ::-1]), coef, atol=1e-5)
    amide = [t for t, (_, j, k, _) in enumerate(ts.atoms)
             if {mol.GetAtomWithIdx(int(j)).GetSymbol(), mol.GetAtomWithIdx(int(k)).GetSymbol()} == {"C", "N"}
             and mol.GetBondBetweenAtoms(int(j), int(k)).GetIsConjugated()]
    assert amide
    for t in amide:
        a2 = np.hypot(coef[t, 2], coef[t, 3])
        assert a2 > 2 * max(np.hypot(coef[t, 0], coef[t, 1]), np.hypot(coef[t, 4], coef[t, 5]))


def test_featurize_attaches_torsion_features_only_when_asked():
    mol = embed_seed(parse_molecule("CCOc1ccccc1"))
    ts = rotatable_torsions(mol)
    plain, full = featurize(mol, ts.atoms), featurize(mol, ts.atoms, torsion_features=True)
    assert plain.torsion_attr is None and full.torsion_attr.shape == (len(ts), 6)
    assert collate([plain, plain]).torsion_attr is None
    assert collate([full, full]).torsion_attr.shape == (2 * len(ts), 6)


def test_torsion_potential_needs_a_conformer():
    mol = parse_molecule("CCCC")
    mol.RemoveAllConformers()
    with pytest.raises(MoleculeError, match="conformer"):
        torsion_potential(mol, np.array([[0, 1, 2, 3]]))
