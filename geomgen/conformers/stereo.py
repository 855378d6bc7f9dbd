"""Stereochemistry checks: one conformer against the input (RDKit perception, element by
element), the stereo elements a seed fixed where the input left them open, and many
conformers at once against a seed (signed volumes and double-bond dihedrals)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geomgen.conformers.torsions import dihedral_angles

_CIS = {"STEREOZ", "STEREOCIS"}
_TRANS = {"STEREOE", "STEREOTRANS"}


def _is_centre(atom) -> bool:
    from rdkit import Chem

    return atom.GetChiralTag() in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)


def _double_bond_parity(bond) -> bool | None:
    """Whether the lowest-index substituents on either end of a stereo double bond are cis
    (``None`` when the bond has no specified stereo).

    RDKit states double-bond stereo relative to two "stereo atoms", one per end (for E/Z the
    CIP-highest neighbours); this re-expresses it relative to a pair fixed by the graph alone,
    so two molecules with the same atoms in the same order can be compared directly."""
    name = str(bond.GetStereo())
    if name not in _CIS | _TRANS:
        return None
    stereo_atoms = list(bond.GetStereoAtoms())
    if len(stereo_atoms) != 2:
        return None
    cis = name in _CIS
    for end, other, chosen in ((bond.GetBeginAtom(), bond.GetEndAtomIdx(), stereo_atoms[0]),
                               (bond.GetEndAtom(), bond.GetBeginAtomIdx(), stereo_atoms[1])):
        first = min(n.GetIdx() for n in end.GetNeighbors() if n.GetIdx() != other)
        cis ^= chosen != first  # the other substituent on this end: the relation flips
    return cis


def stereo_matches(mol, conf_id: int = -1, reference=None) -> bool:
    """Whether conformer ``conf_id`` of ``mol`` has the stereochemistry of ``reference``.

    Tetrahedral centres and double bonds are perceived from the 3D coordinates and compared,
    element by element, with those ``reference`` specifies (default: ``mol`` itself with its
    stereo tags); ``mol`` and ``reference`` must have the same atoms in the same order (e.g. the
    parsed input with hydrogens and a seed embedded from it). Stereo elements left unspecified
    in ``reference`` are not checked, whatever the coordinates perceive there (an unspecified
    C=C, or the C=N of an amidine whose hydrogen fixes an E/Z label in 3D).

    Raises:
        ValueError: ``mol`` and ``reference`` differ in their atoms.
    """
    from rdkit import Chem

    ref = reference if reference is not None else mol
    if ref.GetNumAtoms() != mol.GetNumAtoms() or ref.GetNumBonds() != mol.GetNumBonds():
        raise ValueError(f"stereo_matches: molecule ({mol.GetNumAtoms()} atoms, {mol.GetNumBonds()} bonds) and reference "
                         f"({ref.GetNumAtoms()} atoms, {ref.GetNumBonds()} bonds) differ")
    probe = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(probe, confId=conf_id)
    for b_ref, b in zip(ref.GetBonds(), probe.GetBonds()):
        want = _double_bond_parity(b_ref)
        if want is not None and _double_bond_parity(b) != want:
            return False
    # same neighbour order: tags compare directly
    differ = [a.GetIdx() for a_ref, a in zip(ref.GetAtoms(), probe.GetAtoms()) if _is_centre(a_ref) and a.GetChiralTag() != a_ref.GetChiralTag()]
    if not differ:
        return True
    # Different tags can still name the same molecule (inverting both centres of cis-1,4-dimethylcyclohexane):
    # put the perceived tags into the reference and compare canonical SMILES.
    swapped = Chem.Mol(ref)
    for i in differ:
        swapped.GetAtomWithIdx(i).SetChiralTag(probe.GetAtomWithIdx(i).GetChiralTag())
    return Chem.MolToSmiles(Chem.RemoveHs(swapped)) == Chem.MolToSmiles(Chem.RemoveHs(ref))


@dataclass
class FixedStereo:
    """Stereo elements the input left open and a seed geometry fixed.

    Attributes:
        centres (int): tetrahedral stereocentres unspecified in the input.
        double_bonds (int): stereo double bonds unspecified in the input (C=C, C=N with a heavy
            substituent on each end; an ``=NH`` is not counted).
        smiles (str): canonical isomeric SMILES of the stereoisomer the seed fixed.
    """

    centres: int
    double_bonds: int
    smiles: str

    def __bool__(self) -> bool:
        return bool(self.centres or self.double_bonds)

    def describe(self) -> str:
        """``"1 stereocentre and 2 double bonds"``."""
        parts = []
        if self.centres:
            parts.append(f"{self.centres} stereocentre{'s' if self.centres > 1 else ''}")
        if self.double_bonds:
            parts.append(f"{self.double_bonds} double bond{'s' if self.double_bonds > 1 else ''}")
        return " and ".join(parts)


def fixed_stereo(seed, reference, conf_id: int = -1) -> FixedStereo:
    """The stereo elements left unspecified in ``reference`` that conformer ``conf_id`` of
    ``seed`` fixes, perceived on the heavy atoms (``seed`` and ``reference`` have the same atoms
    in the same order)."""
    from rdkit import Chem

    heavy = Chem.RemoveAllHs(Chem.Mol(seed, confId=conf_id) if conf_id >= 0 else seed)
    Chem.AssignStereochemistryFrom3D(heavy)
    heavy_ref = Chem.RemoveAllHs(reference)
    centres = sum(_is_centre(a) and not _is_centre(a_ref) for a_ref, a in zip(heavy_ref.GetAtoms(), heavy.GetAtoms()))
    bonds = sum(_double_bond_parity(b) is not None and _double_bond_parity(b_ref) is None
                for b_ref, b in zip(heavy_ref.GetBonds(), heavy.GetBonds()))
    return FixedStereo(int(centres), int(bonds), Chem.MolToSmiles(heavy))


def stereoisomers(smiles_or_mol, max_isomers: int = 32) -> tuple[list, bool]:
    """The stereoisomers of a molecule over the stereo elements its input leaves unspecified
    (RDKit's ``EnumerateStereoisomers``, unique, specified elements kept), in RDKit's order.

    Returns ``(isomers, truncated)``: isomeric SMILES strings for a SMILES input, molecules for a
    molecule input, at most ``max_isomers`` of them (``truncated`` says whether there were more).
    A molecule without unspecified stereo, or one RDKit cannot parse, comes back alone, unchanged
    (the generator reports what is wrong with it).
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers, StereoEnumerationOptions

    if isinstance(smiles_or_mol, str):
        RDLogger.DisableLog("rdApp.*")
        try:
            mol = Chem.MolFromSmiles(smiles_or_mol.strip()) if smiles_or_mol.strip() else None
        finally:
            RDLogger.EnableLog("rdApp.*")
    else:
        mol = smiles_or_mol
    if mol is None:
        return [smiles_or_mol], False
    options = StereoEnumerationOptions(onlyUnassigned=True, unique=True, maxIsomers=max_isomers + 1)
    isomers = list(EnumerateStereoisomers(mol, options=options))
    truncated = len(isomers) > max_isomers
    isomers = isomers[:max_isomers]
    if len(isomers) <= 1:
        return [smiles_or_mol], False
    if isinstance(smiles_or_mol, str):
        return [Chem.MolToSmiles(m) for m in isomers], truncated
    return isomers, truncated


def stereo_elements(mol) -> tuple[np.ndarray, np.ndarray]:
    """The elements :class:`StereoGuard` checks, from the graph and stereo tags of ``mol``:
    tetrahedral centres with three neighbours ``[C, 4]`` (centre, then three neighbours) and
    non-ring double bonds with a substituent on each end ``[D, 4]`` (dihedral quadruples)."""
    from rdkit import Chem

    centres = []
    for a in mol.GetAtoms():
        if a.GetChiralTag() in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW):
            nb = [n.GetIdx() for n in a.GetNeighbors()][:3]
            if len(nb) == 3:
                centres.append([a.GetIdx()] + nb)
    dbonds = []
    for b in mol.GetBonds():
        if b.GetBondType() == Chem.BondType.DOUBLE and not b.IsInRing():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            ni = [n.GetIdx() for n in mol.GetAtomWithIdx(i).GetNeighbors() if n.GetIdx() != j]
            nj = [n.GetIdx() for n in mol.GetAtomWithIdx(j).GetNeighbors() if n.GetIdx() != i]
            if ni and nj:
                dbonds.append([ni[0], i, j, nj[0]])
    return np.asarray(centres, dtype=np.int64).reshape(-1, 4), np.asarray(dbonds, dtype=np.int64).reshape(-1, 4)


class StereoGuard:
    """Vectorised stereo check of many conformers against the seed (verified against the input).

    Tetrahedral centres: sign of the signed volume of three neighbours around the centre.
    Double bonds with stereo: sign of the cosine of the substituents' dihedral.
    """

    def __init__(self, mol, like: StereoGuard | None = None):
        """``like``: a guard on a molecule with the same graph (atoms, bonds and stereo tags, e.g.
        another seed of the same molecule), whose stereo elements are reused; only the
        reference signs are read from ``mol``'s conformer (the result is the same as without it)."""
        if like is not None:
            self.centres, self.dbonds = like.centres, like.dbonds
        else:
            self.centres, self.dbonds = stereo_elements(mol)
        seed = mol.GetConformer().GetPositions()
        self.ref = self.signature(seed[None])[0]

    def signature(self, pos: np.ndarray) -> np.ndarray:
        c = self.centres
        vol = np.linalg.det(np.stack([pos[:, c[:, m]] - pos[:, c[:, 0]] for m in (1, 2, 3)], -2)) if len(c) else np.zeros((len(pos), 0))
        dih = np.cos(dihedral_angles(pos, self.dbonds)) if len(self.dbonds) else np.zeros((len(pos), 0))
        return np.sign(np.concatenate([vol, dih], -1))

    def ok(self, pos: np.ndarray) -> np.ndarray:
        return (self.signature(pos) == self.ref).all(-1)
