import numpy as np


def test_restrained_relaxation_keeps_the_torsions_and_lowers_the_energy():
    from rdkit import Chem

    from evaluation.conformers.evaluate import relax_restrained
    from geomgen.conformers import MMFF, dihedral_angles, rotatable_torsions
    from geomgen.conformers.embedding import etkdg_conformers

    mol = etkdg_conformers(Chem.AddHs(Chem.MolFromSmiles("CCOC(=O)c1ccccc1NC(C)=O")), 3, 1)
    ts = rotatable_torsions(mol)
    before = np.stack([c.GetPositions() for c in mol.GetConformers()])
    relax_restrained(mol, max_iters=200)
    after = np.stack([c.GetPositions() for c in mol.GetConformers()])
    d = np.angle(np.exp(1j * (dihedral_angles(after, ts.atoms) - dihedral_angles(before, ts.atoms))))
    assert np.abs(d).max() < 0.01  # the torsions stay
    e0, e1 = MMFF(mol).energies(before), MMFF(mol).energies(after)
    assert (e1 < e0 - 1).all()  # bonds and angles relaxed
