"""MMFF94 energies, gradients and (constrained) minimisation with a reused RDKit force field."""

from __future__ import annotations

import numpy as np

from geomgen.conformers.molecule import MoleculeError


def set_positions(conf, pos: np.ndarray) -> None:
    """Write ``pos`` [N, 3] into an RDKit conformer (one call where RDKit has ``SetPositions``)."""
    if hasattr(conf, "SetPositions"):
        conf.SetPositions(np.ascontiguousarray(pos, dtype=np.float64))
    else:  # RDKit < 2024.03
        for a, x in enumerate(pos):
            conf.SetAtomPosition(a, (float(x[0]), float(x[1]), float(x[2])))


def with_conformers(mol, positions):
    """A copy of ``mol`` whose conformers are ``positions`` ``[C, N, 3]``, in order (ids 0..C-1)."""
    from rdkit import Chem

    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for p in np.asarray(positions, dtype=np.float64):
        conf = Chem.Conformer(len(p))
        set_positions(conf, p)
        out.AddConformer(conf, assignId=True)
    return out


class MMFF:
    """MMFF94 force field of one molecule (gas phase, dielectric 1, no cutoff), in kcal/mol.

    The RDKit force field is built once and reused, so an energy costs about 10-30 us and a
    gradient 20-70 us for drug-sized molecules. It is built on a copy of ``mol``: RDKit's MMFF
    typing rewrites a molecule's aromaticity flags (MMFF's own aromaticity model: a 2-pyridone
    ring is not aromatic), which would change the caller's molecule. A geometry reaches the force
    field through that copy's conformer, into which RDKit's force field points
    (``Conformer.SetPositions`` from the array, ``Initialize()``, which empties the force field's
    distance cache, then ``CalcEnergy()``; without the ``Initialize`` the energy reads the cached
    distances of an earlier geometry): the same energies and gradients, bit for bit, as passing
    the coordinates as a Python list, which costs more per energy (the list and its conversion).

    Args:
        mol: RDKit molecule with explicit hydrogens and at least one conformer.
    """

    def __init__(self, mol):
        from rdkit import Chem
        from rdkit.Chem import AllChem

        if mol.GetNumConformers() == 0:
            raise MoleculeError("MMFF needs a molecule with a conformer")
        mol = Chem.Mol(mol)
        self.mol = mol
        self.props = AllChem.MMFFGetMoleculeProperties(mol)
        if self.props is None:
            raise MoleculeError("MMFF94 has no parameters for this molecule")
        self._conf = mol.GetConformer()
        self.ff = AllChem.MMFFGetMoleculeForceField(mol, self.props, confId=self._conf.GetId(), ignoreInterfragInteractions=False)
        self.n_atoms = mol.GetNumAtoms()
        self._last = None  # the positions of the last CalcEnergy (RDKit's distance cache holds them)

    def _load(self, pos: np.ndarray) -> np.ndarray:
        """Put ``pos`` into the conformer the force field reads, and return it as the array stored."""
        p = np.array(pos, dtype=np.float64, order="C").reshape(self.n_atoms, 3)  # a copy: the caller may change pos
        self._conf.SetPositions(p)
        self.ff.Initialize()
        return p

    def energy(self, pos: np.ndarray) -> float:
        """Energy of one geometry ``[N, 3]``."""
        self._last = self._load(pos)
        return self.ff.CalcEnergy()

    def grad(self, pos: np.ndarray) -> np.ndarray:
        """Gradient ``[N, 3]`` of the energy (kcal/mol/A).

        RDKit's ``ForceField.CalcGrad(pos)`` takes the interatomic distances of its non-bonded
        terms from a cache that only ``CalcEnergy`` refills: called after an energy of another
        geometry it returns the gradient of a mixture of the two (off by thousands of kcal/mol/A
        after a clashing proposal). The energy of ``pos`` is therefore evaluated first unless it
        was the last one evaluated.
        """
        if self._last is None or not np.array_equal(self._last, pos):
            self._last = self._load(pos)
            self.ff.CalcEnergy()
        return np.asarray(self.ff.CalcGrad()).reshape(-1, 3)

    def energies(self, pos: np.ndarray) -> np.ndarray:
        """Energies of many geometries ``[C, N, 3]`` -> ``[C]``."""
        return np.array([self.energy(p) for p in np.asarray(pos, dtype=np.float64)])

    @staticmethod
    def optimize_conformers(mol, max_iters: int = 2000, threads: int = 1) -> list[tuple[int, float]]:
        """MMFF94-minimise every conformer of ``mol`` in place (coordinates only).

        Unlike RDKit's ``MMFFOptimizeMoleculeConfs`` on ``mol`` itself, the molecule's
        aromaticity flags are left as they are (the typing runs on a copy). ``threads``: RDKit
        threads (one conformer each).

        Returns:
            RDKit's ``[(not_converged, energy), ...]`` per conformer (``not_converged`` is -1
            when MMFF94 has no parameters for the molecule).
        """
        from rdkit import Chem
        from rdkit.Chem import AllChem

        work = Chem.Mol(mol)
        res = AllChem.MMFFOptimizeMoleculeConfs(work, numThreads=int(threads), maxIters=int(max_iters))
        for conf, done in zip(mol.GetConformers(), work.GetConformers()):
            set_positions(conf, done.GetPositions())
        return list(res)

    @staticmethod
    def optimize_conformers_holding_torsions(mol, torsion_atoms, max_iters: int = 200,
                                             force_constant: float = 100.0) -> np.ndarray:
        """Relax every conformer of ``mol`` in place by at most ``max_iters`` MMFF94 (BFGS)
        iterations with the torsions ``torsion_atoms`` ``[T, 4]`` held at each conformer's own
        values (a stiff harmonic restraint, ``force_constant`` kcal/mol/deg^2 as in
        :meth:`minimize`): bond lengths, bond angles and ring puckers relax, the torsions stay
        within a few thousandths of a degree. The typing runs on a copy, as in
        :meth:`optimize_conformers`.

        Returns:
            the unrestrained MMFF94 energy of each relaxed conformer ``[C]`` (kcal/mol).

        Raises:
            MoleculeError: MMFF94 has no parameters for the molecule.
        """
        from rdkit import Chem

        from geomgen.conformers.torsions import dihedral_angles

        atoms = np.asarray(torsion_atoms, dtype=int).reshape(-1, 4)
        energies = np.empty(mol.GetNumConformers())
        if not len(energies):
            return energies
        field = MMFF(Chem.Mol(mol, False, mol.GetConformer().GetId()))  # typed once, on a one-conformer copy
        for c, conf in enumerate(mol.GetConformers()):
            pos = conf.GetPositions()
            held = [(*q, t) for q, t in zip(atoms, dihedral_angles(pos, atoms))] if len(atoms) else []
            ff, _work = field._restrained(pos, held, force_constant)
            ff.Minimize(maxIts=int(max_iters))
            out = np.asarray(ff.Positions()).reshape(-1, 3)
            set_positions(conf, out)
            energies[c] = field.energy(out)
        return energies

    def minimize_restrained(self, pos: np.ndarray, angles: np.ndarray, torsion_atoms: np.ndarray, max_iters: int = 200):
        """Minimise each of several conformers with its torsions restrained to given values.

        The minimum over the other coordinates approximates the torsions' free energy (up to the
        vibrational entropy): what Boltzmann weights of a torsion proposal need, where the energy
        of a rigidly set geometry carries the strain of the seed's bond angles.

        Args:
            pos: ``[M, N, 3]`` start geometries.
            angles: ``[M, T]`` the torsion values to hold (radians).
            torsion_atoms: ``[T, 4]`` the torsions' atom quadruples.
            max_iters (int): BFGS iterations per round (RDKit continues in rounds until converged).

        Returns:
            ``(positions [M, N, 3], energies [M])``, energies unrestrained (kcal/mol).
        """
        pos, angles = np.asarray(pos, dtype=np.float64), np.asarray(angles, dtype=np.float64)
        if pos.ndim != 3 or angles.shape != (len(pos), len(torsion_atoms)):
            raise ValueError(f"minimize_restrained: expected [M, N, 3] positions and [M, {len(torsion_atoms)}] angles, "
                             f"got {pos.shape} and {angles.shape}")
        out = np.empty_like(pos)
        energies = np.empty(len(pos))
        for c, (p, a) in enumerate(zip(pos, angles)):
            out[c], energies[c] = self.minimize(p, max_iters=max_iters, torsion_constraints=[(*q, t) for q, t in zip(torsion_atoms, a)])
        return out, energies

    def _restrained(self, pos: np.ndarray, torsion_constraints, force_constant: float):
        """A fresh RDKit force field of this molecule at ``pos`` with the torsions of
        ``torsion_constraints`` (``(i, j, k, l, angle_rad)``) held by harmonic restraints,
        initialised, and the molecule copy it works on: RDKit's force field points into that
        copy's coordinates, so the caller keeps both alive together."""
        from rdkit import Chem
        from rdkit.Chem import AllChem

        m = Chem.Mol(self.mol)
        set_positions(m.GetConformer(), np.asarray(pos, dtype=np.float64))
        ff = AllChem.MMFFGetMoleculeForceField(m, self.props, ignoreInterfragInteractions=False)
        for i, j, k, l, ang in torsion_constraints:
            deg = float(np.degrees(ang))
            ff.MMFFAddTorsionConstraint(int(i), int(j), int(k), int(l), False, deg, deg, force_constant)
        ff.Initialize()
        return ff, m

    def minimize(self, pos: np.ndarray, max_iters: int = 500, torsion_constraints=(), force_constant: float = 100.0):
        """Minimise from ``pos``; optionally hold torsions fixed.

        Args:
            pos: ``[N, 3]`` start geometry.
            max_iters (int): iterations of RDKit's BFGS (default 500).
            torsion_constraints: iterable of ``(i, j, k, l, angle_rad)`` held with a stiff
                harmonic restraint (``force_constant`` kcal/mol/deg^2, default 100: the torsions
                stay within 0.001 degree, while 1e4 makes the problem so stiff that RDKit's BFGS
                stops early, 2-3 kcal/mol above the restrained minimum).

        Returns:
            ``(pos [N, 3], energy)`` where the energy is the unrestrained MMFF energy.
        """
        ff, _work = self._restrained(pos, torsion_constraints, force_constant)
        for _ in range(20):  # RDKit returns 1 while not converged; continue up to 20 rounds
            if ff.Minimize(maxIts=max_iters) == 0:
                break
        out = np.asarray(ff.Positions()).reshape(-1, 3)
        return out, self.energy(out)
