"""Steric clash check of many conformers at once (contact floors between distant atoms)."""

from __future__ import annotations

import numpy as np


class ClashGuard:
    """Reject conformers with atoms 4+ bonds apart closer than a contact floor: 2.2 A for two
    heavy atoms, 1.8 A for a heavy atom and a hydrogen, 1.5 A for two hydrogens (times
    ``scale``). A pair already closer in the seed (an intramolecular hydrogen bond, a fused ring
    system) gets 0.9 x its seed distance instead, so the seed itself always passes."""

    def __init__(self, mol, scale: float = 1.0):
        from rdkit import Chem

        d = Chem.GetDistanceMatrix(mol)
        iu = np.triu_indices(mol.GetNumAtoms(), 1)
        far = d[iu] >= 4
        self.i, self.j = iu[0][far], iu[1][far]
        heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
        hh = heavy[self.i] & heavy[self.j]
        nh = heavy[self.i] ^ heavy[self.j]
        self.limit = scale * np.where(hh, 2.2, np.where(nh, 1.8, 1.5))
        if mol.GetNumConformers():
            seed = mol.GetConformer().GetPositions()
            self.limit = np.minimum(self.limit, 0.9 * np.linalg.norm(seed[self.i] - seed[self.j], axis=-1))

    def ok(self, pos: np.ndarray) -> np.ndarray:
        if len(self.i) == 0:
            return np.ones(len(pos), dtype=bool)
        dist = np.linalg.norm(pos[:, self.i] - pos[:, self.j], axis=-1)
        return (dist >= self.limit).all(-1)
