r"""The slow discrete states of a molecule: which sites have them, their 0/1 indicators, and the
maps between their two states.

Two kinds of site change state over barriers that neither torsion moves nor the network's
torsion samples cross, so a conformer ensemble keeps the state of its start unless someone sets
it: the E/Z state of a partial double bond (13-20 kcal/mol) and the pyramid of an sp3 nitrogen
(6-8 kcal/mol). The reference sampler's moves
(:mod:`~geomgen.conformers.reference.moves.amide_flip`,
:mod:`~geomgen.conformers.reference.moves.nitrogen_inversion`) and the generator's state seeds
(:func:`~geomgen.conformers.embedding.state_seeds`) use these definitions, and so do the
evaluation's populations: one definition, with no dependency on the sampler.

**Partial double bonds** (:func:`partial_double_bonds`). Each bond (j, k), j the carbonyl-like
carbon and k the N or O, that matches ``[NX3]-[CX3]=[O,S,NX2]`` or ``[OX2]-[CX3]=[O,S]`` (amides,
thioamides, ureas, carbamates, N-acyl sulfonamides, amidines, esters, carbonates; the partial
double bonds of :mod:`geomgen.conformers.torsions`) and is not in a ring. Its reference atoms
are, on each end, the neighbour other than the partner with the highest canonical rank
(``breakTies=False``), heavy atoms first: i on j and l on k. A carboxylic acid's O-H has no heavy
neighbour on O, so its hydrogen is the reference there: acids are included (syn/anti). An end
whose two top candidates are graph-equivalent (a primary amide's NH2, N,N-dimethyl, an N-acyl
piperidine) has no E/Z state -- a flip is a relabelling by a graph automorphism -- and is left
out. The moving atoms are those of the smaller side, as for a rotatable torsion.

*State* (:func:`amide_states`): site s is *cis* (1) when its reference dihedral
:math:`\phi_s = \angle(i, j, k, l)` has :math:`|\phi_s| < \pi/2`, else *trans* (0). This is a label
by canonical ranks, not the chemical E/Z name: for N-methylacetamide the references are the two
methyl carbons, so the common trans-NMA is 0. *Map* (:func:`flip_amide`): the moving side rotated
rigidly by pi about j -> k, an involution that changes the state.

**Invertible nitrogens** (:func:`invertible_nitrogens`): neutral, three neighbours, sp3, not
aromatic, not in a ring, no conjugated bond, no sp2/sp or aromatic neighbour (amides, anilines,
enamines, sulfonamides are planar or conjugated: their slow states are torsions), no chirality
tag. *State* (:func:`nitrogen_configurations`): the sign of
:math:`\det[a_1 - n, a_2 - n, a_3 - n]`, neighbours ordered by canonical rank (ties by index); it
is a configuration only where the three neighbours differ by rank
(:func:`configurational_nitrogens`), else graph symmetry relabels it. *Map*
(:func:`invert_nitrogen`): the umbrella flip

.. math::
    n' = n - 2\,\nu\,\nu^\top (n - a_1),\qquad x' = a_i + M_i' M_i^\top (x - a_i),\ x \in B_i,

the nitrogen reflected through the plane of its neighbours (unit normal :math:`\nu`) and the
branch :math:`B_i` behind each neighbour carried rigidly with the neighbour's local frame
:math:`M_i` (along :math:`n - a_i`, then towards the midpoint of the two other neighbours): every
bond length and bond angle is kept, the signed volume changes sign, and the map is an
involution with unit Jacobian (the invariance argument is in the move's module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class AmideSite:
    """One partial double bond.

    Attributes:
        atoms: ``(i, j, k, l)``, the reference dihedral: j the C(=X), k the N or O, i and l the
            reference atoms on j and k.
        moving: ``[M]`` the atoms a flip rotates (the smaller side, without j and k).
    """

    atoms: tuple[int, int, int, int]
    moving: np.ndarray

    @property
    def bond(self) -> tuple[int, int]:
        return self.atoms[1], self.atoms[2]


def _reference(atom, partner: int, ranks) -> int | None:
    """The reference neighbour of ``atom`` (other than ``partner``): highest canonical rank, heavy
    atoms first; ``None`` when there is none or the top two candidates are graph-equivalent."""
    others = [a for a in atom.GetNeighbors() if a.GetIdx() != partner]
    heavy = [a for a in others if a.GetAtomicNum() > 1]
    cands = sorted(((ranks[a.GetIdx()], a.GetIdx()) for a in (heavy or others)), reverse=True)
    if not cands or (len(cands) > 1 and cands[0][0] == cands[1][0]):
        return None
    return cands[0][1]


def partial_double_bonds(mol) -> list[AmideSite]:
    """The E/Z sites of ``mol`` (with hydrogens; module docstring), in RDKit bond order."""
    from rdkit import Chem

    from geomgen.conformers.torsions import _PARTIAL_DOUBLE_SMARTS, torsion_set_from_atoms

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    bonds = {}
    for smarts in _PARTIAL_DOUBLE_SMARTS:
        for match in mol.GetSubstructMatches(Chem.MolFromSmarts(smarts)):
            k, j = match[0], match[1]
            bond = mol.GetBondBetweenAtoms(j, k)
            if bond.IsInRing():
                continue
            i = _reference(mol.GetAtomWithIdx(j), k, ranks)
            l = _reference(mol.GetAtomWithIdx(k), j, ranks)
            if i is not None and l is not None:
                bonds[bond.GetIdx()] = (i, j, k, l)
    atoms = [bonds[b] for b in sorted(bonds)]
    ts = torsion_set_from_atoms(mol, atoms)
    return [AmideSite(atoms=tuple(int(a) for a in q), moving=np.flatnonzero(m)) for q, m in zip(atoms, ts.moving)]


#: the kinds of partial double bond :func:`site_class` names
SITE_CLASSES = ("amide", "thioamide", "urea", "carbamate", "acylsulfonamide", "amidine", "ester", "acid")


def site_class(mol, site: AmideSite) -> str:
    """What kind of partial double bond ``site`` is (one of :data:`SITE_CLASSES`), from the
    atoms around its bond j-k (j the C(=X), k the N or O):

    * k an oxygen: ``"acid"`` when it carries a hydrogen (a carboxylic or thio acid's O-H),
      ``"carbamate"`` when j also carries a single-bonded nitrogen (a carbamate's C-O bond),
      otherwise ``"ester"`` (esters, carbonates, thionoesters);
    * k a nitrogen: ``"acylsulfonamide"`` when k is also bonded to a sulfonyl sulfur;
      ``"amidine"`` when j's double bond goes to a nitrogen; ``"urea"`` / ``"carbamate"`` when
      j has another single-bonded nitrogen / oxygen; ``"thioamide"`` when j's double bond goes
      to sulfur; ``"amide"`` otherwise.
    """
    from rdkit import Chem

    j, k = site.bond
    cj, nk = mol.GetAtomWithIdx(j), mol.GetAtomWithIdx(k)
    single = [b.GetOtherAtom(cj).GetAtomicNum() for b in cj.GetBonds()
              if b.GetBondType() == Chem.BondType.SINGLE and b.GetOtherAtom(cj).GetIdx() != k]
    if nk.GetAtomicNum() == 8:
        if any(a.GetAtomicNum() == 1 for a in nk.GetNeighbors()):
            return "acid"
        return "carbamate" if 7 in single else "ester"
    if any(a.GetAtomicNum() == 16 and sum(1 for b in a.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE
                                           and b.GetOtherAtom(a).GetAtomicNum() == 8) >= 2
           for a in nk.GetNeighbors()):
        return "acylsulfonamide"
    double = [b.GetOtherAtom(cj).GetAtomicNum() for b in cj.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE]
    if 7 in double:
        return "amidine"
    if 7 in single:
        return "urea"
    if 8 in single:
        return "carbamate"
    return "thioamide" if 16 in double else "amide"


#: an O-H on a C(=O) or C(=S): what every acid site has (a quick test before :func:`partial_double_bonds`)
_ACID_SMARTS = "[OX2H1]-[CX3]=[O,S]"


@lru_cache(maxsize=1)
def _acid_pattern():
    from rdkit import Chem

    return Chem.MolFromSmarts(_ACID_SMARTS)


def acid_sites(mol) -> list[int]:
    """Indices into :func:`partial_double_bonds` of ``mol``'s carboxylic (and thio) acid O-H sites
    (:func:`site_class` ``"acid"``). A molecule without an acid group costs one substructure test
    (the generator asks this of every molecule)."""
    if not mol.HasSubstructMatch(_acid_pattern()):
        return []
    return [k for k, site in enumerate(partial_double_bonds(mol)) if site_class(mol, site) == "acid"]


def site_states(sites: list[AmideSite], positions: np.ndarray) -> np.ndarray:
    """Whether each site is *cis* (reference dihedral :math:`|\\phi| < \\pi/2`).

    Shapes:
        positions: ``[S, N, 3]`` (or ``[N, 3]``); returns ``[S, K]`` bool, K = ``len(sites)``.
    """
    from geomgen.conformers.torsions import dihedral_angles

    pos = np.asarray(positions, dtype=np.float64)
    pos = pos[None] if pos.ndim == 2 else pos
    if not sites:
        return np.zeros((len(pos), 0), dtype=bool)
    return np.abs(dihedral_angles(pos, np.array([s.atoms for s in sites]))) < math.pi / 2


def amide_states(mol, positions: np.ndarray) -> np.ndarray:
    """E/Z indicator of every site of :func:`partial_double_bonds`: True where *cis* (reference
    dihedral :math:`|\\phi| < \\pi/2`; a label by canonical ranks, see the module docstring).

    Shapes:
        positions: ``[S, N, 3]`` (or ``[N, 3]``); returns ``[S, K]`` bool, K =
        ``len(partial_double_bonds(mol))``.
    """
    return site_states(partial_double_bonds(mol), positions)


def flip_amide(pos: np.ndarray, site: AmideSite, delta: float = math.pi) -> np.ndarray:
    """A copy of ``pos [N, 3]`` with the site's moving side rotated rigidly by ``delta`` about
    j -> k (by pi: the other state, the reference dihedral shifted by pi)."""
    from geomgen.conformers.torsions import rotate_side

    j, k = site.bond
    return rotate_side(pos, j, k, site.moving, delta)


def pyramidal_amine(atom) -> bool:
    """Whether the RDKit ``atom`` is a pyramidal amine nitrogen that can invert: neutral, three
    neighbours, sp3, not aromatic, no chirality tag the user set, no conjugated bond, and no
    aromatic, sp2/sp or multiply bonded neighbour (amides, anilines, enamines, sulfonamides are
    planar or conjugated: their slow states are torsions). Ring membership is the caller's rule
    (the acyclic and the ring-nitrogen inversion moves take the two kinds)."""
    from rdkit import Chem

    hyb = Chem.rdchem.HybridizationType
    if (atom.GetAtomicNum() != 7 or atom.GetDegree() != 3 or atom.GetFormalCharge() != 0 or atom.GetIsAromatic()
            or atom.GetHybridization() != hyb.SP3 or atom.GetChiralTag() != Chem.rdchem.ChiralType.CHI_UNSPECIFIED):
        return False
    if any(b.GetIsConjugated() for b in atom.GetBonds()):
        return False
    return not any(a.GetIsAromatic() or a.GetHybridization() in (hyb.SP, hyb.SP2)
                   or any(b.GetBondType() != Chem.BondType.SINGLE for b in a.GetBonds()) for a in atom.GetNeighbors())


def invertible_nitrogens(mol) -> list[tuple[int, np.ndarray, list[np.ndarray]]]:
    """The pyramidal sp3 nitrogens of ``mol`` that can invert (see the module docstring).

    Returns:
        list of ``(n, neighbours [3], branches)``: the nitrogen, its neighbours ordered by
        canonical rank (ties by index), and per neighbour the atoms behind it (possibly empty).
    """
    from rdkit import Chem

    from geomgen.conformers.torsions import _side

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    out = []
    for atom in mol.GetAtoms():
        if atom.IsInRing() or not pyramidal_amine(atom):
            continue
        n = atom.GetIdx()
        order = sorted((ranks[a.GetIdx()], a.GetIdx()) for a in atom.GetNeighbors())
        idx = np.array([i for _, i in order])
        branches = [np.array([x for x in _side(mol, int(a), n) if x != a], dtype=int) for a in idx]
        out.append((n, idx, branches))
    return out


def configurational_nitrogens(mol, sites=None) -> list[int]:
    """Indices into :func:`invertible_nitrogens` (or ``sites``, its result) of the nitrogens whose
    three neighbours differ by canonical rank: there the pyramid is a configuration; elsewhere (an
    NMe2 group) graph symmetry relabels it."""
    from rdkit import Chem

    sites = invertible_nitrogens(mol) if sites is None else sites
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    return [k for k, (_, nbrs, _) in enumerate(sites) if len({ranks[int(a)] for a in nbrs}) == 3]


def _frame(n: np.ndarray, a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Right-handed frame [3, 3] (columns) at ``a``: along n - a, then towards m."""
    e1 = (n - a) / np.linalg.norm(n - a)
    w = m - a
    e2 = w - (w @ e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


def invert_nitrogen(pos: np.ndarray, n: int, neighbours: np.ndarray, branches: list[np.ndarray]) -> np.ndarray:
    """The umbrella flip of the module docstring: a copy of ``pos [N, 3]`` with nitrogen ``n``
    reflected through the plane of its ``neighbours`` and each branch carried rigidly with its
    neighbour's frame."""
    a = pos[neighbours]
    normal = np.cross(a[1] - a[0], a[2] - a[0])
    normal /= np.linalg.norm(normal)
    new = pos.copy()
    new[n] = pos[n] - 2.0 * ((pos[n] - a[0]) @ normal) * normal
    for i, branch in enumerate(branches):
        if not len(branch):
            continue
        m = (a.sum(0) - a[i]) / 2.0
        rot = _frame(new[n], a[i], m) @ _frame(pos[n], a[i], m).T
        new[branch] = (pos[branch] - a[i]) @ rot.T + a[i]
    return new


def nitrogen_states(sites, positions: np.ndarray) -> np.ndarray:
    """Configuration indicator of each nitrogen of ``sites`` (entries of
    :func:`invertible_nitrogens`): whether :math:`\\det[a_1 - n, a_2 - n, a_3 - n] > 0`.

    Shapes:
        positions: ``[S, N, 3]`` (or ``[N, 3]``); returns ``[S, K]`` bool, K = ``len(sites)``.
    """
    pos = np.asarray(positions, dtype=np.float64)
    pos = pos[None] if pos.ndim == 2 else pos
    out = np.zeros((len(pos), len(sites)), dtype=bool)
    for k, (n, nbrs, _) in enumerate(sites):
        out[:, k] = np.linalg.det(pos[:, nbrs] - pos[:, n, None]) > 0
    return out


def nitrogen_configurations(mol, positions: np.ndarray) -> np.ndarray:
    """Configuration indicator of every invertible nitrogen: whether the signed volume
    :math:`\\det[a_1 - n, a_2 - n, a_3 - n]` of the nitrogen and its neighbours (ordered by
    canonical rank, ties by index) is positive.

    For a nitrogen with three distinct neighbours (by rank) this is its configuration; with two
    equivalent ones (a dimethylamino group) the graph symmetry that swaps them also swaps it.

    Shapes:
        positions: ``[S, N, 3]`` (or ``[N, 3]``); returns ``[S, K]`` bool, K =
        ``len(invertible_nitrogens(mol))``.
    """
    return nitrogen_states(invertible_nitrogens(mol), positions)


def states_label(states) -> str:
    """A row of 0/1 indicators as a string (``"10"``: first site 1, second 0; ``""`` for none)."""
    return "".join("1" if s else "0" for s in np.asarray(states, dtype=bool).ravel())


class SlowSites:
    """The slow discrete-state sites of a molecule in one list: its partial double bonds
    (:func:`partial_double_bonds`), then, with ``nitrogens``, its configurational nitrogens
    (:func:`configurational_nitrogens`), named ``amide-<k>`` and ``nitrogen-<atom>`` as the
    reference sampler names them; ``amide_sites`` keeps only those partial double bonds (indices of
    :func:`partial_double_bonds`, which stay their names) and ``max_sites`` the first ones (amides first).

    ``states(pos)`` gives their indicators ``[S, K]`` (or ``[K]`` for one ``[N, 3]`` geometry) and
    ``flip(pos, k)`` the geometry with site k in its other state (:func:`flip_amide` or
    :func:`invert_nitrogen`)."""

    def __init__(self, mol, nitrogens: bool = True, max_sites: int | None = None, amide_sites=None):
        amides = partial_double_bonds(mol)
        keep = range(len(amides)) if amide_sites is None else sorted({int(k) for k in amide_sites if 0 <= int(k) < len(amides)})
        every = invertible_nitrogens(mol) if nitrogens else []
        self.nitrogens = [every[k] for k in configurational_nitrogens(mol, every)] if every else []
        if max_sites is not None:
            keep = keep[:max_sites]
            self.nitrogens = self.nitrogens[: max(max_sites - len(keep), 0)]
        self.amides = [amides[k] for k in keep]
        self.names = [f"amide-{k}" for k in keep] + [f"nitrogen-{n}" for n, _, _ in self.nitrogens]

    def __len__(self) -> int:
        return len(self.names)

    def states(self, positions: np.ndarray) -> np.ndarray:
        pos = np.asarray(positions, dtype=np.float64)
        out = np.concatenate([site_states(self.amides, pos), nitrogen_states(self.nitrogens, pos)], axis=1)
        return out[0] if pos.ndim == 2 else out

    def flip(self, pos: np.ndarray, k: int) -> np.ndarray:
        if k < len(self.amides):
            return flip_amide(pos, self.amides[k])
        return invert_nitrogen(pos, *self.nitrogens[k - len(self.amides)])
