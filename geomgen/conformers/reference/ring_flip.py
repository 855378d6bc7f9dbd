r"""Ring-flip moves: an exact Metropolis move between the puckers of an isolated, spiro or aryl-fused saturated ring.

A chair of a cyclohexane, piperidine or morpholine ring turns into the other chair over a
barrier of about 10 kcal/mol: rigid torsion moves and Langevin steps at 300 K never cross it, so
without a dedicated move every chain keeps the pucker it started in, and torsions next to the
ring (axial against equatorial substituents) are sampled conditionally on that pucker.

**The map.** For a ring :math:`R = (r_0, \dots, r_{m-1})` (non-aromatic, 5 to 7 atoms, sharing no
bond with another ring), let :math:`c` be the centroid of the ring atoms and :math:`n` the normal
of their least-squares plane. :math:`F` reflects the ring atoms through that plane,

.. math::
    r_i' = r_i - 2\, n\, n^\top (r_i - c),

and carries the *branch* :math:`B_i` of every ring atom (the atoms reached from :math:`r_i`
without passing through another ring atom: its hydrogens and substituents) rigidly with the
ring atom's local frame :math:`M_i = [u_i, v_i, u_i \times v_i]`, built from the two ring
neighbours (:math:`u_i` along the bisector of :math:`r_{i-1} - r_i` and :math:`r_{i+1} - r_i`,
:math:`v_i` along their difference):

.. math::
    x' = r_i' + M_i' M_i^\top (x - r_i),\qquad x \in B_i .

Ring torsions change sign (chair to the other chair, envelope to the opposite envelope); every
bond length and bond angle is kept, and so is every stereocentre: the frames are proper
rotations, so the signed volume at each ring atom and in each branch is unchanged. Substituents
swap between axial and equatorial, as in a real ring flip.

**Invariance.** :math:`F` is an involution: the reflected ring has the same centroid and
least-squares plane, so reflecting again restores :math:`r`, the frames built from :math:`r'`
and then from :math:`r` undo each other, and :math:`F(F(x)) = x`. Its Jacobian determinant has
modulus 1: ordering the coordinates as (ring, branches), the Jacobian is block triangular; each
branch block is a rotation; and the ring block maps a configuration to its own mirror image in
its own plane, which commutes with rigid motions and maps internal coordinates (distances and
angles kept, dihedrals negated) linearly with modulus-1 determinant, while the Cartesian volume
element factors into rigid-motion and internal parts whose density depends on distances and
angles only (the tests check :math:`|\det \partial F / \partial x| = 1` by finite differences).
A deterministic involution with unit Jacobian, proposed with a probability that does not depend
on the state and accepted with :math:`\min(1, \pi(F x) / \pi(x))`, satisfies detailed balance
(Tierney 1998; the "involutive MCMC" of Neklyudov et al., ICML 2020).

**Fused rings** (from sampler revision 12). For a ring that shares one bond with an aromatic ring
:math:`P`, the shared atoms stay, the others are reflected through the least-squares plane of
:math:`P` (which no moving atom defines, so the map is still an involution; the ring block is now
a plain reflection, modulus-1 determinant), and the branches move with their atoms' frames as
above: a tetralin's or chroman's half-chair becomes the other half-chair.

**Mirrored branches** (fused rings, from revision 13). A branch with no stereocentre, hanging from
a ring atom that is not one (:func:`_chiral_atoms`: every potential tetrahedral or other
non-planar stereo element, assigned or not), is reflected through the same plane instead of being
carried by its atom's frame: :math:`x' = x - 2\, n\, n^\top (x - c)`. Carried by the frame, a
carbonyl oxygen, an N-alkyl group or a C-aryl group keeps its own dihedrals while the ring's change
sign, and lands against the aromatic ring's peri hydrogens or its neighbours: the rigid flip then
cost a median 29 kcal/mol (val-00040) and 70 kcal/mol (drugs-00041; by hand, reference samples),
and their chains hardly ever changed pucker (ring-state ESS per CPU-s 20x higher with mirrored
branches on val-00040; drugs-00041 converged in 46 CPU-s against not at all in 150:
``evaluation/conformers/state_mixing_fused_mirror.md``). Reflected, the whole moving side except the
stereocentres is the mirror image of the start, whose energy is the start's; a stereocentre's
frame carriage is itself the plane's reflection followed by a reflection through the atom's own
ring plane (both map the frame vectors u, v to u', v'), the composition a rotation that keeps its
configuration and swaps its substituents between pseudo-axial and pseudo-equatorial. Still an
involution (the plane does not move), and each reflected branch's block of the Jacobian is a
reflection: modulus-1 determinant. Double bonds keep their E/Z under a reflection, so they do not
stop a branch from being mirrored.
"""

from __future__ import annotations

import numpy as np

#: ring sizes a flip move is offered for
FLIP_RING_SIZES = (5, 6, 7)


class FlipSite(tuple):
    """A ring a flip move applies to: unpacks as ``(ring, branches)``, with ``fixed`` (the ring
    atoms that stay, those shared with a planar aromatic ring; empty for isolated and spiro rings)
    and ``plane`` (the atoms whose least-squares plane reflects; ``None``: the ring's own), and
    ``mirror`` (positions in the ring whose branches that plane reflects instead of their frames
    carrying them; fused rings from revision 13). :meth:`flip` applies the flip map."""

    def __new__(cls, ring, branches, fixed=(), plane=None, mirror=()):
        self = super().__new__(cls, (np.asarray(ring, dtype=np.int64), branches))
        self.fixed = np.asarray(fixed, dtype=np.int64)
        self.plane = None if plane is None else np.asarray(plane, dtype=np.int64)
        self.mirror = np.asarray(mirror, dtype=np.int64)
        # what depends on the site only, for flip
        self._keep = np.isin(self[0], self.fixed)
        self._owners = _branch_owners(branches)
        self._mirrored = [np.asarray(branches[k], dtype=np.int64) for k in self.mirror]
        return self

    def flip(self, pos: np.ndarray) -> np.ndarray:
        """The ring-flip map :math:`F` (see the module docstring) applied to ``pos`` ``[N, 3]``; a new
        array. The plane's normal is the covariance's eigenvector of least eigenvalue (the last right
        singular vector of the centred atoms: the same plane, a quarter of the cost); the reflection
        does not depend on its sign. Both frames are built in one call and the carried branches
        move in one batched product, with what depends on the site only made once, in the
        constructor (the move runs about once per sweep, so its Python overhead counts); each
        mirrored branch is reflected on its own (one product over all of them would round
        differently)."""
        ring = self[0]
        pos = np.asarray(pos, dtype=np.float64)
        r = pos[ring]
        ref = r if self.plane is None else pos[self.plane]
        c = ref.mean(0)
        d = ref - c
        normal = np.linalg.eigh(d.T @ d)[1][:, 0]
        r_new = _reflect(r, c, normal)
        if len(self.fixed):
            r_new[self._keep] = r[self._keep]
        f = _frames(np.stack([r_new, r]))
        rots = np.matmul(f[0], f[1].transpose(0, 2, 1))  # [m, 3, 3], old frame -> new frame
        out = pos.copy()
        out[ring] = r_new
        atoms, owner = self._owners
        if len(atoms):
            out[atoms] = np.einsum("nij,nj->ni", rots[owner], pos[atoms] - r[owner]) + r_new[owner]
        for b in self._mirrored:
            out[b] = _reflect(pos[b], c, normal)
        return out


def _chiral_atoms(mol) -> set[int]:
    """The atoms a reflection would invert: centres of potential tetrahedral (and other
    non-planar) stereo elements, specified or not (``Chem.FindPotentialStereo``), and both ends of
    potential atropisomeric or cumulene axes. Double bonds keep their E/Z under a reflection."""
    from rdkit import Chem

    out: set[int] = set()
    for info in Chem.FindPotentialStereo(Chem.Mol(mol)):
        if info.type == Chem.StereoType.Bond_Double:
            continue
        if info.type in (Chem.StereoType.Bond_Atropisomer, Chem.StereoType.Bond_Cumulene_Even):
            bond = mol.GetBondWithIdx(info.centeredOn)
            out |= {bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()}
        else:
            out.add(int(info.centeredOn))
    return out


def _branches(mol, ring, moving) -> list[np.ndarray]:
    """Per ring atom, the atoms reached from it without passing through a ring atom (empty for an
    atom that does not move)."""
    in_ring = {int(a) for a in ring}
    out = []
    for a in ring:
        seen: set[int] = set()
        if int(a) in moving:
            stack = [n.GetIdx() for n in mol.GetAtomWithIdx(int(a)).GetNeighbors() if n.GetIdx() not in in_ring]
            while stack:
                b = stack.pop()
                if b in seen or b in in_ring:
                    continue
                seen.add(b)
                stack.extend(n.GetIdx() for n in mol.GetAtomWithIdx(b).GetNeighbors())
        out.append(np.array(sorted(seen), dtype=np.int64))
    return out


def _disjoint(branches, avoid=()) -> bool:
    flat = [int(x) for b in branches for x in b]
    return len(flat) == len(set(flat)) and not set(flat) & {int(a) for a in avoid}


def flippable_rings(mol, spiro: bool = True, fused: bool = True, mirror: bool = True) -> list[FlipSite]:
    """The rings of ``mol`` a flip move applies to, with the branch of every ring atom.

    A ring qualifies when it is not aromatic, has 5 to 7 atoms, and is one of:

    * **isolated**: it shares no atom with another ring;
    * **spiro** (``spiro``, from sampler revision 12): it shares single atoms only. A spiro atom's
      branch is then the other ring with all that hangs from it, carried rigidly by the spiro
      atom's frame;
    * **fused to one aromatic ring** (``fused``, from revision 12; indane, tetralin, chroman,
      tetrahydroquinoline, benzodiazepine): it shares one bond with one aromatic ring and no atom
      with any other. Its two shared atoms stay (``fixed``), and the others are reflected through
      the aromatic ring's least-squares plane (``plane``), which no moving atom defines: half-chair
      to half-chair, envelope to envelope. With ``mirror`` (revision 13 on), its branches without a
      stereocentre, on ring atoms that are none, are reflected through that plane too (module
      docstring, "Mirrored branches"); without, every branch is carried by its atom's frame
      (revision 12, the map the store rebuilds those references with).

    In every case the map keeps its involution and unit Jacobian, and bond lengths, angles and
    stereo away from the shared atoms (at them the aromatic ring's out-of-plane wobble changes
    bond lengths by hundredths of an angstrom: the Metropolis test pays for it); the branches must
    be disjoint and, for a fused ring, miss the aromatic ring, so a ring that a path outside it
    joins back to itself is left alone. Other fused and bridged systems are left alone: moving
    one ring would drag the other through itself.

    Isolated rings come first, in RDKit's ring order, then the spiro rings, then the fused ones:
    the index of a ring in this list is the bit of ``ring_flipped`` in the reference store, so
    references built before spiro and fused rings were flipped (whose bits never name one) read
    the same.

    Returns:
        list of :class:`FlipSite` ``(ring [m], branches)``: the ring atoms in ring order and, per
        ring atom, the indices of its branch (possibly empty).
    """
    info = mol.GetRingInfo()
    atom_rings = [tuple(r) for r in info.AtomRings()]
    aromatic = [all(mol.GetAtomWithIdx(a).GetIsAromatic() for a in r) for r in atom_rings]
    isolated, spiro_rings, fused_rings = [], [], []
    chiral = None  # computed for the first fused ring only
    for k, ring in enumerate(atom_rings):
        if len(ring) not in FLIP_RING_SIZES or aromatic[k]:
            continue
        ring_set = set(ring)
        shares = [(j, ring_set & set(other)) for j, other in enumerate(atom_rings) if j != k and ring_set & set(other)]
        if not shares:
            isolated.append(FlipSite(ring, _branches(mol, ring, ring_set)))
        elif spiro and all(len(common) == 1 for _, common in shares):
            if any(mol.GetAtomWithIdx(a).GetIsAromatic() for a in ring):
                continue
            branches = _branches(mol, ring, ring_set)
            if _disjoint(branches):
                spiro_rings.append(FlipSite(ring, branches))
        elif fused and len(shares) == 1 and aromatic[shares[0][0]] and len(shares[0][1]) == 2:
            j, common = shares[0]
            a, b = sorted(common)
            if mol.GetBondBetweenAtoms(a, b) is None:
                continue
            moving = ring_set - common
            if any(mol.GetAtomWithIdx(x).GetIsAromatic() for x in moving):
                continue
            branches = _branches(mol, ring, moving)
            if _disjoint(branches, avoid=atom_rings[j]):
                if mirror:
                    chiral = _chiral_atoms(mol) if chiral is None else chiral
                    mirrored = [k for k, b in enumerate(branches)
                                if len(b) and int(ring[k]) not in chiral and not chiral & {int(x) for x in b}]
                else:
                    mirrored = []
                fused_rings.append(FlipSite(ring, branches, fixed=sorted(common), plane=atom_rings[j], mirror=mirrored))
    return isolated + spiro_rings + fused_rings


def _reflect(x: np.ndarray, c: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """The points ``x [k, 3]`` reflected through the plane through ``c`` with unit ``normal``."""
    return x - 2.0 * np.outer((x - c) @ normal, normal)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt((v * v).sum(-1))[..., None]


_NEIGHBOURS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _neighbours(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each position's predecessor and successor in a ring of ``m`` atoms (made once per size)."""
    got = _NEIGHBOURS.get(m)
    if got is None:
        got = _NEIGHBOURS[m] = (np.arange(-1, m - 1), np.arange(1, m + 1) % m)
    return got


def _frames(ring_pos: np.ndarray) -> np.ndarray:
    """Local frames ``[..., m, 3, 3]`` (columns u, v, w) of the ring atoms ``[..., m, 3]``."""
    before, after = _neighbours(ring_pos.shape[-2])
    prev = ring_pos[..., before, :] - ring_pos
    nxt = ring_pos[..., after, :] - ring_pos
    u = _unit(prev + nxt)
    v = nxt - prev
    v = _unit(v - (v * u).sum(-1)[..., None] * u)
    u0, u1, u2, v0, v1, v2 = u[..., 0], u[..., 1], u[..., 2], v[..., 0], v[..., 1], v[..., 2]
    w = np.stack([u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0], axis=-1)  # u x v (np.cross costs more than the rest)
    return np.stack([u, v, w], axis=-1)


def _branch_owners(branches: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The branch atoms of a ring, concatenated, and the ring position each hangs from."""
    atoms = [np.asarray(b, dtype=np.int64).ravel() for b in branches]
    owner = np.repeat(np.arange(len(atoms)), [len(b) for b in atoms])
    return (np.concatenate(atoms) if atoms else np.zeros(0, np.int64)), owner


def flip_ring(pos: np.ndarray, ring: np.ndarray, branches: list[np.ndarray], fixed=(), plane=None, mirror=()) -> np.ndarray:
    """The ring-flip map :math:`F` (see the module docstring) applied to ``pos`` ``[N, 3]``; a new array:
    :meth:`FlipSite.flip` of the site these arguments describe.

    ``fixed``: ring atoms that stay (a fused ring's shared atoms); ``plane``: the atoms whose
    least-squares plane reflects (default the ring; a fused ring's aromatic partner, none of whose
    atoms moves, so that the map stays an involution); ``mirror``: positions in ``ring`` whose
    branches the plane reflects instead of their frames carrying them."""
    return FlipSite(ring, branches, fixed=fixed, plane=plane, mirror=mirror).flip(pos)


def ring_torsion_quads(ring) -> np.ndarray:
    """The ``[m, 4]`` atom quadruples of a ring's endocyclic torsions, in ring order."""
    m = len(ring)
    return np.array([[ring[i], ring[(i + 1) % m], ring[(i + 2) % m], ring[(i + 3) % m]] for i in range(m)])


def ring_pucker_signs(pos: np.ndarray, ring: np.ndarray) -> tuple[int, ...]:
    """Signs of the ring's endocyclic torsions (+1 / -1 / 0): a chair of a six-membered ring is
    ``(+, -, +, -, +, -)`` or ``(-, +, -, +, -, +)``; a flip negates them all."""
    from geomgen.conformers.torsions import dihedral_angles

    return tuple(int(s) for s in np.sign(dihedral_angles(np.asarray(pos, dtype=np.float64), ring_torsion_quads(ring))))


#: a substituent bond is axial when the cosine of its angle to the ring's plane normal is above
#: this (chairs: about 0.95 axial, 0.3 equatorial; envelopes: about 0.8 and 0.4)
AXIAL_COSINE = 0.6


def pucker_reporter(mol, ring: np.ndarray, sp3_only: bool = True) -> tuple[int, int] | None:
    """The ``(ring atom, substituent)`` bond whose axial/equatorial position labels the pucker of
    ``ring``, or None when no bond labels it as a quantity.

    A ring flip swaps every substituent between axial and equatorial, so one well-chosen bond
    tells the two puckers apart: the exocyclic heavy substituent of highest canonical rank
    (``breakTies=False``) whose rank is unique among the ring's substituents (else the flip may
    only swap two equivalent groups, a relabelling), on an sp3 ring atom (from sampler revision 12:
    a substituent of a trigonal atom, such as a lactam's or a ketone's oxygen, or of a fused
    ring's shared aromatic atom, stays near the ring's plane in both puckers, so it labels none)
    that is not a nitrogen (an N-substituent's position follows nitrogen inversion as well) and
    carries no second heavy substituent (a gem pair is one axial and one equatorial in both puckers).
    ``sp3_only=False`` is the rule of revisions up to 11 (any ring atom but a nitrogen).
    """
    from rdkit import Chem

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    in_ring = {int(a) for a in ring}
    subs = [(int(a), n.GetIdx()) for a in ring for n in mol.GetAtomWithIdx(int(a)).GetNeighbors()
            if n.GetIdx() not in in_ring and n.GetAtomicNum() > 1]
    counts: dict[int, int] = {}
    for _, s in subs:
        counts[ranks[s]] = counts.get(ranks[s], 0) + 1
    heavy_on = {}
    for a, _ in subs:
        heavy_on[a] = heavy_on.get(a, 0) + 1
    for a, s in sorted(subs, key=lambda p: -ranks[p[1]]):
        atom = mol.GetAtomWithIdx(a)
        if (counts[ranks[s]] == 1 and atom.GetAtomicNum() != 7 and heavy_on[a] == 1
                and (not sp3_only or (atom.GetHybridization() == Chem.HybridizationType.SP3 and not atom.GetIsAromatic()))):
            return a, s
    return None


def axial(positions: np.ndarray, ring: np.ndarray, bond: tuple[int, int]) -> np.ndarray:
    """Whether the bond ``(ring atom, substituent)`` is axial in each of ``positions [S, N, 3]``
    (``[N, 3]`` also taken): ``[S]`` bool, :data:`AXIAL_COSINE` on the angle to the normal of the
    ring atoms' least-squares plane."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 2:  # one geometry (the sampler's moves ask about one at a time): the same numbers, half the cost
        r = pos[ring]
        normal = np.linalg.svd(r - r.mean(0))[2][-1]
        b = pos[bond[1]] - pos[bond[0]]
        return np.array([np.abs((b * normal).sum()) / np.sqrt((b * b).sum()) > AXIAL_COSINE])
    r = pos[:, ring]
    normal = np.linalg.svd(r - r.mean(1, keepdims=True))[2][:, -1]  # [S, 3]
    b = pos[:, bond[1]] - pos[:, bond[0]]
    cos = np.abs((b * normal).sum(-1)) / np.linalg.norm(b, axis=-1)
    return cos > AXIAL_COSINE
