"""Steric clash check of many conformers at once (contact floors between distant atoms)."""

from __future__ import annotations

import numpy as np

#: Bondi van der Waals radii (A) of the elements geomgen accepts; others get 2.0
VDW_RADII = {"H": 1.20, "C": 1.70, "N": 1.55, "O": 1.52, "F": 1.47, "Si": 2.10, "P": 1.80, "S": 1.80, "Cl": 1.75,
             "Br": 1.85, "I": 1.98}
#: contact floor of two heavy atoms: at least this many A ...
HEAVY_FLOOR = 2.5
#: ... and at least this fraction of the sum of their van der Waals radii
HEAVY_VDW_FRACTION = 0.75
#: contact floors of a heavy atom and a hydrogen, and of two hydrogens (A)
HEAVY_H_FLOOR = 1.8
H_H_FLOOR = 1.5
#: contact floor of a polar hydrogen (on N or O) and an N or O: a hydrogen bond's H...O/N
#: distance is 1.6-2.0 A (MMFF94's intramolecular ones 1.6-1.8 A), below :data:`HEAVY_H_FLOOR`
HBOND_H_FLOOR = 1.5
_POLAR = ("N", "O")
#: bytes of the temporary distance arrays of one :meth:`ClashGuard.ok` chunk
_CHUNK_BYTES = 32 * 2**20


def contact_floors(mol, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The contact floor (A) of each atom pair ``(i, j)`` of ``mol``: for two heavy atoms
    ``max(HEAVY_FLOOR, HEAVY_VDW_FRACTION * (r_i + r_j))`` (Bondi radii: 2.55 A for C...C, 2.5 A
    for N...O and O...O), :data:`HEAVY_H_FLOOR` for a heavy atom and a hydrogen, except
    :data:`HBOND_H_FLOOR` for a hydrogen on N or O and an N or O (a hydrogen bond: an acid's O-H
    on a neighbouring carbonyl or amine), :data:`H_H_FLOOR` for two hydrogens."""
    symbols = np.array([a.GetSymbol() for a in mol.GetAtoms()])
    r = np.array([VDW_RADII.get(s, 2.0) for s in symbols])
    heavy = symbols != "H"
    polar_h = np.array([a.GetAtomicNum() == 1 and any(b.GetSymbol() in _POLAR for b in a.GetNeighbors()) for a in mol.GetAtoms()],
                       dtype=bool)
    acceptor = np.isin(symbols, _POLAR)
    hh = heavy[i] & heavy[j]
    nh = heavy[i] ^ heavy[j]
    hbond = (polar_h[i] & acceptor[j]) | (polar_h[j] & acceptor[i])
    heavy_floor = np.maximum(HEAVY_FLOOR, HEAVY_VDW_FRACTION * (r[i] + r[j]))
    return np.where(hh, heavy_floor, np.where(nh, np.where(hbond, HBOND_H_FLOOR, HEAVY_H_FLOOR), H_H_FLOOR))


class ClashGuard:
    """Reject conformers in which two atoms 4 or more bonds apart (1-5 pairs and beyond) are
    closer than their contact floor (:func:`contact_floors`, times ``scale``):

    - two heavy atoms: ``max(2.5 A, 0.75 x the sum of their van der Waals radii)`` (C...C 2.55 A,
      C...O 2.42 -> 2.5 A, S...S 2.7 A); a hydrogen-bonded O...O or N...O pair (2.6-3.0 A) passes,
      a contact of 2.3 A between residues of a peptide does not;
    - a heavy atom and a hydrogen: 1.8 A, but 1.5 A for a hydrogen on N or O and an N or O (a
      hydrogen bond, such as an acid's O-H on a neighbouring carbonyl, at 1.6-1.8 A in MMFF94);
      two hydrogens: 1.5 A.

    The one exception: a pair that no rotatable torsion
    (:func:`~geomgen.conformers.torsions.rotatable_torsions`) moves relative to each other (a
    fused or bridged ring system, peri substituents, a macrocycle's ring: its distance is that of
    the seed geometry in every sample) gets ``min(floor, 0.9 x its distance in the seed)``, so a
    molecule's rigid parts never fail the check. Pairs are checked in chunks, so memory stays
    bounded for large molecules and many conformers.

    Args:
        mol: molecule with hydrogens; its first conformer, if any, is the seed geometry.
        scale (float): multiplies every floor (default 1).
        moving: the moving-atom masks ``[T, N]`` of ``mol``'s rotatable torsions when the caller
            has them (``rotatable_torsions(mol).moving``); found here otherwise.
        like (ClashGuard): a guard built with the same ``scale`` on a molecule with the same
            graph (atoms, bonds and stereo tags, e.g. another seed of the same molecule): its
            pairs, floors and rigid pairs are reused, and only the seed distances of the rigid
            pairs are read from ``mol`` (the result is the same as without it).

    Shapes:
        - pos of :meth:`ok`: ``[C, N, 3]``; returns ``[C]`` bool.
    """

    def __init__(self, mol, scale: float = 1.0, moving: np.ndarray | None = None, like: ClashGuard | None = None):
        if like is not None:
            if like.scale != scale or like.n_atoms != mol.GetNumAtoms():
                raise ValueError("ClashGuard: like was built with another scale or on another molecule")
            self.i, self.j, self.rigid, self.floor = like.i, like.j, like.rigid, like.floor
        else:
            from rdkit import Chem

            from geomgen.conformers.torsions import rotatable_torsions

            d = Chem.GetDistanceMatrix(mol)
            iu = np.triu_indices(mol.GetNumAtoms(), 1)
            far = d[iu] >= 4
            self.i, self.j = iu[0][far], iu[1][far]
            self.floor = scale * contact_floors(mol, self.i, self.j)
            if moving is None:
                moving = rotatable_torsions(mol).moving
            self.rigid = np.ones(len(self.i), dtype=bool)
            for row in moving:  # a torsion moves a pair when it moves exactly one of the two atoms
                self.rigid &= row[self.i] == row[self.j]
        self.scale, self.n_atoms = scale, mol.GetNumAtoms()
        self.limit = self.floor.copy()
        if mol.GetNumConformers() and self.rigid.any():
            seed = mol.GetConformer().GetPositions()
            r = self.rigid
            self.limit[r] = np.minimum(self.limit[r], 0.9 * np.linalg.norm(seed[self.i[r]] - seed[self.j[r]], axis=-1))

    def moved_pairs(self, moving: np.ndarray) -> np.ndarray:
        """Indices of the checked pairs whose distance changes when the atoms ``moving`` ``[N]``
        (bool) turn rigidly about a bond: those with exactly one atom among them."""
        return np.flatnonzero(moving[self.i] != moving[self.j])

    def ok(self, pos: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
        """Whether each conformer ``pos`` ``[C, N, 3]`` passes (only the pairs ``pairs``, indices
        into the checked pairs, when given)."""
        pos = np.asarray(pos)
        i, j, limit = (self.i, self.j, self.limit) if pairs is None else (self.i[pairs], self.j[pairs], self.limit[pairs])
        out = np.ones(len(pos), dtype=bool)
        if len(i) == 0 or len(pos) == 0:
            return out
        step = max(1, _CHUNK_BYTES // (len(i) * 3 * 8))
        for c in range(0, len(pos), step):
            dist = np.linalg.norm(pos[c : c + step, i] - pos[c : c + step, j], axis=-1)
            out[c : c + step] = (dist >= limit).all(-1)
        return out
