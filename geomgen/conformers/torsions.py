"""Rotatable torsions: the one definition used by the sampler, the model and the metrics.

Definition
----------
A bond j-k is a *rotatable torsion* when all of the following hold:

1. it is a single bond (RDKit bond type SINGLE) and not in a ring;
2. both j and k have at least one heavy-atom neighbour besides each other (rotating a
   methyl, hydroxyl or amine hydrogen set does not count);
3. neither j nor k is linear (sp-hybridised, e.g. next to a triple bond or in an allene), where
   the dihedral is undefined;
4. it is not a partial double bond: amide-like C-N bonds (N-C(=O|S|N), covering amides,
   thioamides, ureas, carbamates, amidines) and ester-like C-O bonds (O-C(=O)) have barriers of
   15-20 and 10-13 kcal/mol and are kept planar at the seed's configuration (cis/trans is
   then a property of the seed, see :func:`geomgen.conformers.molecule.embed_seed`);
5. neither side is a symmetric terminal top: three equivalent terminal heavy atoms on an sp3
   centre (CF3, CCl3, t-butyl) or two on an sp2 centre (carboxylate); rotating such a side by
   its symmetry angle gives the same molecule, so the torsion carries no information.

The four atoms (i, j, k, l): j < k by canonical rank is not required; (j, k) is the bond in
RDKit's order and i (resp. l) is the heavy neighbour of j (resp. k) with the highest canonical
rank, so the definition does not depend on the input atom order. The *moving side* is the
fragment on k's side of the bond when it has no more atoms than j's side, else j's side;
setting a torsion rotates only the moving side about the j-k axis, which keeps every bond
length, bond angle, ring and stereo element intact (a proper rigid rotation of a fragment).
Angles are in radians in [-pi, pi), IUPAC sign convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_PARTIAL_DOUBLE_SMARTS = (
    "[NX3]-[CX3]=[O,S,NX2]",  # amide / thioamide / urea / carbamate / amidine C-N
    "[OX2]-[CX3]=[O,S]",  # ester / carbonate / thioester C-O
)


@dataclass
class TorsionSet:
    """The rotatable torsions of a molecule (with hydrogens).

    Attributes:
        atoms: ``[T, 4]`` int array of dihedral atoms (i, j, k, l).
        moving: ``[T, N]`` bool array, the atoms that move when torsion t is set.
        bonds: ``[T]`` RDKit bond indices of the central bonds.
    """

    atoms: np.ndarray
    moving: np.ndarray
    bonds: np.ndarray

    def __len__(self) -> int:
        return len(self.atoms)


def _partial_double_bonds(mol) -> set[frozenset]:
    from rdkit import Chem

    out = set()
    for smarts in _PARTIAL_DOUBLE_SMARTS:
        patt = Chem.MolFromSmarts(smarts)
        for match in mol.GetSubstructMatches(patt):
            out.add(frozenset((match[0], match[1])))
    return out


def _side(mol, start: int, blocked: int) -> list[int]:
    """Atoms reachable from ``start`` without crossing the bond to ``blocked``."""
    seen = {start}
    stack = [start]
    while stack:
        a = stack.pop()
        for nb in mol.GetAtomWithIdx(a).GetNeighbors():
            n = nb.GetIdx()
            if n == blocked and a == start:
                continue
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return sorted(seen)


def _is_symmetric_top(mol, center: int, partner: int, ranks) -> bool:
    """A side that maps onto itself under rotation: 3 equivalent terminal heavy atoms on an sp3
    centre (CF3, t-Bu) or 2 on an sp2 centre (nitro, carboxylate), and no hydrogens."""
    from rdkit import Chem

    atom = mol.GetAtomWithIdx(center)
    others = [a for a in atom.GetNeighbors() if a.GetIdx() != partner]
    need = 2 if atom.GetHybridization() == Chem.HybridizationType.SP2 else 3
    if len(others) != need or any(a.GetAtomicNum() == 1 for a in others):
        return False
    if any(sum(1 for n in a.GetNeighbors() if n.GetAtomicNum() > 1) > 1 for a in others):
        return False  # some neighbour is not terminal in the heavy-atom graph
    return len({ranks[a.GetIdx()] for a in others}) == 1


def _rotor_bonds(mol, heavy_only: bool):
    """Yield ``(i, j, k, l)`` for non-ring single bonds j-k that are not linear, not amide/ester
    partial double bonds, and have a neighbour on each side (heavy atoms only when
    ``heavy_only``); i and l are the highest-ranked such neighbours (canonical ranks)."""
    from rdkit import Chem

    partial = _partial_double_bonds(mol)
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=True))
    for bond in mol.GetBonds():
        if bond.GetBondType() != Chem.BondType.SINGLE or bond.IsInRing():
            continue
        j, k = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        aj, ak = mol.GetAtomWithIdx(j), mol.GetAtomWithIdx(k)
        nj = [a for a in aj.GetNeighbors() if a.GetIdx() != k and (a.GetAtomicNum() > 1 or not heavy_only)]
        nk = [a for a in ak.GetNeighbors() if a.GetIdx() != j and (a.GetAtomicNum() > 1 or not heavy_only)]
        if not nj or not nk:
            continue
        if Chem.HybridizationType.SP in (aj.GetHybridization(), ak.GetHybridization()):
            continue
        if frozenset((j, k)) in partial:
            continue
        i = max(nj, key=lambda a: ranks[a.GetIdx()]).GetIdx()
        l = max(nk, key=lambda a: ranks[a.GetIdx()]).GetIdx()
        yield i, j, k, l


def rotatable_torsions(mol) -> TorsionSet:
    """Find the rotatable torsions of ``mol`` (which should carry explicit hydrogens).

    See the module docstring for the definition.

    Args:
        mol: RDKit molecule.

    Returns:
        :class:`TorsionSet`.
    """
    from rdkit import Chem

    ranks_sym = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    atoms = []
    for (i, j, k, l) in _rotor_bonds(mol, heavy_only=True):
        if not (_is_symmetric_top(mol, j, k, ranks_sym) or _is_symmetric_top(mol, k, j, ranks_sym)):
            atoms.append((i, j, k, l))
    return torsion_set_from_atoms(mol, atoms)


def torsion_set_from_atoms(mol, atoms) -> TorsionSet:
    """A :class:`TorsionSet` for given dihedral quadruples (e.g. stored with a data set), with
    the moving side chosen as in :func:`rotatable_torsions`."""
    atoms = np.asarray(atoms, dtype=np.int64).reshape(-1, 4)
    n = mol.GetNumAtoms()
    moving, bonds = [], []
    for _i, j, k, _l in atoms:
        bond = mol.GetBondBetweenAtoms(int(j), int(k))
        if bond is None:
            raise ValueError(f"atoms {j} and {k} are not bonded")
        side_k, side_j = _side(mol, int(k), int(j)), _side(mol, int(j), int(k))
        if int(j) in side_k:
            raise ValueError(f"bond {j}-{k} is in a ring")
        mask = np.zeros(n, dtype=bool)
        mask[side_k if len(side_k) <= len(side_j) else side_j] = True
        mask[[j, k]] = False  # axis atoms never move
        moving.append(mask)
        bonds.append(bond.GetIdx())
    return TorsionSet(atoms=atoms, moving=np.asarray(moving, dtype=bool).reshape(-1, n), bonds=np.asarray(bonds, dtype=np.int64))


def movable_bonds(mol) -> TorsionSet:
    """Every bond a torsion Monte Carlo move may rotate: a superset of the rotatable torsions.

    Non-ring single bonds whose two atoms both have another neighbour (hydrogens count), are
    not linear and are not amide/ester partial double bonds. Besides the rotatable torsions
    this includes hydrogen rotors (methyl, hydroxyl, amine) and symmetric tops, so the sampler
    visits their rotamers at their Boltzmann weights. Amide and ester bonds keep the seed's
    configuration (barriers of 10-20 kcal/mol: cis/trans isomers interconvert in seconds and
    are not sampled). The dihedral atoms of hydrogen rotors use the highest-ranked neighbour of
    any element.
    """
    atoms = list(_rotor_bonds(mol, heavy_only=False))
    return torsion_set_from_atoms(mol, atoms)


def dihedral_angles(pos: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """Dihedral angles of the quadruples ``atoms`` in radians, in [-pi, pi).

    Shapes:
        - pos: ``[..., N, 3]`` (any leading batch dimensions, e.g. conformers)
        - atoms: ``[T, 4]``
        - returns ``[..., T]``
    """
    pos = np.asarray(pos, dtype=np.float64)
    p0, p1, p2, p3 = (pos[..., atoms[:, m], :] for m in range(4))
    b0 = p0 - p1
    b1 = p2 - p1
    b2 = p3 - p2
    b1n = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    v = b0 - (b0 * b1n).sum(-1, keepdims=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdims=True) * b1n
    x = (v * w).sum(-1)
    # (b1n x v) . w, written out: the products and differences np.cross takes, without its
    # per-call overhead (the reference sampler calls this once per move on one geometry)
    a0, a1, a2 = b1n[..., 0], b1n[..., 1], b1n[..., 2]
    c0, c1, c2 = v[..., 0], v[..., 1], v[..., 2]
    y = (a1 * c2 - a2 * c1) * w[..., 0] + (a2 * c0 - a0 * c2) * w[..., 1] + (a0 * c1 - a1 * c0) * w[..., 2]
    ang = np.arctan2(y, x)
    return np.where(ang >= np.pi, ang - 2 * np.pi, ang)


def _rotate(pos: np.ndarray, mask: np.ndarray, origin: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> None:
    """In place: rotate pos[..., mask, :] by ``angle`` [...] about ``axis`` [..., 3] through ``origin``."""
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    sub = pos[..., mask, :] - origin[..., None, :]
    c, s = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    k = axis[..., None, :]
    rotated = sub * c + np.cross(np.broadcast_to(k, sub.shape), sub) * s + k * (sub * k).sum(-1, keepdims=True) * (1 - c)
    pos[..., mask, :] = rotated + origin[..., None, :]


def rotation_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about the unit vector ``axis`` by ``angle`` (Rodrigues), built from
    Python floats: the reference sampler calls it once per torsion move, where numpy's per-call
    overhead on 3 x 3 arrays cost more than the force field."""
    ax, ay, az = axis.tolist()
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array([[t * ax * ax + c, t * ax * ay - s * az, t * ax * az + s * ay],
                     [t * ax * ay + s * az, t * ay * ay + c, t * ay * az - s * ax],
                     [t * ax * az - s * ay, t * ay * az + s * ax, t * az * az + c]])


def side_away(mol, j: int, k: int, anchor: int) -> tuple[np.ndarray, bool]:
    """The atoms a rotation about the bridge j - k turns when ``anchor`` stays put: the side of the
    bond without ``anchor`` (j and k excluded), and whether that is k's side. Sides taken away
    from one anchor are nested or disjoint, so rotations about different bridges commute."""
    side_k = _side(mol, k, j)
    k_moves = anchor not in side_k
    return np.setdiff1d(side_k if k_moves else _side(mol, j, k), [j, k]), k_moves


def rotate_side(pos: np.ndarray, j: int, k: int, idx: np.ndarray, delta: float) -> np.ndarray:
    """A copy of ``pos [N, 3]`` with the atoms ``idx`` rotated by ``delta`` about the axis j -> k."""
    origin = pos[j]
    axis = pos[k] - origin
    rot = rotation_matrix(axis / math.sqrt(axis @ axis), delta)
    new = pos.copy()
    new[idx] = (pos[idx] - origin) @ rot.T + origin
    return new


def rotate_torsion(pos: np.ndarray, torsions: TorsionSet, t: int, delta) -> np.ndarray:
    """Return a copy of ``pos`` with torsion ``t`` changed by ``delta`` radians.

    Shapes: pos ``[..., N, 3]``, delta scalar or ``[...]``.
    """
    out = np.array(pos, dtype=np.float64, copy=True)
    i, j, k, l = torsions.atoms[t]
    mask = torsions.moving[t]
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), out.shape[:-2])
    # Rotating the k-side by +delta about the j->k axis increases the dihedral by delta; the
    # j-side needs the opposite sign for the same change.
    sign = 1.0 if mask[l] else -1.0
    _rotate(out, mask, out[..., j, :], out[..., k, :] - out[..., j, :], sign * delta)
    return out


def set_torsions(pos: np.ndarray, torsions: TorsionSet, angles: np.ndarray) -> np.ndarray:
    """Set every torsion to the given angles, vectorised over conformers.

    Each torsion rotates its moving side rigidly about its bond, so bond lengths, bond angles,
    rings and stereo elements are unchanged, and a torsion set earlier is not disturbed by a
    later one (the axis atoms of a bond never move).

    Shapes:
        - pos: ``[N, 3]`` (one seed, broadcast) or ``[C, N, 3]``
        - angles: ``[C, T]`` (or ``[T]``)
        - returns ``[C, N, 3]`` (or ``[N, 3]`` for 1-D angles and 2-D pos)
    """
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[-1] != len(torsions):
        raise ValueError(f"set_torsions: angles have {angles.shape[-1]} torsions, molecule has {len(torsions)}")
    pos = np.asarray(pos, dtype=np.float64)
    out = np.array(np.broadcast_to(pos, angles.shape[:-1] + pos.shape[-2:]), copy=True)
    for t in range(len(torsions)):
        current = dihedral_angles(out, torsions.atoms[t : t + 1])[..., 0]
        out = rotate_torsion(out, torsions, t, angles[..., t] - current)
    return out


#: coarse torsion classes of :func:`torsion_class`, in the order they are tested
TORSION_CLASSES = ("aryl-aryl", "aryl-carbonyl", "aryl-N", "aryl-O", "aryl-S", "sp3-aryl", "aryl-other",
                   "amide-adjacent", "sp3-sp3", "other")


def _end_label(mol, a) -> str:
    if a.GetIsAromatic():
        return "ar"
    for n in a.GetNeighbors():
        b = mol.GetBondBetweenAtoms(a.GetIdx(), n.GetIdx())
        if n.GetAtomicNum() in (7, 8, 16) and b.GetBondTypeAsDouble() == 2:
            return f"{a.GetSymbol()}(=X)"
    return f"{a.GetSymbol()}{str(a.GetHybridization()).lower()}"


def torsion_bond_label(mol, j: int, k: int) -> str:
    """A fine label of the central bond j-k of a torsion: each end as ``ar`` (aromatic),
    ``C(=X)`` / ``S(=X)`` (double-bonded to N, O or S) or element + hybridisation (``Csp3``,
    ``Nsp2``), the two sorted and joined, e.g. ``C(=X)-ar`` or ``Csp3-Nsp2``."""
    return "-".join(sorted((_end_label(mol, mol.GetAtomWithIdx(int(j))), _end_label(mol, mol.GetAtomWithIdx(int(k))))))


def _amide_part(mol, a) -> bool:
    """``a`` is the N (O) or the C(=X) / S(=X) of an amide or ester-like group (amide, sulfonamide,
    urea, carbamate, ester, sulfonate)."""
    if a.GetSymbol() in ("N", "O") and not a.GetIsAromatic():
        return any(_end_label(mol, n) in ("C(=X)", "S(=X)") and mol.GetBondBetweenAtoms(a.GetIdx(), n.GetIdx()).GetBondTypeAsDouble() == 1
                   for n in a.GetNeighbors())
    if _end_label(mol, a) in ("C(=X)", "S(=X)"):
        return any(n.GetSymbol() in ("N", "O") and mol.GetBondBetweenAtoms(a.GetIdx(), n.GetIdx()).GetBondTypeAsDouble() == 1
                   for n in a.GetNeighbors())
    return False


def torsion_class(mol, j: int, k: int) -> str:
    """A coarse class of the torsion about bond j-k, one of :data:`TORSION_CLASSES` (the first
    that applies): ``aryl-aryl``; an aromatic atom bonded to a carbonyl-like carbon or sulfur
    (``aryl-carbonyl``), to N, O or S (``aryl-N``, ``aryl-O``, ``aryl-S``), to an sp3 carbon
    (``sp3-aryl``) or anything else (``aryl-other``); a bond next to an amide- or ester-like group,
    i.e. one end is its N or O or its C(=X) / S(=X) (``amide-adjacent``); both ends sp3
    (``sp3-sp3``); ``other``."""
    a, b = mol.GetAtomWithIdx(int(j)), mol.GetAtomWithIdx(int(k))
    la, lb = _end_label(mol, a), _end_label(mol, b)
    if la == "ar" and lb == "ar":
        return "aryl-aryl"
    if "ar" in (la, lb):
        other, label = (b, lb) if la == "ar" else (a, la)
        if label in ("C(=X)", "S(=X)"):
            return "aryl-carbonyl"
        if other.GetSymbol() in ("N", "O", "S"):
            return f"aryl-{other.GetSymbol()}"
        if label == "Csp3":
            return "sp3-aryl"
        return "aryl-other"
    if _amide_part(mol, a) or _amide_part(mol, b):
        return "amide-adjacent"
    if la.endswith("sp3") and lb.endswith("sp3"):
        return "sp3-sp3"
    return "other"


def automorphisms(mol, max_count: int = 2000) -> np.ndarray:
    """Graph automorphisms of ``mol`` (stereo-aware) as atom permutations, closed under inverse.

    Relabelling a geometry by an automorphism leaves its MMFF energy unchanged, so the sampler
    uses them as always-accepted moves (ring flips of symmetric aryls, methyl hydrogen
    permutations) that rigid rotations with a relaxed internal geometry rarely achieve.

    Returns:
        ``[P, N]`` int array; row p maps new atom a to old atom ``perm[p, a]`` (identity
        excluded; empty when the molecule has no symmetry).
    """
    matches = mol.GetSubstructMatches(mol, uniquify=False, useChirality=True, maxMatches=max_count)
    n = mol.GetNumAtoms()
    ident = tuple(range(n))
    perms = {tuple(int(a) for a in m) for m in matches if len(m) == n} - {ident}
    inverses = set()
    for p in perms:
        inv = [0] * n
        for a, b in enumerate(p):
            inv[b] = a
        inverses.add(tuple(inv))
    perms |= inverses
    return np.asarray(sorted(perms), dtype=np.int64).reshape(-1, n)
