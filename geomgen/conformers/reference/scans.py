"""Torsion energy scans of MMFF94: rigid (on the seed) and relaxed (everything else minimised
with the torsion restrained). The relaxed scan is the known answer for the samplers' tests."""

from __future__ import annotations

import math

import numpy as np

from geomgen.conformers.mmff import MMFF
from geomgen.conformers.torsions import TorsionSet, dihedral_angles, rotatable_torsions, set_torsions


def relaxed_torsion_scan(mol, torsion: int = 0, n_grid: int = 180, torsions: TorsionSet | None = None, max_iters: int = 500):
    """MMFF energies along a torsion with everything else minimised (constrained relaxation).

    Every grid point starts from the seed with the torsion set, then is minimised with the
    torsion held by a stiff restraint.

    Returns:
        ``(grid [n_grid], energies [n_grid])`` radians and kcal/mol.
    """
    ts = torsions if torsions is not None else rotatable_torsions(mol)
    mmff = MMFF(mol)
    seed = mol.GetConformer().GetPositions()
    grid = -math.pi + 2 * math.pi * np.arange(n_grid) / n_grid
    energies = np.empty(n_grid)
    i, j, k, l = ts.atoms[torsion]
    for g, phi in enumerate(grid):
        angles = dihedral_angles(seed, ts.atoms)
        angles[torsion] = phi
        start = set_torsions(seed, ts, angles)
        _, energies[g] = mmff.minimize(start, max_iters=max_iters, torsion_constraints=[(i, j, k, l, phi)])
    return grid, energies


def rigid_torsion_scan(mol, torsion: int = 0, n_grid: int = 360, torsions: TorsionSet | None = None):
    """MMFF energies along a torsion rotated rigidly on the seed geometry (no relaxation)."""
    ts = torsions if torsions is not None else rotatable_torsions(mol)
    mmff = MMFF(mol)
    seed = mol.GetConformer().GetPositions()
    grid = -math.pi + 2 * math.pi * np.arange(n_grid) / n_grid
    angles = np.repeat(dihedral_angles(seed, ts.atoms)[None], n_grid, 0)
    angles[:, torsion] = grid
    return grid, mmff.energies(set_torsions(seed, ts, angles))
