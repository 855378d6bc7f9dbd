"""Seed geometries assembled from ring-system conformations and standard internal coordinates
instead of a distance-geometry embedding per molecule.

:func:`assemble` places a molecule's ring systems from the coordinates of a
:class:`~geomgen.conformers.ringlib.RingLibrary` (each with its ring atoms and its first shell of
attached heavy atoms, so a ring's puckers, its axial/equatorial substituents, its fusion and its
stereocentres come from the library) and every other atom, hydrogens included, by a breadth-first
walk from the ring systems: bond lengths are MMFF94's reference lengths (RDKit's MMFF94
parameters), bond angles ideal for the atom's hybridisation (MMFF94's reference angle for
two-coordinate atoms), dihedrals staggered with the heaviest substituent anti. Stereo of the input
is kept by construction: at a tetrahedral centre the substituents are swapped when the signed
volume disagrees with the input's tag, at a stereo double bond they are placed cis or trans as the
input says; ring systems met on the walk are turned about their attaching bond to the dihedral
that best avoids what is placed. Partial double bonds (amides, esters, acids) are placed in their
usual state (heavy groups anti, :func:`~geomgen.conformers.discrete_states.partial_double_bonds`),
unless ``flip`` names sites to place in the other state: the choice of discrete states stays
with the caller (the generator's ``state_seeds``). The result is checked against every stereo
element the input specifies (signed volumes, double-bond dihedrals) and for overlapping atoms that
no rotatable torsion moves apart; whatever assembly
cannot do (macrocycles, atoms with more than four neighbours, a fragment RDKit cannot sanitise, a
stereo or overlap failure) raises :class:`AssemblyError`, and the caller falls back to ETKDGv3.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from geomgen.conformers.molecule import MoleculeError

_TETRA = np.deg2rad(109.4712)
#: a pair of atoms three or more bonds apart closer than this (A) makes an assembled seed unusable
MIN_CONTACT = 1.2


class AssemblyError(MoleculeError):
    """Assembly cannot build this molecule's seed (the caller falls back to distance geometry)."""


def _unit(v: np.ndarray) -> np.ndarray:
    n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return v / n if n > 1e-9 else v


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _perpendicular(v: np.ndarray) -> np.ndarray:
    a = np.array([1.0, 0.0, 0.0]) if abs(v[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    return _unit(_cross(v, a))


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, length: float, angle: float, dihedral: float) -> np.ndarray:
    """Position of ``x`` bonded to ``c`` with |cx| = length, angle b-c-x, dihedral a-b-c-x (NeRF)."""
    bc = _unit(c - b)
    n = _unit(_cross(b - a, bc))
    m = _cross(n, bc)
    d = np.array([-length * np.cos(angle), length * np.sin(angle) * np.cos(dihedral), length * np.sin(angle) * np.sin(dihedral)])
    return c + d[0] * bc + d[1] * m + d[2] * n


def _dihedral(p0, p1, p2, p3) -> float:
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = _unit(b1)
    v = b0 - (b0 @ b1) * b1
    w = b2 - (b2 @ b1) * b1
    return math.atan2(float(_cross(b1, v) @ w), float(v @ w))


def _rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotation matrix taking unit vector ``u`` onto unit vector ``v``."""
    c = float(u @ v)
    if c > 1 - 1e-12:
        return np.eye(3)
    if c < -1 + 1e-12:
        axis = _perpendicular(u)
        return 2 * np.outer(axis, axis) - np.eye(3)
    w = _cross(u, v)
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _axis_rotation(axis: np.ndarray, theta: float) -> np.ndarray:
    axis = _unit(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k


class Assembler:
    """Seeds of one molecule from its ring systems' conformations (see the module docstring):
    what depends on the molecule alone is prepared once, :meth:`seed` builds one seed per
    choice of ring conformations.

    Args:
        mol: the parsed molecule (:func:`~geomgen.conformers.molecule.parse_molecule`).
        systems: its ring systems (:func:`~geomgen.conformers.ringlib.ring_systems`).
        flip: indices of partial double-bond sites
            (:func:`~geomgen.conformers.discrete_states.partial_double_bonds`) to place in their
            less usual state.
        moving: ``rotatable_torsions(mol).moving`` when the caller has it (found on first need
            otherwise).

    Raises:
        AssemblyError: a macrocycle, or MMFF94 cannot type the molecule.
    """

    def __init__(self, mol, systems, flip=(), moving=None):
        from rdkit import Chem
        from rdkit.Chem import AllChem

        from geomgen.conformers.discrete_states import partial_double_bonds

        if any(s.macrocycle for s in systems):
            raise AssemblyError("macrocycle")
        self.mol = mol
        self.n = mol.GetNumAtoms()
        atoms = [mol.GetAtomWithIdx(i) for i in range(self.n)]
        self.nbrs = [[n.GetIdx() for n in a.GetNeighbors()] for a in atoms]
        self.z = np.array([a.GetAtomicNum() for a in atoms])
        self.hyb = [a.GetHybridization() for a in atoms]
        self.SP3, self.SP2, self.SP = Chem.HybridizationType.SP3, Chem.HybridizationType.SP2, Chem.HybridizationType.SP
        self.typed = Chem.Mol(mol)  # MMFF typing rewrites aromaticity flags: type a copy
        self.props = AllChem.MMFFGetMoleculeProperties(self.typed)
        if self.props is None:
            raise AssemblyError("MMFF94 cannot type the molecule")
        self.systems = systems
        self.system_of = {i: k for k, s in enumerate(systems) for i in s.ring_atoms}
        tetrahedral = (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
        self.chiral = {a.GetIdx(): a.GetChiralTag() for a in atoms if a.GetChiralTag() in tetrahedral}
        self.ccw = Chem.ChiralType.CHI_TETRAHEDRAL_CCW
        self.double = {}  # (i, j) -> (stereo atom on i, stereo atom on j, cis)
        for b in mol.GetBonds():
            if b.GetBondType() == Chem.BondType.DOUBLE and str(b.GetStereo()) in ("STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS"):
                s = list(b.GetStereoAtoms())
                if len(s) == 2:
                    cis = str(b.GetStereo()) in ("STEREOZ", "STEREOCIS")
                    i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                    self.double[(i, j)] = (s[0], s[1], cis)
                    self.double[(j, i)] = (s[1], s[0], cis)
        # partial double bonds j(=X)-k: (atom placed, its parent) -> (side, X, flipped). The usual
        # state has k's heaviest substituent anti to j's single-bonded substituent (syn to X)
        self.partial = {}
        self._site_of: dict = {}
        flip = set(flip)
        for site_k, site in enumerate(partial_double_bonds(mol)):
            _, j, k, _ = site.atoms
            x = [b.GetOtherAtomIdx(j) for b in mol.GetAtomWithIdx(j).GetBonds()
                 if b.GetBondType() == Chem.BondType.DOUBLE and b.GetOtherAtomIdx(j) != k]
            if x:
                self.partial[(k, j)] = ("k", x[0], site_k in flip)
                self.partial[(j, k)] = ("j", x[0], site_k in flip)
                self._site_of[(k, j)] = self._site_of[(j, k)] = site_k
        self._lengths: dict = {}
        self._far = None
        self._moving = moving

    def set_flip(self, flip=()) -> None:
        """Place the partial double-bond sites ``flip`` in their less usual state from now on
        (the others in their usual one)."""
        flip = set(flip)
        for pair, (side, x, _) in list(self.partial.items()):
            self.partial[pair] = (side, x, self._site_of[pair] in flip)

    # -- geometry tables ------------------------------------------------------------------------
    def length(self, i: int, j: int) -> float:
        key = (i, j) if i < j else (j, i)
        if key not in self._lengths:
            p = self.props.GetMMFFBondStretchParams(self.typed, i, j)
            self._lengths[key] = float(p[2]) if p else 1.5
        return self._lengths[key]

    def angle(self, i: int, j: int, k: int, default: float) -> float:
        p = self.props.GetMMFFAngleBendParams(self.typed, i, j, k)
        return float(np.deg2rad(p[2])) if p else default

    # -- ring systems ---------------------------------------------------------------------------
    def place_system(self, k: int, entry: int | None = None) -> list[int]:
        s, x = self.systems[k], self.coords[k]
        self.done.add(k)
        idx = np.array(s.atoms)
        if entry is None:
            new = [int(i) for i in idx]
            self.pos[idx] = x - x.mean(0)
            self.placed[idx] = True
            return new
        where = {int(a): r for r, a in enumerate(idx)}
        parents = [p for p in self.nbrs[entry] if self.placed[p] and p in where and p not in s.ring_atoms]
        if not parents:
            raise AssemblyError("a ring system reached without a placed neighbour")
        p = parents[0]
        e_lib, p_lib = x[where[entry]], x[where[p]]
        rot = _rotation(_unit(p_lib - e_lib), _unit(self.pos[p] - self.pos[entry]))
        base = (x - e_lib) @ rot.T + self.pos[entry]
        refs = [r for r in self.nbrs[p] if r != entry and self.placed[r]]
        ring_nb = [q for q in self.nbrs[entry] if q in s.ring_atoms]
        axis = self.pos[p] - self.pos[entry]
        todo = [r for r, a in enumerate(idx) if not self.placed[a]]
        others = np.flatnonzero(self.placed)
        bond = self.mol.GetBondBetweenAtoms(p, entry)
        from rdkit import Chem

        is_double = bond.GetBondType() == Chem.BondType.DOUBLE
        cands = [0.0, np.pi] if is_double else [np.pi, np.pi / 3, -np.pi / 3, 2 * np.pi / 3, -2 * np.pi / 3, 0.0]
        part = self.partial.get((entry, p))
        if part is not None and part[0] == "k":
            # a ring nitrogen (or oxygen) of a partial double bond j-k: planar, in the state asked
            # for, as place_neighbours sets an acyclic one (k's first ring neighbour anti to j's
            # single-bonded substituent in the usual state)
            single = [r for r in refs if r != part[1]]
            if single:
                refs, ring_nb = single, self._sorted(ring_nb)
                cands = [0.0] if part[2] else [np.pi]
        best, best_score = None, -np.inf
        for phi in cands:
            if refs and ring_nb:
                cur = _dihedral(self.pos[refs[0]], self.pos[p], self.pos[entry], base[where[ring_nb[0]]])
                theta = phi - cur
            else:
                theta = phi
            r2 = _axis_rotation(axis, -theta)
            y = (base - self.pos[entry]) @ r2.T + self.pos[entry]
            # a dihedral about (p, entry) in the frame p->entry: rotating about entry->p by -theta turns it by theta
            if refs and ring_nb and abs(np.cos(_dihedral(self.pos[refs[0]], self.pos[p], self.pos[entry], y[where[ring_nb[0]]]) - phi) - 1) > 1e-3:
                r2 = _axis_rotation(axis, theta)
                y = (base - self.pos[entry]) @ r2.T + self.pos[entry]
            new_pos = y[todo]
            if is_double and not self._double_ok((p, entry), {int(idx[r]): y[r] for r in range(len(idx))}):
                continue
            score = np.min(np.linalg.norm(new_pos[:, None] - self.pos[others][None], axis=-1)) if len(others) and len(todo) else 0.0
            if score > best_score + 1e-6:
                best, best_score = y, score
        if best is None:
            raise AssemblyError("no placement of a ring system keeps the stereo of its double bond")
        new = [int(idx[r]) for r in todo]
        self.pos[new] = best[todo]
        self.placed[new] = True
        return new

    def _double_ok(self, bond, extra: dict) -> bool:
        """Whether the stereo double bond ``bond`` (if any) has the input's parity given the
        placed positions (and ``extra``: atom -> position)."""
        spec = self.double.get(bond)
        if spec is None:
            return True
        s1, s2, cis = spec
        i, j = bond

        def at(a):
            return extra[a] if a in extra else (self.pos[a] if self.placed[a] else None)

        pts = [at(s1), at(i), at(j), at(s2)]
        if any(p is None for p in pts):
            return True
        return (np.cos(_dihedral(*pts)) > 0) == cis

    # -- acyclic atoms --------------------------------------------------------------------------
    def _sorted(self, atoms: list[int]) -> list[int]:
        return sorted(atoms, key=lambda a: (-int(self.z[a] > 1), -len(self.nbrs[a]), -int(self.z[a]), a))

    def _reference(self, c: int, p: int) -> np.ndarray:
        """A placed point to measure dihedrals about (p, c): a neighbour of ``p`` other than ``c``."""
        part = self.partial.get((c, p))
        cands = [r for r in self.nbrs[p] if r != c and self.placed[r]]
        if part is not None and part[0] == "k":  # measured from the carbonyl carbon's single-bonded substituent
            cands = [r for r in cands if r != part[1]] or cands
        if not cands:
            return None
        return self._sorted(cands)[0]

    def place_neighbours(self, c: int) -> list[int]:
        todo = [u for u in self.nbrs[c] if not self.placed[u]]
        if not todo:
            return []
        done = [u for u in self.nbrs[c] if self.placed[u]]
        degree = len(self.nbrs[c])
        if degree > 4:
            raise AssemblyError(f"atom {c} has {degree} neighbours")
        todo = self._sorted(todo)
        hyb = self.hyb[c]
        pc = self.pos[c]
        lengths = [self.length(c, u) for u in todo]
        dirs: list[np.ndarray] = []
        if hyb == self.SP or (degree == 2 and hyb not in (self.SP2, self.SP3)):
            if done:
                dirs = [-_unit(self.pos[done[0]] - pc)]
            else:
                d = np.array([1.0, 0.0, 0.0])
                dirs = [d, -d][: len(todo)]
        elif not done:  # the root of a molecule without rings
            pts = {4: np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3),
                   3: np.array([[1, 0, 0], [-0.5, np.sqrt(3) / 2, 0], [-0.5, -np.sqrt(3) / 2, 0]]),
                   2: np.array([[1, 0, 0], [np.cos(_TETRA), np.sin(_TETRA), 0]]),
                   1: np.array([[1.0, 0, 0]])}
            dirs = list(pts[degree])
        elif len(done) == 1:
            p = done[0]
            r = self._reference(c, p)
            pp = self.pos[p]
            ref = self.pos[r] if r is not None else pp + _perpendicular(_unit(pc - pp))
            if hyb == self.SP2 or degree == 3 and hyb != self.SP3:
                slots = [np.pi, 0.0]
                ang = [np.deg2rad(120.0)] * 2
                if degree == 2:
                    ang = [self.angle(p, c, todo[0], np.deg2rad(120.0))]
            else:
                slots = [np.pi, np.pi / 3, -np.pi / 3]
                ang = [_TETRA] * 3
                if degree == 2:
                    ang = [self.angle(p, c, todo[0], _TETRA)]
            part = self.partial.get((c, p))
            if part is not None:
                if part[0] == "j" and part[1] in todo and len(todo) == 2:  # X syn to k's heaviest substituent
                    todo = [u for u in todo if u != part[1]] + [part[1]]
                    lengths = [self.length(c, u) for u in todo]
                if part[2]:  # this site in the other state
                    slots = slots[::-1] if len(todo) == 2 else [slots[0] - np.pi]
            spec = self.double.get((c, p))
            if spec is not None and len(todo) == 2:
                s_c, s_p, cis = spec  # stereo atoms on c and on p
                want_cis = cis ^ (r != s_p)  # wanted relation of r and s_c
                if s_c in todo and ((todo.index(s_c) == 1) != want_cis):
                    todo = todo[::-1]
                    lengths = lengths[::-1]
            dirs = [(_place(ref, pp, pc, 1.0, a, phi) - pc) for a, phi in zip(ang, slots)][: len(todo)]
        else:
            us = [_unit(self.pos[d] - pc) for d in done]
            if len(done) == 2 and degree == 4:
                b = -_unit(us[0] + us[1])
                nrm = _unit(_cross(us[0], us[1]))
                half = _TETRA / 2
                dirs = [b * np.cos(half) + nrm * np.sin(half), b * np.cos(half) - nrm * np.sin(half)]
            elif len(done) == 2 and degree == 3:
                if hyb == self.SP3:  # pyramidal
                    b = -_unit(us[0] + us[1])
                    nrm = _unit(_cross(us[0], us[1]))
                    dirs = [_unit(b * 0.6 + nrm * 0.8)]
                else:
                    dirs = [-_unit(us[0] + us[1])]
            elif len(done) == 3 and degree == 4:
                dirs = [-_unit(us[0] + us[1] + us[2])]
            else:
                raise AssemblyError(f"atom {c}: cannot place {len(todo)} of {degree} neighbours")
        if len(dirs) < len(todo):
            raise AssemblyError(f"atom {c}: cannot place {len(todo)} of {degree} neighbours")
        new = {u: pc + lengths[k] * _unit(dirs[k]) for k, u in enumerate(todo)}
        if c in self.chiral and degree in (3, 4) and len(todo) >= 2 and not self._chiral_ok(c, new):
            a, b = todo[-2], todo[-1]  # swap their directions, each keeping its bond length
            la, lb = np.linalg.norm(new[a] - pc), np.linalg.norm(new[b] - pc)
            new[a], new[b] = pc + la * _unit(new[b] - pc), pc + lb * _unit(new[a] - pc)
        for u, x in new.items():
            self.pos[u] = x
            self.placed[u] = True
        return todo

    def _chiral_ok(self, c: int, extra: dict) -> bool:
        nb = self.nbrs[c]
        x = [extra[a] if a in extra else self.pos[a] for a in nb] + ([self.pos[c]] if len(nb) == 3 else [])
        vol = np.linalg.det(np.stack([x[1] - x[0], x[2] - x[0], x[3] - x[0]]))
        return (vol < 0) == (self.chiral[c] == self.ccw)

    def build(self, coords) -> np.ndarray:
        """Positions ``[N, 3]`` with ring system k in conformation ``coords[k]`` (key order)."""
        self.coords = coords
        self.pos = np.zeros((self.n, 3))
        self.placed = np.zeros(self.n, dtype=bool)
        self.done = set()
        queue = deque()
        if self.systems:
            queue.extend(self.place_system(0))
        else:
            start = int(np.argmax([len(x) for x in self.nbrs]))
            self.placed[start] = True
            queue.append(start)
        while queue:
            c = queue.popleft()
            k = self.system_of.get(c)
            if k is not None and k not in self.done:
                queue.extend(self.place_system(k, entry=c))
            queue.extend(self.place_neighbours(c))
        if not self.placed.all():
            raise AssemblyError("some atoms were not reached")
        return self.pos


    def seed(self, coords):
        """A copy of the molecule with one assembled conformer (ring system k in ``coords[k]``),
        checked (:meth:`check`); the property ``assembly_overlap`` marks one whose overlapping
        atoms a rotatable torsion moves apart.

        Raises:
            AssemblyError: see the module docstring.
        """
        from rdkit import Chem

        from geomgen.conformers.mmff import set_positions

        pos = self.build(coords)
        overlap = self.check(pos)
        out = Chem.Mol(self.mol)
        out.RemoveAllConformers()
        conf = Chem.Conformer(self.n)
        set_positions(conf, pos)
        out.AddConformer(conf, assignId=True)
        if overlap:
            out.SetBoolProp("assembly_overlap", True)
        return out

    def check(self, pos: np.ndarray) -> bool:
        """Raise :class:`AssemblyError` when ``pos`` lost a stereo element the input specifies
        (signed volume of each tetrahedral centre against its tag, dihedral of each stereo double
        bond) or has atoms three or more bonds apart closer than :data:`MIN_CONTACT` that no
        rotatable torsion moves apart; return whether it has such atoms that one does."""
        from rdkit import Chem

        self.pos, self.placed = pos, np.ones(self.n, dtype=bool)
        for c in self.chiral:
            if len(self.nbrs[c]) in (3, 4) and not self._chiral_ok(c, {}):
                raise AssemblyError(f"the assembled geometry inverts stereocentre {c}")
        for bond in self.double:
            if not self._double_ok(bond, {}):
                raise AssemblyError(f"the assembled geometry changes the stereo of double bond {bond}")
        if self._far is None:
            d = Chem.GetDistanceMatrix(self.mol)
            i, j = np.triu_indices(self.n, 1)
            far = d[i, j] >= 3
            self._far = (i[far], j[far])
        i, j = self._far
        close = np.linalg.norm(pos[i] - pos[j], axis=-1) < MIN_CONTACT
        if not close.any():
            return False
        if self._moving is None:
            from geomgen.conformers.torsions import rotatable_torsions

            self._moving = rotatable_torsions(self.mol).moving
        # pairs that a rotatable torsion moves apart are resampled anyway; the others stay as placed
        i, j = i[close], j[close]
        rigid = np.ones(len(i), dtype=bool)
        for row in self._moving:
            rigid &= row[i] == row[j]
        if rigid.any():
            raise AssemblyError(f"atoms {int(i[rigid][0])} and {int(j[rigid][0])} overlap")
        return True


def assemble(mol, systems, coords, flip=()):
    """One seed of ``mol`` (with hydrogens): a copy with one assembled conformer
    (``Assembler(mol, systems, flip).seed(coords)``).

    Args:
        mol: the parsed molecule (:func:`~geomgen.conformers.molecule.parse_molecule`).
        systems: its ring systems (:func:`~geomgen.conformers.ringlib.ring_systems`).
        coords: one conformation ``[A, 3]`` per system (library coordinates, key order).
        flip: indices of partial double-bond sites to place in their less usual state.

    Raises:
        AssemblyError: see the module docstring.
    """
    return Assembler(mol, systems, flip).seed(coords)


def ring_combinations(confs: list, n: int, rng: np.random.Generator, max_seeds: int) -> list[tuple[tuple, int]]:
    """``n`` draws of one conformation per ring system, each by its Boltzmann weight, as distinct
    combinations with their counts (most drawn first, at most ``max_seeds``; the draws of the
    combinations left out go to the most drawn one). ``confs``: anything with ``weights`` (the
    generator adds the two states of each partial double bond with their probabilities)."""
    if not confs:
        return [((), n)]
    weights = [np.asarray(c.weights) for c in confs]
    draws = np.stack([rng.choice(len(w), size=n, p=w) if len(w) > 1 else np.zeros(n, dtype=int) for w in weights], 1)
    combos, counts = np.unique(draws, axis=0, return_counts=True)
    order = np.lexsort((np.arange(len(counts)), -counts))
    combos, counts = combos[order], counts[order]
    if len(combos) > max_seeds:
        counts[0] += counts[max_seeds:].sum()
        combos, counts = combos[:max_seeds], counts[:max_seeds]
    return [(tuple(int(v) for v in c), int(k)) for c, k in zip(combos, counts)]
