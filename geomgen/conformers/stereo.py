"""Stereochemistry checks: one conformer against the input (RDKit perception), and many
conformers at once against a seed (signed volumes and double-bond dihedrals)."""

from __future__ import annotations

import numpy as np

from geomgen.conformers.torsions import dihedral_angles


def stereo_matches(mol, conf_id: int = -1, reference=None) -> bool:
    """Whether conformer ``conf_id`` of ``mol`` has the stereochemistry of ``reference``.

    Tetrahedral centres and double bonds are perceived from the 3D coordinates and compared
    through canonical isomeric SMILES with those of ``reference`` (default: ``mol`` itself
    with its stereo tags). Stereo elements left unspecified in ``reference`` are not checked.
    """
    from rdkit import Chem

    ref = Chem.RemoveHs(reference if reference is not None else mol)
    probe = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(probe, confId=conf_id)
    probe = Chem.RemoveHs(probe)
    # Forget perceived stereo where the reference leaves it unspecified.
    for a_ref, a in zip(ref.GetAtoms(), probe.GetAtoms()):
        if a_ref.GetChiralTag() == Chem.ChiralType.CHI_UNSPECIFIED:
            a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for b_ref, b in zip(ref.GetBonds(), probe.GetBonds()):
        if b_ref.GetStereo() == Chem.BondStereo.STEREONONE:
            b.SetStereo(Chem.BondStereo.STEREONONE)
    return Chem.MolToSmiles(probe) == Chem.MolToSmiles(ref)


class StereoGuard:
    """Vectorised stereo check of many conformers against the seed (verified against the input).

    Tetrahedral centres: sign of the signed volume of three neighbours around the centre.
    Double bonds with stereo: sign of the cosine of the substituents' dihedral.
    """

    def __init__(self, mol):
        from rdkit import Chem

        self.centres = []
        for a in mol.GetAtoms():
            if a.GetChiralTag() in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW):
                nb = [n.GetIdx() for n in a.GetNeighbors()][:3]
                if len(nb) == 3:
                    self.centres.append([a.GetIdx()] + nb)
        self.dbonds = []
        for b in mol.GetBonds():
            if b.GetBondType() == Chem.BondType.DOUBLE and not b.IsInRing():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                ni = [n.GetIdx() for n in mol.GetAtomWithIdx(i).GetNeighbors() if n.GetIdx() != j]
                nj = [n.GetIdx() for n in mol.GetAtomWithIdx(j).GetNeighbors() if n.GetIdx() != i]
                if ni and nj:
                    self.dbonds.append([ni[0], i, j, nj[0]])
        self.centres = np.asarray(self.centres, dtype=np.int64).reshape(-1, 4)
        self.dbonds = np.asarray(self.dbonds, dtype=np.int64).reshape(-1, 4)
        seed = mol.GetConformer().GetPositions()
        self.ref = self.signature(seed[None])[0]

    def signature(self, pos: np.ndarray) -> np.ndarray:
        c = self.centres
        vol = np.linalg.det(np.stack([pos[:, c[:, m]] - pos[:, c[:, 0]] for m in (1, 2, 3)], -2)) if len(c) else np.zeros((len(pos), 0))
        dih = np.cos(dihedral_angles(pos, self.dbonds)) if len(self.dbonds) else np.zeros((len(pos), 0))
        return np.sign(np.concatenate([vol, dih], -1))

    def ok(self, pos: np.ndarray) -> np.ndarray:
        return (self.signature(pos) == self.ref).all(-1)
