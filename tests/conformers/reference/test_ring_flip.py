"""Ring-flip moves: an exact involution between the chairs of an isolated saturated ring."""

import numpy as np
import pytest

from geomgen.conformers import MMFF, dihedral_angles, embed_seed, parse_molecule
from geomgen.conformers.reference.ring_flip import axial, flip_ring, flippable_rings, pucker_reporter, ring_pucker_signs
from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference
from geomgen.conformers.stereo import StereoGuard


def _bond_lengths_and_angles(mol, pos):
    lengths = [np.linalg.norm(pos[b.GetBeginAtomIdx()] - pos[b.GetEndAtomIdx()]) for b in mol.GetBonds()]
    angles = []
    for a in mol.GetAtoms():
        nbrs = [n.GetIdx() for n in a.GetNeighbors()]
        for i in range(len(nbrs)):
            for j in range(i + 1, len(nbrs)):
                u, v = pos[nbrs[i]] - pos[a.GetIdx()], pos[nbrs[j]] - pos[a.GetIdx()]
                angles.append(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))
    return np.array(lengths), np.array(angles)


def _abs_jacobian_det(f, x: np.ndarray, h: float = 1e-6) -> float:
    """|det df/dx| at ``x`` by central differences over every coordinate."""
    n = x.size
    jac = np.empty((n, n))
    for k in range(n):
        d = np.zeros(n)
        d[k] = h
        jac[:, k] = (f(x + d.reshape(x.shape)) - f(x - d.reshape(x.shape))).ravel() / (2 * h)
    return abs(np.linalg.det(jac))


def test_flippable_rings_are_isolated_saturated_rings():
    assert [len(r) for r, _ in flippable_rings(parse_molecule("C1CCCCC1c1ccccc1"))] == [6]  # not the phenyl
    assert flippable_rings(parse_molecule("C1CCC2CCCCC2C1")) == []  # decalin: fused
    assert flippable_rings(parse_molecule("C1CC1C")) == []  # cyclopropane: too small to pucker
    ring, branches = flippable_rings(parse_molecule("CC1CCOCC1"))[0]
    assert sorted(len(b) for b in branches) == [0, 2, 2, 2, 2, 5]  # O has none; the methyl carbon has 3 H


def test_flip_is_an_exact_volume_preserving_involution_that_keeps_geometry_and_stereo():
    mol = embed_seed(parse_molecule("C[C@H]1CCC[C@@H](N)C1"), seed=0)
    ring, branches = flippable_rings(mol)[0]
    rng = np.random.default_rng(0)
    x = mol.GetConformer().GetPositions() + rng.normal(scale=0.03, size=(mol.GetNumAtoms(), 3))
    y = flip_ring(x, ring, branches)
    np.testing.assert_allclose(flip_ring(y, ring, branches), x, atol=1e-12)
    assert ring_pucker_signs(y, ring) == tuple(-s for s in ring_pucker_signs(x, ring))
    for before, after in zip(_bond_lengths_and_angles(mol, x), _bond_lengths_and_angles(mol, y)):
        np.testing.assert_allclose(after, before, atol=1e-10)
    assert StereoGuard(mol).ok(np.stack([x, y])).all()
    assert _abs_jacobian_det(lambda p: flip_ring(p, ring, branches), x) == pytest.approx(1.0, abs=1e-6)


def _axial_fraction(flips: float, start: np.ndarray, mol, quad) -> tuple[float, dict]:
    """Fraction of samples with the methyl axial: |dihedral(Me, C1, C2, C3)| below 120 degrees
    (about 75 axial, 175 equatorial; invariant under the symmetry moves' relabelling)."""
    cfg = SamplerConfig(seed=0, n_chains=2, warmup_sweeps=100, round_sweeps=200, min_sweeps=2000, max_sweeps=2000,
                        ring_flips_per_sweep=flips)
    res = sample_reference(mol, cfg, starts=np.stack([start, start]))
    phi = dihedral_angles(res.positions, np.array([quad]))[:, 0]
    return float(np.mean(np.abs(phi) < np.radians(120))), res.diagnostics


def test_chains_from_either_chair_agree_with_flips_and_not_without():
    """Methylcyclohexane: the axial chair is about 2 kcal/mol above the equatorial one. Chains
    started in either chair agree on the axial fraction only with ring flips (the rigid, symmetry
    and Langevin moves never cross the chair-chair barrier: the negative control)."""
    mol = embed_seed(parse_molecule("CC1CCCCC1"), seed=0)
    ring, branches = flippable_rings(mol)[0]
    mmff = MMFF(mol)
    seed = mol.GetConformer().GetPositions()
    other = mmff.minimize(flip_ring(seed, ring, branches), max_iters=500)[0]
    eq, ax = (seed, other) if mmff.energy(seed) < mmff.energy(other) else (other, seed)
    quad = (0, 1, 2, 3)  # methyl carbon, ring C1, C2, C3
    assert abs(dihedral_angles(eq, np.array([quad]))[0]) > np.radians(150) > np.radians(100) > abs(dihedral_angles(ax, np.array([quad]))[0])
    from_eq, diag = _axial_fraction(1.0, eq, mol, quad)
    from_ax, _ = _axial_fraction(1.0, ax, mol, quad)
    assert diag["n_flippable_rings"] == 1 and 0.005 < diag["ring_flip_acceptance"] < 0.5
    assert 0.0 < from_eq < 0.3 and abs(from_eq - from_ax) < 0.06
    # the pucker is a monitored state: its indicator (methyl axial) is the dihedral's verdict
    assert diag["state_names"] == ["ring-0"] and abs(diag["state_population"][0] - from_eq) < 0.02
    assert _axial_fraction(0.0, eq, mol, quad)[0] == 0.0
    assert _axial_fraction(0.0, ax, mol, quad)[0] == 1.0


@pytest.mark.parametrize("smiles, monitored", [
    ("CC1CCCCC1", [True]),  # the methyl labels the pucker
    ("C1CCCCC1", [False]),  # a flip is a relabelling
    ("C[C@H]1CC[C@H](C)CC1", [False]),  # two equivalent methyls: the flip swaps them
    ("CN1CCCCC1", [False]),  # the only substituent is on the nitrogen (it inverts too)
    ("CC1(C)CCCCC1", [False]),  # a gem pair: one axial, one equatorial in both chairs
    ("CCOC(=O)C1CCN(S(C)(=O)=O)CC1", [True]),  # the 4-piperidine ester of val-00006
    ("CC[C@@H]1COCCN1C", [True]),  # the 2-ethylmorpholine of test-00095
    ("CC1CCCC(=O)N1", [True]),  # a lactam: the methyl on its sp3 carbon
    ("CN1CCCC1=O", [False]),  # the oxygen of a trigonal carbon stays in plane in both puckers (revision 12)
    ("C[C@@H]1CCc2ccccc2O1", [True]),  # 2-methylchroman (fused, revision 12)
    ("C1CCc2ccccc2C1", [False]),  # tetralin: the shared aromatic atoms label nothing
])
def test_the_pucker_is_monitored_where_a_substituent_labels_it(smiles, monitored):
    mol = embed_seed(parse_molecule(smiles), seed=0)
    rings = flippable_rings(mol)
    assert [pucker_reporter(mol, ring) is not None for ring, _ in rings] == monitored
    x = mol.GetConformer().GetPositions()
    for site in rings:
        ring, branches = site
        bond = pucker_reporter(mol, ring)
        if bond is not None:  # the flip moves the reporting substituent between axial and equatorial
            assert axial(x, ring, bond)[0] != axial(flip_ring(x, ring, branches, site.fixed, site.plane), ring, bond)[0]


def test_overdispersed_starts_cover_both_chairs_with_or_without_flip_moves():
    """Starts flip each ring with probability 1/2 whatever the move's rate: chains that cannot flip
    then disagree, and the convergence rule says so."""
    from geomgen.conformers.reference.sampler import SamplerConfig, System, _overdispersed_start, _state_targets
    from geomgen.conformers.torsions import rotatable_torsions

    mol = embed_seed(parse_molecule("CC1CCCCC1"), seed=0)
    seed = mol.GetConformer().GetPositions()
    quad = np.array([(0, 1, 2, 3)])
    ts = rotatable_torsions(mol)

    def axial(flips, own):
        system = System(mol, ts, SamplerConfig(ring_flips_per_sweep=flips))
        targets = _state_targets(system, 8, np.random.default_rng(8))  # the pucker is monitored: half the chains each
        return [abs(dihedral_angles(_overdispersed_start(system, seed, ts, np.random.default_rng(c), targets[c], own_embedding=own),
                                    quad)[0]) < np.radians(120) for c in range(8)]

    for flips in (0.0, 1.0):
        assert 0 < sum(axial(flips, own=False)) < 8
    assert 0 < sum(axial(0.0, own=True)) < 8


def test_spiro_rings_flip_after_the_isolated_ones_and_fused_or_bridged_rings_do_not():
    """Spiro rings share one atom: the other ring is that atom's branch. Isolated rings keep their
    indices (the store's ``ring_flipped`` bits) ahead of them; ``spiro=False`` is the old rule."""
    mol = parse_molecule("CC1CCCCC1C1CCCC12CCCC2")  # an isolated cyclohexane, then a spiro[4.4]nonane
    rings = flippable_rings(mol)
    assert [len(r) for r, _ in rings] == [6, 5, 5]
    assert [len(r) for r, _ in flippable_rings(mol, spiro=False)] == [6]
    assert np.array_equal(rings[0][0], flippable_rings(mol, spiro=False)[0][0])
    mol = parse_molecule("C1CCC2(CC1)CCCC2")
    ring, branches = flippable_rings(mol)[0]  # the cyclopentane of spiro[4.5]decane
    spiro_atom = [k for k, a in enumerate(ring) if mol.GetRingInfo().NumAtomRings(int(a)) == 2]
    assert len(spiro_atom) == 1 and len(branches[spiro_atom[0]]) == 5 + 10  # the cyclohexane's 5 carbons and 10 H
    for fused_or_bridged in ("C1CCC2CCCCC2C1", "C1CC2CCC1C2", "C1CCC2(CC1)CC1CCCC12"):
        mol = parse_molecule(fused_or_bridged)
        shared_bond = [r for r, _ in flippable_rings(mol) if sum(mol.GetRingInfo().NumAtomRings(int(a)) > 1 for a in r) > 1]
        assert shared_bond == []


def test_a_spiro_flip_is_an_exact_involution_that_carries_the_other_ring_rigidly():
    mol = embed_seed(parse_molecule("C[C@H]1CCC2(CC1)CC[C@@H](N)C2"), seed=0)
    rng = np.random.default_rng(1)
    x = mol.GetConformer().GetPositions() + rng.normal(scale=0.03, size=(mol.GetNumAtoms(), 3))
    (r5, b5), (r6, b6) = sorted(flippable_rings(mol), key=lambda rb: len(rb[0]))
    for ring, branches, other in ((r6, b6, r5), (r5, b5, r6)):
        y = flip_ring(x, ring, branches)
        np.testing.assert_allclose(flip_ring(y, ring, branches), x, atol=1e-12)
        assert ring_pucker_signs(y, ring) == tuple(-s for s in ring_pucker_signs(x, ring))
        assert ring_pucker_signs(y, other) == ring_pucker_signs(x, other)  # carried rigidly, not flipped
        for before, after in zip(_bond_lengths_and_angles(mol, x), _bond_lengths_and_angles(mol, y)):
            np.testing.assert_allclose(after, before, atol=1e-10)
        assert StereoGuard(mol).ok(np.stack([x, y])).all()
        assert _abs_jacobian_det(lambda p, ring=ring, branches=branches: flip_ring(p, ring, branches), x) == pytest.approx(1.0, abs=1e-6)


def test_chains_from_either_chair_of_a_spiro_ring_agree_with_flips_and_not_without():
    """8-methylspiro[4.5]decane: the cyclohexane's chairs put the methyl axial or equatorial; the
    ring is not isolated (the spiro carbon is in the cyclopentane too), so before revision 12 no
    move flipped it and chains kept their start's chair (the negative control)."""
    mol = embed_seed(parse_molecule("CC1CCC2(CC1)CCCC2"), seed=0)
    ring, branches = next(rb for rb in flippable_rings(mol) if len(rb[0]) == 6)
    assert flippable_rings(mol, spiro=False) == []
    mmff = MMFF(mol)
    seed = mol.GetConformer().GetPositions()
    other = mmff.minimize(flip_ring(seed, ring, branches), max_iters=500)[0]
    eq, ax = (seed, other) if mmff.energy(seed) < mmff.energy(other) else (other, seed)
    quad = (0, 1, 2, 3)
    from_eq, diag = _axial_fraction(1.0, eq, mol, quad)
    from_ax, _ = _axial_fraction(1.0, ax, mol, quad)
    assert diag["n_flippable_rings"] == 2 and diag["ring_flip_acceptance"] > 0.005
    assert 0.0 < from_eq < 0.3 and abs(from_eq - from_ax) < 0.06
    assert _axial_fraction(0.0, eq, mol, quad)[0] == 0.0
    assert _axial_fraction(0.0, ax, mol, quad)[0] == 1.0


def test_rings_fused_to_one_aromatic_ring_flip_last_and_keep_the_aromatic_ring_fixed():
    mol = parse_molecule("C1CCCCC1Cc1ccc2CCCCc2c1")  # an isolated cyclohexane, then a tetralin
    sites = flippable_rings(mol)
    assert [len(s.fixed) for s in sites] == [0, 2]
    assert [len(s.fixed) for s in flippable_rings(mol, fused=False)] == [0]
    fused = sites[1]
    assert sorted(mol.GetAtomWithIdx(int(a)).GetIsAromatic() for a in fused[0]) == [False] * 4 + [True] * 2
    assert set(fused.fixed.tolist()) < set(fused.plane.tolist()) and len(fused.plane) == 6
    assert all(len(b) == 0 for a, b in zip(fused[0], fused[1]) if a in fused.fixed)
    # two aromatic partners (a dihydrophenanthrene), an aromatic ring reached through a branch, a
    # ring that is also spiro: left alone
    assert flippable_rings(parse_molecule("C1Cc2ccccc2-c2ccccc21")) == []
    assert flippable_rings(parse_molecule("C1CCc2ccccc2C1Cc1ccccc1C")) != []  # a benzyl on it is a plain branch
    # a spiro indane: the tetrahydropyran flips (spiro), the indane's ring is both: left alone
    assert [(len(s[0]), len(s.fixed)) for s in flippable_rings(parse_molecule("C1CC2(CCc3ccccc32)CCO1"))] == [(6, 0)]


def test_a_fused_flip_is_an_exact_involution_that_keeps_the_aromatic_ring_and_the_stereo():
    mol = embed_seed(parse_molecule("C[C@@H]1CCc2ccccc2O1"), seed=0)  # 2-methylchroman
    site = flippable_rings(mol)[0]
    ring, branches = site
    rng = np.random.default_rng(2)
    x = mol.GetConformer().GetPositions() + rng.normal(scale=0.02, size=(mol.GetNumAtoms(), 3))
    y = site.flip(x)
    np.testing.assert_allclose(site.flip(y), x, atol=1e-12)
    still = sorted(set(range(mol.GetNumAtoms())) - set(ring.tolist()) - {int(a) for b in branches for a in b})
    np.testing.assert_array_equal(y[still], x[still])  # the benzene ring, its hydrogens and the shared atoms
    moving = set(ring.tolist()) - set(site.fixed.tolist())
    assert (np.abs(y[sorted(moving)] - x[sorted(moving)]).max(axis=1) > 0.1).any()
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    for i, j in bonds:  # lengths kept, up to the aromatic ring's wobble where a bond meets a shared atom
        tol = 0.1 if {i, j} & set(site.fixed.tolist()) else 1e-9
        assert abs(np.linalg.norm(y[i] - y[j]) - np.linalg.norm(x[i] - x[j])) < tol
    bond = pucker_reporter(mol, ring)
    assert axial(x, ring, bond)[0] != axial(y, ring, bond)[0]
    assert StereoGuard(mol).ok(np.stack([x, y])).all()
    assert _abs_jacobian_det(site.flip, x) == pytest.approx(1.0, abs=1e-6)


def test_chains_from_either_half_chair_of_a_chroman_agree_with_flips_and_not_without():
    """2-Methylchroman: the half-chair with the methyl pseudo-axial lies about 1.7 kcal/mol above
    the other. Before revision 12 no move flipped a ring fused to a benzene ring, and chains kept
    their start's half-chair for 2,000 sweeps (the negative control)."""
    mol = embed_seed(parse_molecule("C[C@@H]1CCc2ccccc2O1"), seed=0)
    site = flippable_rings(mol)[0]
    ring = site[0]
    bond = pucker_reporter(mol, ring)
    mmff = MMFF(mol)
    seed = mol.GetConformer().GetPositions()
    other = mmff.minimize(site.flip(seed), max_iters=500)[0]

    def axial_fraction(flips, start):
        cfg = SamplerConfig(seed=0, n_chains=2, warmup_sweeps=100, round_sweeps=200, min_sweeps=2000, max_sweeps=2000,
                            ring_flips_per_sweep=flips)
        res = sample_reference(mol, cfg, starts=np.stack([start, start]))
        return float(axial(res.positions, ring, bond).mean()), res.diagnostics

    a, diag = axial_fraction(1.0, seed)
    b, _ = axial_fraction(1.0, other)
    assert diag["n_flippable_rings"] == 1 and diag["ring_flip_acceptance"] > 0.01
    assert 0.0 < a < 0.3 and 0.0 < b < 0.3 and abs(a - b) < 0.06
    assert {axial_fraction(0.0, seed)[0], axial_fraction(0.0, other)[0]} == {0.0, 1.0}


def test_a_fused_flip_mirrors_the_branches_without_stereocentres_and_stays_exact():
    """Revision 13: the moving side's branches are reflected through the aromatic plane, except
    at (potential) stereocentres, which their frames carry; the map stays an exact involution."""
    mol = embed_seed(parse_molecule("CCCN1C(=O)c2ccccc2N[C@H]1c1ccccc1"), seed=0)  # val-00040
    site = flippable_rings(mol)[0]
    ring, branches = site
    stereo = int(next(a.GetIdx() for a in mol.GetAtoms() if a.GetChiralTag() != a.GetChiralTag().CHI_UNSPECIFIED))
    assert stereo in ring.tolist() and int(np.flatnonzero(ring == stereo)[0]) not in site.mirror.tolist()
    assert sorted(int(ring[k]) for k in site.mirror) == sorted(int(a) for a, b in zip(ring, branches) if len(b) and a != stereo)
    assert flippable_rings(mol, mirror=False)[0].mirror.size == 0
    # an unassigned centre is a stereocentre too (2-methylchroman written without stereo)
    chroman = parse_molecule("CC1CCc2ccccc2O1")
    site2 = flippable_rings(chroman)[0]
    assert all(len(site2[1][k]) == 2 for k in site2.mirror)  # only the two CH2 groups
    rng = np.random.default_rng(3)
    x = mol.GetConformer().GetPositions() + rng.normal(scale=0.02, size=(mol.GetNumAtoms(), 3))
    y = site.flip(x)
    np.testing.assert_allclose(site.flip(y), x, atol=1e-12)
    assert StereoGuard(mol).ok(np.stack([x, y])).all()
    assert _abs_jacobian_det(site.flip, x) == pytest.approx(1.0, abs=1e-6)


def test_a_fused_flip_of_an_achiral_ring_lands_on_the_mirror_image_minimum():
    """Diazepam has no stereocentre: with its branches mirrored, the flip of a minimum is the
    mirror image of that minimum up to the benzene ring's small departure from its plane, so it
    costs about 1 kcal/mol; carried by their frames (revision 12), the phenyl and the carbonyl
    land against the ring system and it costs about 50."""
    mol = embed_seed(parse_molecule("CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21"), seed=0)
    mmff = MMFF(mol)
    x = mmff.minimize(mol.GetConformer().GetPositions())[0]
    e = mmff.energy(x)
    mirrored, carried = flippable_rings(mol)[0], flippable_rings(mol, mirror=False)[0]
    assert mmff.energy(mirrored.flip(x)) - e < 2.0
    assert mmff.energy(carried.flip(x)) - e > 20.0


def test_axial_of_one_geometry_is_that_of_a_batch():
    """The single-geometry path of ``axial`` (the sampler's) gives the batched answer, also for
    bonds close to the threshold."""
    from geomgen.conformers.reference.ring_flip import AXIAL_COSINE

    rng = np.random.default_rng(3)
    pos = rng.normal(size=(400, 12, 3))
    ring, bond = np.arange(6), (1, 9)
    # half of the bonds placed at the threshold's angle to the ring's plane normal, give or take 1e-9
    r = pos[:, ring] - pos[:, ring].mean(1, keepdims=True)
    normal = np.linalg.svd(r)[2][:, -1]
    side = np.cross(normal, rng.normal(size=(400, 3)))
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    cos = AXIAL_COSINE + rng.uniform(-1e-9, 1e-9, 400)
    at = pos[:, 1] + 1.5 * (cos[:, None] * normal + np.sqrt(1 - cos[:, None] ** 2) * side)
    pos[::2, 9] = at[::2]
    batch = axial(pos, ring, bond)
    assert 0 < batch.sum() < len(batch)
    assert all(axial(p, ring, bond).tolist() == [b] for p, b in zip(pos, batch))
