"""Molecule graphs for VonMisesNet: featurisation and a PyG dataset of reference torsions (the
LightningDataModule is :mod:`geomgen.datasets.molecule_datamodule`, so inference does not import
Lightning).

Graphs are over heavy atoms (hydrogens enter as counts), since every rotatable torsion
(:mod:`geomgen.chem.torsions`) is defined by four heavy atoms.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

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


class TorsionData(Data):
    """A molecule graph with its torsions; ``torsion_index`` [T, 4] is shifted when batched."""

    def __inc__(self, key, value, *args, **kwargs):
        if key == "torsion_index":
            return self.num_nodes
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key, value, *args, **kwargs):
        if key == "torsion_index":
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)


def heavy_atom_map(mol) -> np.ndarray:
    """``map[a]`` = heavy-atom graph index of atom a (-1 for hydrogens)."""
    m = np.full(mol.GetNumAtoms(), -1, dtype=np.int64)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    m[heavy] = np.arange(len(heavy))
    return m


def featurize(mol, torsion_atoms: np.ndarray) -> TorsionData:
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
    return TorsionData(
        x=x,
        edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
        edge_attr=torch.tensor(attr, dtype=torch.float32).reshape(-1, N_BOND_FEATURES),
        torsion_index=torch.from_numpy(tor),
        num_nodes=len(heavy),
    )


def default_cache_root() -> Path:
    return Path(os.environ.get("GEOMGEN_CACHE", Path.home() / ".cache" / "geomgen"))


torch.serialization.add_safe_globals([TorsionData])


class ReferenceTorsionDataset(InMemoryDataset):
    """Molecule graphs with their reference torsion samples, from a reference set.

    ``torsion_angles`` [T, S] holds S reference samples of each torsion (radians). Processed
    once and cached (PyG ``InMemoryDataset``) under ``root`` (default
    ``~/.cache/geomgen/molecules``, or ``$GEOMGEN_CACHE``); the cache key includes the source
    file's size and modification time and the featurisation version.

    Args:
        split (str): ``train``, ``val``, ``test``, ``drugs`` or a path to a reference ``.npz``.
        root (str, optional): cache folder.
        transform, pre_transform: PyG transforms.
    """

    VERSION = 1

    def __init__(self, split: str, root: str | None = None, transform=None, pre_transform=None):
        from geomgen.assets import asset_path

        p = Path(split)
        self.source = p if p.suffix == ".npz" else asset_path(f"data/conformers/reference_{split}.npz")
        st = self.source.stat()
        key = hashlib.sha1(f"{self.source.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
        self.tag = f"{self.source.stem}_v{self.VERSION}_{key}"
        super().__init__(str(Path(root) if root else default_cache_root() / "molecules"), transform, pre_transform)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self):
        return []

    @property
    def processed_file_names(self):
        return [f"{self.tag}.pt"]

    def download(self):
        """Nothing to download: the source is a shipped (or given) reference ``.npz``; PyG
        calls this hook only when ``raw_file_names`` is non-empty, which it is not."""

    def process(self):
        from geomgen.datasets.conformers import load_reference_set

        items = []
        for ref in load_reference_set(str(self.source)):
            if len(ref.torsion_atoms) == 0:
                continue
            d = featurize(ref.mol, ref.torsion_atoms)
            d.torsion_angles = torch.from_numpy(np.ascontiguousarray(ref.angles.T)).float()
            d.mol_id = ref.id
            if self.pre_transform is not None:
                d = self.pre_transform(d)
            items.append(d)
        self.save(items, self.processed_paths[0])


class SubsampleTorsions:
    """Transform: keep ``n`` random reference samples per torsion (fresh each access)."""

    def __init__(self, n: int = 64):
        self.n = n

    def __call__(self, data):
        s = data.torsion_angles.shape[1]
        if s > self.n:
            idx = torch.randint(0, s, (self.n,))
            data = data.clone()
            data.torsion_angles = data.torsion_angles[:, idx]
        return data
