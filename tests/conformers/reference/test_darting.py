"""Smart darting between the basins of the sampler's basin search: the choice of darts, the
exactness of the jump (a bijection of regions with unit Jacobian, inverse T_ji) and, with the
amide flips off, the E/Z population of a tertiary amide reached through darts alone; with
``dart_flips``, darts that carry a ring's pucker, and the axial share of methoxycyclohexane reached
through them with the ring flips off."""

import numpy as np
import pytest

from geomgen.conformers import MMFF, embed_seed, parse_molecule
from geomgen.conformers.reference.moves.amide_flip import amide_states, flip_amide, partial_double_bonds
from geomgen.conformers.reference.moves.darting import choose_darts, dart_coordinates, wrapped
from geomgen.conformers.reference.sampler import SamplerConfig, System, _basin_search, sample_reference
from geomgen.conformers.torsions import dihedral_angles, movable_bonds, rotatable_torsions

BACLOFEN = "NC[C@@H](CC(=O)O)c1ccc(Cl)cc1"
TERTIARY = "CCN(C)C(C)=O"
METHOXYCYCLOHEXANE = "COC1CCCCC1"


def test_wrapped_and_choose_darts_known_answers():
    np.testing.assert_allclose(wrapped(np.array([3.5, -3.5, 0.2]), 2 * np.pi), [3.5 - 2 * np.pi, 2 * np.pi - 3.5, 0.2])
    np.testing.assert_allclose(wrapped(np.array([3.0]), np.array([np.pi])), [3.0 - np.pi])
    period = np.array([2 * np.pi, np.pi])  # the second coordinate has symmetry 2
    phi = np.array([[0.0, 0.0],    # 0: lowest
                    [0.5, 0.5],    # 1: within 2r = 1.2 of 0 in both: dropped
                    [2.0, 0.2],    # 2: 2.0 apart in the first: kept
                    [0.3, 3.0],    # 3: 3.0 is 0.14 from 0 modulo pi: dropped
                    [-2.0, 1.5],   # 4: kept
                    [3.1, 1.5]])   # 5: 7.2 kcal/mol up, outside the window
    e = np.array([0.0, 0.1, 1.0, 0.5, 2.0, 7.2])
    assert choose_darts(phi, e, period, radius=0.6, count=8, window=3.0).tolist() == [0, 2, 4]
    assert choose_darts(phi, e, period, radius=0.6, count=2, window=3.0).tolist() == [0, 2]
    assert choose_darts(phi[::-1], e[::-1], period, 0.6, 8, 3.0).tolist() == [5, 3, 1]  # indices of the input order
    assert choose_darts(phi[:0], e[:0], period, 0.6, 8, 3.0).tolist() == []
    # with discrete labels, a centre is compared only with kept centres of the same labels
    labels = np.array([[0], [1], [0], [1], [0], [0]], bool)
    assert choose_darts(phi, e, period, 0.6, 8, 3.0, labels).tolist() == [0, 1, 2, 4]  # 1: alone in its states
    assert choose_darts(phi[:2], e[:2], period, 0.6, 8, 3.0, np.zeros((2, 0), bool)).tolist() == [0]


def test_darts_need_a_basin_search():
    with pytest.raises(ValueError, match="dart_moves_per_sweep needs basin_search"):
        SamplerConfig(dart_moves_per_sweep=1.0)


@pytest.fixture(scope="module")
def baclofen_darts():
    mol = embed_seed(parse_molecule(BACLOFEN), seed=0)
    ts = rotatable_torsions(mol)
    cfg = SamplerConfig(seed=0, basin_search=12, dart_moves_per_sweep=1.0)
    system = System(mol, ts, cfg)
    assert "dart" not in [m.name for m in system.schedule]  # no darts before the search
    search = _basin_search(system, mol.GetConformer().GetPositions(), ts, cfg)
    system.use_basins(search)
    return mol, system, system.moves["dart"], search


def test_dart_coordinates_are_the_torsions_and_the_acid(baclofen_darts):
    mol, system, move, _ = baclofen_darts
    atoms, moving, sign = dart_coordinates(mol, system.torsions)
    acid = partial_double_bonds(mol)
    assert len(acid) == 1 and len(atoms) == len(system.torsions) + 1
    assert tuple(atoms[-1]) == acid[0].atoms
    for (_, j, k, _), m in zip(atoms, moving):
        assert j not in m and k not in m and len(m)
    # the sides are nested or disjoint (one anchor), so the rotations commute
    for a in moving:
        for b in moving:
            sa, sb = set(a.tolist()), set(b.tolist())
            assert sa <= sb or sb <= sa or not sa & sb
    assert set(sign.tolist()) <= {-1.0, 1.0}
    assert "dart" in [m.name for m in system.schedule] and len(move.centres) >= 2


def test_darts_are_disjoint_regions_around_low_minima(baclofen_darts):
    _, _, move, search = baclofen_darts
    c, r = move.centres, move.cfg.dart_radius
    for a in range(len(c)):
        for b in range(a + 1, len(c)):
            assert np.abs(wrapped(c[a] - c[b], move.period)).max() >= 2 * r
    assert move.centre_energies[0] == pytest.approx(search.lowest)
    assert (move.centre_energies <= search.lowest + move.cfg.dart_window).all()


def test_jump_maps_region_onto_region_exactly(baclofen_darts):
    mol, system, move, search = baclofen_darts
    rng = np.random.default_rng(0)
    x = search.positions[0]
    i = move.region(x)
    assert i == 0
    # a point inside region 0, off its centre: every dart dihedral turned by up to 0.3 rad
    for t, (_, a, b, _) in enumerate(move.atoms):
        from geomgen.conformers.torsions import rotate_side

        x = rotate_side(x, int(a), int(b), move.moving[t], float(rng.uniform(-0.3, 0.3)))
    assert move.region(x) == 0
    j = len(move.centres) - 1
    y = move.jump(x, 0, j)
    assert move.region(y) == j
    shift = dihedral_angles(y, move.atoms) - dihedral_angles(x, move.atoms)
    np.testing.assert_allclose(wrapped(shift - (move.centres[j] - move.centres[0]), 2 * np.pi), 0, atol=1e-9)
    np.testing.assert_allclose(move.jump(y, j, 0), x, atol=1e-9)  # T_ji = T_ij^-1
    # every other internal coordinate is kept: bond lengths, angles, the other movable dihedrals
    dist = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)  # noqa: E731
    bonded = np.array([(bd.GetBeginAtomIdx(), bd.GetEndAtomIdx()) for bd in mol.GetBonds()])
    np.testing.assert_allclose(dist(y)[bonded[:, 0], bonded[:, 1]], dist(x)[bonded[:, 0], bonded[:, 1]], atol=1e-9)
    quads = movable_bonds(mol).atoms
    dart_bonds = {frozenset(q[1:3].tolist()) for q in move.atoms}
    others = np.array([q for q in quads if frozenset(q[1:3].tolist()) not in dart_bonds])
    np.testing.assert_allclose(wrapped(dihedral_angles(y, others) - dihedral_angles(x, others), 2 * np.pi), 0, atol=1e-9)
    # unit Jacobian: central differences of the map in all 3N coordinates
    n, h = x.size, 1e-6
    jac = np.empty((n, n))
    for c in range(n):
        dx = np.zeros(n)
        dx[c] = h
        jac[:, c] = (move.jump(x + dx.reshape(x.shape), 0, j) - move.jump(x - dx.reshape(x.shape), 0, j)).ravel() / (2 * h)
    assert abs(np.linalg.det(jac) - 1.0) < 1e-5


def _tertiary_starts(mol):
    mmff, site = MMFF(mol), partial_double_bonds(mol)[0]
    x = mmff.minimize(mol.GetConformer().GetPositions(), max_iters=2000)[0]
    y = mmff.minimize(flip_amide(x, site), max_iters=2000)[0]
    return np.stack([x, y]), amide_states(mol, np.stack([x, y]))[:, 0]


def test_darts_alone_reach_the_tertiary_amide_population():
    """Known answer: CCN(C)C(C)=O is 0.45-0.47 cis in MMFF94 at 300 K (BAR over the rigid flip and
    the NCMC amide flips, ``test_amide_flip.py``). With the amide flips off, chains started in the
    two states keep them (negative control); darts between the basin search's minima (its two
    minima and their mirror images), alone, move them. Measured (2 x 6,000 sweeps, 4 darts per
    sweep, seeds 0-2): 0.44, 0.48, 0.36, acceptance 0.09 with 94 % of the tries inside a region.
    Here 2 x 4,000 sweeps; the chains' slow N-ethyl rotamers leave a seed-to-seed spread of about
    0.05, hence the tolerance."""
    mol = embed_seed(parse_molecule(TERTIARY), seed=0)
    starts, cis = _tertiary_starts(mol)
    budget = dict(seed=0, n_chains=2, warmup_sweeps=100, round_sweeps=4000, min_sweeps=4000, max_sweeps=4000,
                  n_samples=8000, basin_search=32, mirror_moves=True)
    still = sample_reference(mol, SamplerConfig(**budget), starts=starts)
    per_chain = amide_states(mol, still.positions)[:, 0].reshape(2, -1)
    assert (per_chain[0] == cis[0]).all() and (per_chain[1] == cis[1]).all()  # negative control
    assert still.diagnostics["n_darts"] == 0
    moved = sample_reference(mol, SamplerConfig(dart_moves_per_sweep=4.0, **budget), starts=starts)
    d = moved.diagnostics
    assert d["n_darts"] == 4 and d["dart_acceptance"] > 0.03 and d["dart_in_region"] > 0.8
    p_cis = amide_states(mol, moved.positions)[:, 0].mean()
    assert abs(p_cis - 0.46) < 0.12, p_cis


@pytest.fixture(scope="module")
def ring_darts():
    mol = embed_seed(parse_molecule(METHOXYCYCLOHEXANE), seed=0)
    ts = rotatable_torsions(mol)
    cfg = SamplerConfig(seed=0, basin_search=32, dart_moves_per_sweep=1.0, dart_flips=True, mirror_moves=True)
    system = System(mol, ts, cfg)
    search = _basin_search(system, mol.GetConformer().GetPositions(), ts, cfg)
    system.use_basins(search)
    return mol, system, system.moves["dart"], search


def test_darts_carry_the_ring_pucker(ring_darts):
    from geomgen.conformers.reference.ring_flip import axial, pucker_reporter

    mol, system, move, search = ring_darts
    assert [(m.name, k) for m, k in move.sites] == [("ring_flip", 0)]
    labels = move.centre_labels[:, 0]
    assert labels.any() and not labels.all()  # darts in both chairs
    ring = system.moves["ring_flip"].sites[0][0]
    # the label is the ring-flip move's monitored state: the methoxy axial
    assert (move.labels(search.positions)[:, 0] == axial(search.positions, ring, pucker_reporter(mol, ring))).all()
    diag = move.extra_diagnostics()
    assert diag["dart_flip_sites"] == 1 and diag["dart_labels"] == [[int(v)] for v in labels]


def test_jump_with_a_flip_is_exact(ring_darts):
    from geomgen.conformers.torsions import rotate_side

    mol, system, move, search = ring_darts
    labels = move.centre_labels[:, 0]
    i, j = int(np.flatnonzero(~labels)[0]), int(np.flatnonzero(labels)[0])
    # dart i's own minimum, its dart dihedrals turned by up to 0.3 rad: inside region i
    x = move.centre_positions[i]
    assert move.region(x) == i
    rng = np.random.default_rng(1)
    for t, (_, a, b, _) in enumerate(move.atoms):
        x = rotate_side(x, int(a), int(b), move.moving[t], float(rng.uniform(-0.3, 0.3)))
    assert move.region(x) == i
    for a, b in ((i, j), (j, i)):  # T_ij and its inverse, whichever of i, j is smaller
        src = x if a == i else move.jump(x, i, j)
        y = move.jump(src, a, b)
        assert move.region(y) == b and move.labels(y)[0, 0] == labels[b]
        np.testing.assert_allclose(move.jump(y, b, a), src, atol=1e-9)
        dist = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)  # noqa: E731
        bonded = np.array([(bd.GetBeginAtomIdx(), bd.GetEndAtomIdx()) for bd in mol.GetBonds()])
        np.testing.assert_allclose(dist(y)[bonded[:, 0], bonded[:, 1]], dist(src)[bonded[:, 0], bonded[:, 1]], atol=1e-9)
        n, h = src.size, 1e-6
        jac = np.empty((n, n))
        for c in range(n):
            dx = np.zeros(n)
            dx[c] = h
            jac[:, c] = (move.jump(src + dx.reshape(src.shape), a, b) - move.jump(src - dx.reshape(src.shape), a, b)).ravel() / (2 * h)
        assert abs(abs(np.linalg.det(jac)) - 1.0) < 1e-5


def test_darts_with_flips_alone_reach_the_axial_share():
    """Known answer: methoxycyclohexane's methoxy is axial in 0.27 of MMFF94's 300 K ensemble (the
    exact ring-flip move, 2 x 30,000 sweeps, seeds 5 and 6: 0.272 and 0.265, measured by hand).
    With the ring flips off, chains started in the two chairs keep them, with or without darts
    that only turn dihedrals (negative control); darts that carry the pucker, alone, move them.
    Measured at 2 x 6,000 sweeps, seeds 0-2: 0.278, 0.346, 0.278."""
    from geomgen.conformers.reference.ring_flip import axial, flip_ring, flippable_rings, pucker_reporter

    mol = embed_seed(parse_molecule(METHOXYCYCLOHEXANE), seed=0)
    ring, branches = flippable_rings(mol)[0]
    reporter = pucker_reporter(mol, ring)
    mmff = MMFF(mol)
    x = mmff.minimize(mol.GetConformer().GetPositions(), max_iters=2000)[0]
    y = mmff.minimize(flip_ring(x, ring, branches), max_iters=2000)[0]
    starts = np.stack([x, y])
    start_axial = axial(starts, ring, reporter)
    assert start_axial.tolist() in ([False, True], [True, False])
    budget = dict(seed=0, n_chains=2, warmup_sweeps=100, round_sweeps=6000, min_sweeps=6000, max_sweeps=6000,
                  n_samples=12000, basin_search=32, mirror_moves=True, dart_moves_per_sweep=2.0)
    still = sample_reference(mol, SamplerConfig(**budget), starts=starts)
    per_chain = axial(still.positions, ring, reporter).reshape(2, -1)
    assert (per_chain[0] == start_axial[0]).all() and (per_chain[1] == start_axial[1]).all()  # negative control
    moved = sample_reference(mol, SamplerConfig(dart_flips=True, **budget), starts=starts)
    d = moved.diagnostics
    assert d["ring_flip_acceptance"] == 0.0 and d["dart_acceptance"] > 0.02 and d["dart_missed"] < 0.05
    share = axial(moved.positions, ring, reporter).mean()
    assert abs(share - 0.27) < 0.1, share
