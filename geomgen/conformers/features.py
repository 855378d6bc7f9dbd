"""Molecule graphs for VonMisesNet: atom and bond features, and a torch-only graph container.

Graphs are over heavy atoms (hydrogens enter as counts), since every rotatable torsion
(:mod:`geomgen.conformers.torsions`) is defined by four heavy atoms. This module needs torch
and RDKit only, so the generation path (``geomgen conformers``) does not import
torch_geometric; the training dataset (:mod:`geomgen.conformers.dataset`) wraps the same
graphs in PyG ``Data`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

ELEMENTS = ["C", "N", "O", "F", "P", "S", "Cl", "Br", "I"]


HYBRIDISATIONS = ["S", "SP", "SP2", "SP3", "SP3D", "SP3D2"]


RING_SIZES = [3, 4, 5, 6, 7, 8]


def _one_hot(value, choices) -> list[float]:
    out = [0.0] * (len(choices) + 1)  # last slot: other
    out[choices.index(value) if value in choices else len(choices)] = 1.0
    return out


def atom_features(atom) -> list[float]:
    """Element, hybridisation, aromaticity, formal charge, ring membership and sizes, degree,
    hydrogen count, CIP label (R/S) and whether the atom is a specified stereocentre."""
    ring = atom.GetOwningMol().GetRingInfo()
    idx = atom.GetIdx()
    cip = atom.GetProp("_CIPCode") if atom.HasProp("_CIPCode") else ""
    return (
        _one_hot(atom.GetSymbol(), ELEMENTS)
        + _one_hot(str(atom.GetHybridization()), HYBRIDISATIONS)
        + [float(atom.GetIsAromatic()), float(atom.IsInRing())]
        + [float(ring.IsAtomInRingOfSize(idx, s)) for s in RING_SIZES]
        + _one_hot(atom.GetFormalCharge(), [-1, 0, 1])
        + _one_hot(sum(1 for n in atom.GetNeighbors() if n.GetAtomicNum() > 1), [1, 2, 3, 4])
        + _one_hot(atom.GetTotalNumHs(includeNeighbors=True), [0, 1, 2, 3])
        + [float(cip == "R"), float(cip == "S")]
    )


BOND_TYPES = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]


BOND_STEREO = ["STEREOE", "STEREOZ"]


def bond_features(bond, rotatable: bool) -> list[float]:
    """Bond order, conjugation, ring membership, E/Z label, and whether it is a rotatable torsion."""
    return (
        _one_hot(str(bond.GetBondType()), BOND_TYPES)
        + [float(bond.GetIsConjugated()), float(bond.IsInRing()), float(rotatable)]
        + _one_hot(str(bond.GetStereo()), BOND_STEREO)
    )


N_ATOM_FEATURES = len(ELEMENTS) + 1 + len(HYBRIDISATIONS) + 1 + 2 + len(RING_SIZES) + 4 + 5 + 5 + 2


N_BOND_FEATURES = len(BOND_TYPES) + 1 + 3 + len(BOND_STEREO) + 1


def heavy_atom_map(mol) -> np.ndarray:
    """``map[a]`` = heavy-atom graph index of atom a (-1 for hydrogens)."""
    m = np.full(mol.GetNumAtoms(), -1, dtype=np.int64)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    m[heavy] = np.arange(len(heavy))
    return m


#: kT at 300 K in kcal/mol, the unit of the torsion-potential features
KT_300 = 0.0019872 * 300.0


#: harmonics of the torsion-potential features (MMFF94's torsion term has periods 1, 2 and 3)
N_TORSION_FEATURES = 6


def torsion_potential(mol, torsion_atoms: np.ndarray) -> np.ndarray:
    r"""Fourier coefficients of MMFF94's intrinsic torsion energy about each torsion's bond.

    For the torsion (i, j, k, l) with dihedral :math:`\theta`, every quadruple (a, j, k, b) of
    neighbours (hydrogens included) contributes MMFF94's term
    :math:`\tfrac12 V_1 (1 + \cos\phi) + \tfrac12 V_2 (1 - \cos 2\phi) + \tfrac12 V_3 (1 + \cos 3\phi)`
    with :math:`\phi = \theta + \delta_{ab}`, where the offset :math:`\delta_{ab}` is read from the
    molecule's conformer (a rotation about j-k keeps it). Summed, the energy is
    :math:`c_0 + \sum_{n=1}^{3} a_n \cos n\theta + b_n \sin n\theta`; this returns
    :math:`(a_1, b_1, a_2, b_2, a_3, b_3)` in units of kT at 300 K. It is the part of the
    torsion's potential that MMFF94 assigns to the bond itself (the conjugation of an aryl amide,
    the threefold barrier of an sp3-sp3 bond), not the non-bonded interactions.

    Args:
        mol: RDKit molecule with explicit hydrogens and a conformer.
        torsion_atoms: ``[T, 4]`` dihedral quadruples (atom indices of ``mol``).

    Returns:
        ``[T, 6]`` float32 array.

    Raises:
        MoleculeError: ``mol`` has no conformer, or MMFF94 cannot type it.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.molecule import MoleculeError
    from geomgen.conformers.torsions import dihedral_angles

    tors = np.asarray(torsion_atoms, dtype=np.int64).reshape(-1, 4)
    out = np.zeros((len(tors), N_TORSION_FEATURES), dtype=np.float64)
    if not len(tors):
        return out.astype(np.float32)
    if mol.GetNumConformers() == 0:
        raise MoleculeError("torsion-potential features need a molecule with a conformer")
    typed = Chem.Mol(mol)  # MMFF typing rewrites aromaticity flags: type a copy
    props = AllChem.MMFFGetMoleculeProperties(typed)
    if props is None:
        raise MoleculeError("MMFF94 has no parameters for this molecule")
    pos = mol.GetConformer().GetPositions()
    for t, (i, j, k, l) in enumerate(tors):
        quads = [(a.GetIdx(), int(j), int(k), b.GetIdx())
                 for a in mol.GetAtomWithIdx(int(j)).GetNeighbors() if a.GetIdx() != k
                 for b in mol.GetAtomWithIdx(int(k)).GetNeighbors() if b.GetIdx() != j]
        phi = dihedral_angles(pos, np.array(quads))
        delta = phi - phi[quads.index((int(i), int(j), int(k), int(l)))]  # the torsion is one of its quadruples
        for q, d in zip(quads, delta):
            params = props.GetMMFFTorsionParams(typed, *q)
            if params is None:
                continue
            _, v1, v2, v3 = params
            for n, c in ((1, 0.5 * v1), (2, -0.5 * v2), (3, 0.5 * v3)):
                out[t, 2 * n - 2] += c * np.cos(n * d)
                out[t, 2 * n - 1] -= c * np.sin(n * d)
    return (out / KT_300).astype(np.float32)


def featurize(mol, torsion_atoms: np.ndarray, torsion_features: bool = False) -> MoleculeGraph:
    """Heavy-atom graph of ``mol`` (with hydrogens) and its torsions (atom indices of ``mol``).

    With ``torsion_features`` (which needs a conformer), each torsion also gets the Fourier
    coefficients of MMFF94's torsion term about its bond (:func:`torsion_potential`).

    Shapes: ``x [n_heavy, F_atom]``, ``edge_index [2, 2 E]``, ``edge_attr [2 E, F_bond]``,
    ``torsion_index [T, 4]`` (graph indices), ``torsion_attr [T, 6]`` (or ``None``).
    """
    from rdkit import Chem

    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    hmap = heavy_atom_map(mol)
    heavy = [a for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    x = torch.tensor([atom_features(a) for a in heavy], dtype=torch.float32)
    rot = {frozenset((int(t[1]), int(t[2]))) for t in torsion_atoms}
    src, dst, attr = [], [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if hmap[i] < 0 or hmap[j] < 0:
            continue
        f = bond_features(b, frozenset((i, j)) in rot)
        src += [hmap[i], hmap[j]]
        dst += [hmap[j], hmap[i]]
        attr += [f, f]
    tor = hmap[np.asarray(torsion_atoms, dtype=np.int64).reshape(-1, 4)]
    if (tor < 0).any():
        raise ValueError("torsion atoms must be heavy atoms")
    return MoleculeGraph(
        x=x,
        edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
        edge_attr=torch.tensor(attr, dtype=torch.float32).reshape(-1, N_BOND_FEATURES),
        torsion_index=torch.from_numpy(tor),
        torsion_attr=torch.from_numpy(torsion_potential(mol, torsion_atoms)) if torsion_features else None,
    )


@dataclass
class MoleculeGraph:
    """A heavy-atom molecule graph with its torsions (or a batch of them, see :func:`collate`).

    Shapes:
        - x: ``[N, F_atom]`` atom features
        - edge_index: ``[2, E]`` directed edges (both directions of every bond)
        - edge_attr: ``[E, F_bond]`` bond features
        - torsion_index: ``[T, 4]`` graph indices of the torsions' dihedral atoms
        - torsion_attr: ``[T, 6]`` torsion-potential features (:func:`torsion_potential`), or ``None``
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    torsion_index: Tensor
    torsion_attr: Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])


def collate(graphs: list[MoleculeGraph]) -> MoleculeGraph:
    """One disjoint-union graph of ``graphs``, node indices shifted as PyG's ``Batch`` does."""
    offsets = np.cumsum([0] + [g.num_nodes for g in graphs[:-1]])
    return MoleculeGraph(
        x=torch.cat([g.x for g in graphs]),
        edge_index=torch.cat([g.edge_index + int(o) for g, o in zip(graphs, offsets)], 1),
        edge_attr=torch.cat([g.edge_attr for g in graphs]),
        torsion_index=torch.cat([g.torsion_index + int(o) for g, o in zip(graphs, offsets)]),
        torsion_attr=None if any(g.torsion_attr is None for g in graphs) else torch.cat([g.torsion_attr for g in graphs]),
    )
