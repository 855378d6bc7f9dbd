r"""Smart darting: an exact jump between the basins of the sampler's basin search.

Rigid torsion moves, NCMC and MALA change one or two torsions at a time. A basin that differs from
the chain's in several torsions at once, and whose intermediates are high in energy, is reached
only through those intermediates: baclofen's acid anti state, hydrogen-bonded to the amine, needs
the acid's O-H turned and the backbone folded together, and no chain of the revision-9 runs went
there. Smart darting (Andricioaei, Straub and Voter, J. Chem. Phys. 114, 6994 (2001)) jumps
between known basins directly: the chain is moved from wherever it sits near one basin's minimum
to the same place near another's.

**Coordinates.** The dihedrals :math:`\phi \in \mathbb{T}^D` of the rotatable torsions
(:func:`~geomgen.conformers.torsions.rotatable_torsions`, or those the sampler was given) and of
the partial double bonds (:func:`~geomgen.conformers.discrete_states.partial_double_bonds`:
amide E/Z, acid syn/anti), each compared modulo its symmetry period :math:`P_t = 2\pi/s_t`
(:func:`~geomgen.conformers.reference.convergence.torsion_symmetry`), so that a phenyl or methyl
turned by its symmetry is where it was. Every one of these bonds is a bridge of the molecular graph.

**Darts.** Before the chains start (:meth:`DartMove.use_basins`), the distinct minima of the
sampler's basin search (:mod:`~geomgen.conformers.reference.basins`) within ``dart_window``
kcal/mol of the lowest are taken in order of energy (with their mirror images when the mirror move
is on), a minimum kept as dart centre :math:`c_i` unless its dihedrals lie within :math:`2r` of an
earlier centre's in every coordinate, :math:`r` = ``dart_radius``, up to ``dart_count`` centres.
The region of dart :math:`i` is :math:`R_i = \{x : \max_t |\phi_t(x) - c_{i,t}|_{P_t} < r\}`; by
construction the regions are disjoint.

**The move.** If :math:`x \in R_i` (at most one :math:`i`), pick :math:`j \ne i` uniformly and
propose :math:`x' = T_{ij}x`: the moving side of every dart bond (the side away from one anchor
atom) rotated so that each dihedral changes by :math:`c_{j,t} - c_{i,t}`; accept with
:math:`\min(1, \pi_r(x')/\pi_r(x))`. If :math:`x` is in no region, the move does nothing.

*Invariance.* (i) Each rotation turns a set of atoms rigidly about the axis of its bond, whose
atoms it does not move: its Jacobian is 1. The sides are taken away from one anchor, so any two
are nested or disjoint and the rotations commute (as for the torsion-pair move); a rotation about
bond :math:`t` changes dihedral :math:`t` by its angle and moves the four atoms of any other
dihedral rigidly (or not at all). So :math:`T_{ij}` adds :math:`c_j - c_i` to :math:`\phi` and
keeps every other internal coordinate, :math:`T_{ji} = T_{ij}^{-1}`, and, because the region's
distance is translation-invariant on the torus, :math:`T_{ij}` maps :math:`R_i` onto :math:`R_j`.
(ii) The proposal from :math:`x \in R_i` to :math:`T_{ij}x` has probability :math:`1/(K-1)`, the
reverse from :math:`T_{ij}x \in R_j` likewise; the darts and radius are fixed before the first
sweep (the basin search uses its own random stream, not the chains'). So the Metropolis ratio is
:math:`\pi_r(x')/\pi_r(x)` and :math:`\pi_r` is invariant on every rung; outside the regions the
move is the identity. Nothing requires the centres to be exact minima: they only make the jumps
land where the energy is low.

**Discrete sites (``dart_flips``).** The dihedrals do not see a ring's pucker or a nitrogen's
pyramid: two minima that differ only there share one region, and a jump never changes them. With
``dart_flips`` a dart also carries the states :math:`s(x) \in \{0, 1\}^L` of the monitored sites
of the ring-flip, nitrogen- and ring-nitrogen-inversion moves (:meth:`Move.states`), and its region
is :math:`R_i = \{x : s(x) = s_i,\ \max_t |\phi_t(x) - c_{i,t}|_{P_t} < r\}`, disjoint from
every region with other states. For :math:`i < j`,

.. math::
    T_{ij} = R_{\delta_{ij}} \circ F_{k_1} \circ \dots \circ F_{k_m},\qquad
    T_{ji} = T_{ij}^{-1} = F_{k_m} \circ \dots \circ F_{k_1} \circ R_{-\delta_{ij}},

where :math:`k_1 < \dots < k_m` are the sites whose states differ between the darts, :math:`F_k`
their moves' involutions (:meth:`Move.flip_site`; unit Jacobian each), :math:`R_\delta` the dart
rotations above, and :math:`\delta_{ij} = c_j - \phi(F_{k_1} \cdots F_{k_m} X_i)` for the
geometry :math:`X_i` of dart i's minimum, a constant, so that :math:`T_{ij} X_i` has dihedrals
:math:`c_j`. A flip keeps the dihedrals whose four atoms it moves rigidly, but not all (an exocyclic
dihedral that names a ring atom's neighbour), so :math:`T_{ij}` need not map :math:`R_i` into
:math:`R_j`: a proposal outside :math:`R_j` is rejected (``dart_missed``). *Invariance*: the
proposal from :math:`x \in R_i` to :math:`x' = T_{ij} x \in R_j` has probability :math:`1/(K-1)`,
and from :math:`x'` the move finds region j (the regions are disjoint), picks i with the same
probability and proposes :math:`T_{ji} x' = x`; the map has unit Jacobian, so the ratio is again
:math:`\pi_r(x')/\pi_r(x)`. Without differing sites :math:`\delta_{ij} = c_j - c_i` and the move
is the one above.
"""

from __future__ import annotations

import numpy as np

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option


def wrapped(d: np.ndarray, period: np.ndarray) -> np.ndarray:
    """``d`` reduced to ``[-P/2, P/2)`` modulo ``period`` (broadcast)."""
    return (d + period / 2) % period - period / 2


def dart_coordinates(mol, torsions) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The dihedrals a dart moves: the torsions' quadruples and those of the partial double bonds
    not among them, each with the atoms its rotation turns (the side away from one anchor atom)
    and the sign of the dihedral change per unit rotation.

    Returns:
        ``(atoms [D, 4], moving, sign [D])``: ``moving[t]`` the indices of the atoms rotated about
        bond ``atoms[t, 1] -> atoms[t, 2]`` (axis atoms excluded); rotating them by ``a`` changes
        dihedral ``t`` by ``sign[t] * a``.
    """
    from geomgen.conformers.discrete_states import partial_double_bonds
    from geomgen.conformers.torsions import side_away

    quads = [tuple(int(a) for a in q) for q in np.asarray(torsions.atoms).reshape(-1, 4)]
    bonds = {frozenset(q[1:3]) for q in quads}
    quads += [tuple(int(a) for a in s.atoms) for s in partial_double_bonds(mol) if frozenset(s.bond) not in bonds]
    if not quads:
        return np.zeros((0, 4), np.int64), [], np.zeros(0)
    anchor = quads[0][1]
    moving, sign = [], []
    for _i, j, k, _l in quads:
        atoms, k_moves = side_away(mol, j, k, anchor)
        moving.append(atoms)
        sign.append(1.0 if k_moves else -1.0)  # turning j's side changes the dihedral by minus the angle
    return np.asarray(quads, np.int64), moving, np.asarray(sign)


def choose_darts(dihedrals: np.ndarray, energies: np.ndarray, period: np.ndarray, radius: float, count: int,
                 window: float, labels: np.ndarray | None = None) -> np.ndarray:
    """Dart centres: the candidates ``dihedrals [M, D]`` (any order) within ``window`` of the lowest
    ``energies [M]``, lowest first, each kept unless it lies within ``2 * radius`` of a kept centre
    in every coordinate (distances modulo ``period [D]``), at most ``count``. With ``labels [M, L]``
    (discrete states), only kept centres with the same labels count: regions with different labels
    are disjoint whatever their dihedrals. Returns the indices kept, so that the regions of radius
    ``radius`` are disjoint."""
    if len(energies) == 0:
        return np.zeros(0, np.int64)
    labels = np.zeros((len(energies), 0), bool) if labels is None else np.asarray(labels, bool)
    order = np.argsort(energies, kind="stable")
    kept: list[int] = []
    for m in order:
        if energies[m] > energies[order[0]] + window or len(kept) >= count:
            break
        same = [k for k in kept if np.array_equal(labels[k], labels[m])]
        d = np.abs(wrapped(dihedrals[m][None] - dihedrals[same], period)).max(axis=1) if same else np.zeros(0)
        if (dihedrals.shape[1] or labels.shape[1]) and (d >= 2 * radius).all():
            kept.append(int(m))
    return np.asarray(kept, np.int64)


class DartMove(Move):
    """A Poisson number (mean ``dart_moves_per_sweep``) of darts per sweep between the basins of the
    sampler's basin search (module docstring); needs ``basin_search``."""

    name = "dart"
    rate_option = "dart_moves_per_sweep"
    options = (
        Option("dart_moves_per_sweep", 0.0, "expected smart-darting moves per sweep (a Poisson number) between the "
                                            "lowest minima of the basin search (needs basin_search); 0 for none "
                                            "(default 0).", ("--darts",), low=0.0),
        Option("dart_count", 8, "at most this many dart centres (default 8).", low=2),
        Option("dart_radius", 0.6, "radius (rad, per dihedral, modulo its symmetry) of a dart's region (default 0.6).",
               low=0.0, closed=False),
        Option("dart_window", 3.0, "dart centres are search minima at most this far (kcal/mol) above the lowest "
                                   "(default 3).", low=0.0),
        Option("dart_flips", False, "darts also carry the monitored ring puckers and nitrogen configurations: a "
                                    "dart's region fixes their states, and a jump between darts whose states differ "
                                    "applies those sites' flips (default False).", ("--dart-flips",)),
    )

    #: the kinds of discrete site a dart with ``dart_flips`` carries (amide E/Z states are dihedrals already)
    FLIP_KINDS = ("ring", "nitrogen", "ring-nitrogen")

    def __init__(self, system):
        super().__init__(system)
        self.centres = np.zeros((0, 0))
        self.centre_energies = np.zeros(0)
        self.centre_labels = np.zeros((0, 0), bool)
        self.centre_positions = np.zeros((0, system.mol.GetNumAtoms(), 3))
        self.shifts: dict[tuple[int, int], np.ndarray] = {}
        self.outside = 0
        self.missed = 0
        #: the sites darts carry with ``dart_flips``: ``(move, site)``, and their moves, fixed in :meth:`use_basins`
        self.sites: list[tuple] = []
        self.flip_moves: list = []
        #: the dart dihedrals (found only when the move is on: a System is also built to read states)
        self.atoms, self.moving, self.sign = (dart_coordinates(system.mol, system.torsions) if self.rate > 0
                                              else (np.zeros((0, 4), np.int64), [], np.zeros(0)))

    @property
    def applicable(self) -> bool:
        return self.rate > 0 and len(self.centres) >= 2

    def use_basins(self, minima) -> None:
        """Choose the darts from the basin search's minima (:func:`choose_darts`)."""
        if not len(self.atoms) or not len(minima.energies):
            return
        from geomgen.conformers.reference.convergence import torsion_symmetry
        from geomgen.conformers.torsions import dihedral_angles

        # the periods need the other moves (which nitrogens invert), built after this one
        self.period = 2 * np.pi / torsion_symmetry(self.system.mol, self.atoms, inverting=self.system.inverting)
        pos = np.asarray(minima.positions, dtype=np.float64)
        e = np.asarray(minima.energies, dtype=np.float64)
        if self.system.moves["symmetry"].mirror:  # mirror images are minima of the same energy
            pos, e = np.concatenate([pos, pos * np.array([1.0, 1.0, -1.0])]), np.concatenate([e, e])
        phi = dihedral_angles(pos, self.atoms)
        self.flip_moves = ([m for m in self.system.moves.values() if m.state_name in self.FLIP_KINDS and m.monitored]
                           if self.cfg.dart_flips else [])
        self.sites = [(m, k) for m in self.flip_moves for k in m.monitored]  # the columns of labels()
        labels = self.labels(pos)
        keep = choose_darts(phi, e, self.period, self.cfg.dart_radius, self.cfg.dart_count, self.cfg.dart_window,
                            labels)
        self.centres, self.centre_energies, self.centre_labels = phi[keep], e[keep], labels[keep]
        self.centre_positions = pos[keep]
        # T_ij for i < j: the differing sites flipped, then the dart bonds turned so that the
        # centre of i lands on the centre of j; T_ji is its inverse
        self.shifts = {}
        for i in range(len(keep)):
            for j in range(i + 1, len(keep)):
                flipped = self._flip(self.centre_positions[i], i, j)
                start = self.centres[i] if flipped is None else dihedral_angles(flipped, self.atoms)
                self.shifts[i, j] = self.centres[j] - start

    def labels(self, positions: np.ndarray) -> np.ndarray:
        """``[S, L]`` bool: the states of the carried sites (none without ``dart_flips``) of ``positions [S, N, 3]``."""
        pos = np.asarray(positions, dtype=np.float64)
        pos = pos[None] if pos.ndim == 2 else pos
        cols = [m.states(pos) for m in self.flip_moves]  # each move's monitored sites, in order
        return np.concatenate(cols, axis=1) if cols else np.zeros((len(pos), 0), dtype=bool)

    def _differ(self, i: int, j: int) -> list[tuple]:
        """The carried sites whose states differ between darts i and j."""
        return [s for s, a, b in zip(self.sites, self.centre_labels[i], self.centre_labels[j]) if a != b]

    def _flip(self, pos: np.ndarray, i: int, j: int, reverse: bool = False) -> np.ndarray | None:
        """``pos`` with the carried sites whose states differ between darts i and j flipped, in a fixed
        order (reversed with ``reverse``: each flip is an involution, so that undoes it); None if none differ."""
        differ = self._differ(i, j)
        if not differ:
            return None
        for move, k in reversed(differ) if reverse else differ:
            pos = move.flip_site(pos, k)
        return pos

    def region(self, pos: np.ndarray) -> int:
        """The dart whose region holds ``pos [N, 3]``, or -1."""
        from geomgen.conformers.torsions import dihedral_angles

        d = np.abs(wrapped(dihedral_angles(pos, self.atoms)[None] - self.centres, self.period)).max(axis=1)
        inside = d < self.cfg.dart_radius
        if self.centre_labels.shape[1] and inside.any():  # the states only where the dihedrals could place it
            inside &= (self.centre_labels == self.labels(pos)[0]).all(axis=1)
        inside = np.flatnonzero(inside)
        return int(inside[0]) if len(inside) else -1

    def _turn(self, pos: np.ndarray, shift: np.ndarray) -> np.ndarray:
        from geomgen.conformers.torsions import rotate_side

        for t, (_, a, b, _) in enumerate(self.atoms):
            pos = rotate_side(pos, int(a), int(b), self.moving[t], float(self.sign[t] * shift[t]))
        return pos

    def jump(self, pos: np.ndarray, i: int, j: int) -> np.ndarray:
        """:math:`T_{ij}` of ``pos``: for i < j the sites whose states differ flipped, then every dart
        dihedral turned by ``shifts[i, j]`` (``centres[j] - centres[i]`` when no site differs); for
        i > j the inverse of :math:`T_{ji}`."""
        if i < j:
            flipped = self._flip(pos, i, j)
            return self._turn(pos if flipped is None else flipped, self.shifts[i, j])
        turned = self._turn(pos, -self.shifts[j, i])
        flipped = self._flip(turned, j, i, reverse=True)
        return turned if flipped is None else flipped

    def step(self, rung, adapt: bool = False) -> None:
        i = self.region(rung.pos)
        if i < 0:
            self.outside += 1
            return
        j = int(rung.rng.integers(len(self.centres) - 1))
        j += j >= i
        new = self.jump(rung.pos, i, j)
        # without flips T_ij maps R_i onto R_j; a flip may move a dart dihedral out of it: no reverse move
        if self._differ(i, j) and self.region(new) != j:
            self.tried += 1
            self.missed += 1
            return
        self.metropolis(rung, new)

    def reset(self) -> None:
        super().reset()
        self.outside = self.missed = 0

    def extra_diagnostics(self) -> dict:
        out = {"n_darts": len(self.centres), "dart_in_region": self.tried / max(self.tried + self.outside, 1),
               "dart_energies": [round(float(e), 3) for e in self.centre_energies]}
        if self.cfg.dart_flips:
            out.update(dart_flip_sites=len(self.sites), dart_missed=self.missed / max(self.tried, 1),
                       dart_labels=[[int(v) for v in row] for row in self.centre_labels])
        return out
