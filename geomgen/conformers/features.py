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


def featurize(mol, torsion_atoms: np.ndarray) -> MoleculeGraph:
    """Heavy-atom graph of ``mol`` (with hydrogens) and its torsions (atom indices of ``mol``).

    Shapes: ``x [n_heavy, F_atom]``, ``edge_index [2, 2 E]``, ``edge_attr [2 E, F_bond]``,
    ``torsion_index [T, 4]`` (graph indices).
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
    )


@dataclass
class MoleculeGraph:
    """A heavy-atom molecule graph with its torsions (or a batch of them, see :func:`collate`).

    Shapes:
        - x: ``[N, F_atom]`` atom features
        - edge_index: ``[2, E]`` directed edges (both directions of every bond)
        - edge_attr: ``[E, F_bond]`` bond features
        - torsion_index: ``[T, 4]`` graph indices of the torsions' dihedral atoms
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    torsion_index: Tensor

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
    )
