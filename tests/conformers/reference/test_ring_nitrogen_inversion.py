"""Ring-nitrogen inversion: an exact involution moving an sp3 ring nitrogen's substituent between
axial and equatorial, with a known-answer population test and its negative control."""

import numpy as np
import pytest

from geomgen.conformers import MMFF, embed_seed, parse_molecule
from geomgen.conformers.reference.moves.ring_nitrogen_inversion import invert_ring_nitrogen, ring_nitrogens
from geomgen.conformers.reference.ring_flip import axial
from geomgen.conformers.reference.sampler import SamplerConfig, System, sample_reference
from geomgen.conformers.torsions import rotatable_torsions
from tests.conformers.reference.test_amide_flip import bar_start_share
from tests.conformers.reference.test_nitrogen_inversion import _cos_angles

PIPERIDINE = "C1CCNCC1"  # N-H axial or equatorial: about 1 kcal/mol apart in MMFF94


@pytest.mark.parametrize("smiles, n_sites", [
    (PIPERIDINE, 1), ("CN1CCCCC1", 1), ("CN1CCN(C)CC1", 2), ("CC[C@@H]1COCCN1Cc1cccs1", 1), ("CN1CC1", 1),
    ("C1CC2CCN1CC2", 0),  # quinuclidine: every bond of the nitrogen is in a ring
    ("CC(=O)N1CCCCC1", 0), ("c1ccccc1N1CCCCC1", 0), ("O=C1CCCN1C", 0),  # amide, aniline, lactam: planar
    ("CCN(C)C", 0),  # acyclic: the other inversion move's
    ("C[N@]1C[C@H]1C", 0),  # a chirality tag the user set is kept (an aziridine nitrogen)
])
def test_ring_nitrogens(smiles, n_sites):
    assert len(ring_nitrogens(parse_molecule(smiles))) == n_sites


def test_inversion_is_an_exact_volume_preserving_involution_that_keeps_bonds_and_angles():
    mol = embed_seed(parse_molecule("CC[C@@H]1COCCN1Cc1cccs1"), seed=0)
    site = ring_nitrogens(mol)[0]
    x = mol.GetConformer().GetPositions() + np.random.default_rng(0).normal(scale=0.03, size=(mol.GetNumAtoms(), 3))
    y = invert_ring_nitrogen(x, site)
    np.testing.assert_allclose(invert_ring_nitrogen(y, site), x, atol=1e-12)
    det = lambda p: np.linalg.det(p[site.neighbours] - p[site.n])  # noqa: E731
    assert np.sign(det(x)) == -np.sign(det(y))
    moved = np.concatenate([[site.substituent], site.branch])
    fixed = np.setdiff1d(np.arange(len(x)), moved)
    np.testing.assert_allclose(y[fixed], x[fixed])
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    np.testing.assert_allclose(np.linalg.norm(y[bonds[:, 0]] - y[bonds[:, 1]], axis=1),
                               np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=1), atol=1e-10)
    np.testing.assert_allclose(_cos_angles(mol, y), _cos_angles(mol, x), atol=1e-10)
    size, h = x.size, 1e-6  # |det dF/dx| = 1 by central differences
    jac = np.empty((size, size))
    for k in range(size):
        d = np.zeros(size)
        d[k] = h
        d = d.reshape(x.shape)
        jac[:, k] = (invert_ring_nitrogen(x + d, site) - invert_ring_nitrogen(x - d, site)).ravel() / (2 * h)
    assert abs(np.linalg.det(jac)) == pytest.approx(1.0, abs=1e-6)
    # the move's hooks: the site is monitored (three different neighbours), flip_site is the map
    move = System(mol, rotatable_torsions(mol), SamplerConfig()).moves["ring_nitrogen_inversion"]
    assert move.monitored == [0] and move.state_labels() == [f"ring-nitrogen-{site.n}"] and not move.applicable
    np.testing.assert_allclose(move.flip_site(x, 0), y)
    assert move.states(np.stack([x, y]))[:, 0].tolist() in ([True, False], [False, True])


def _budget(sweeps):
    return dict(seed=0, n_chains=2, warmup_sweeps=100, round_sweeps=sweeps, min_sweeps=sweeps, max_sweeps=sweeps,
                n_samples=2 * sweeps)


def test_piperidine_axial_nh_population_matches_bar_and_needs_the_move():
    """Known answer: piperidine's N-H axial share in MMFF94 at 300 K. Ring flips are off, so the
    chair is fixed and the N-H position is the nitrogen's configuration. Chains without the move
    stay in their start's position (negative control); from their samples, BAR over the map (a
    volume-preserving involution between the two positions: w = u(F x) - u(x)) gives the
    independent population; chains with the move (1 per sweep), started in each position, must
    agree with it within 0.03. Measured: BAR 0.171-0.180; with the move, 2 x 3,000 sweeps, seeds 0-3: 0.188,
    0.160, 0.202, 0.186 (acceptance 0.39). Here 2 x 2,000 sweeps."""
    sweeps = 2000
    mol = embed_seed(parse_molecule(PIPERIDINE), seed=0)
    site, mmff = ring_nitrogens(mol)[0], MMFF(mol)
    ring = np.array(mol.GetRingInfo().AtomRings()[0])
    h = [a.GetIdx() for a in mol.GetAtomWithIdx(site.n).GetNeighbors() if a.GetAtomicNum() == 1][0]
    x = mmff.minimize(mol.GetConformer().GetPositions(), max_iters=2000)[0]
    starts = np.stack([x, mmff.minimize(invert_ring_nitrogen(x, site), max_iters=2000)[0]])
    ax = axial(starts, ring, (site.n, h))
    assert ax[0] != ax[1]
    still = sample_reference(mol, SamplerConfig(**_budget(sweeps)), starts=starts)
    per_chain = axial(still.positions, ring, (site.n, h)).reshape(2, -1)
    assert (per_chain[0] == ax[0]).all() and (per_chain[1] == ax[1]).all()  # negative control
    p_start0 = bar_start_share(mmff, still.positions, lambda p: invert_ring_nitrogen(p, site))
    p_axial_bar = p_start0 if ax[0] else 1 - p_start0
    moved = sample_reference(mol, SamplerConfig(nitrogen_inversions_per_sweep=1.0, **_budget(sweeps)), starts=starts)
    p_axial = axial(moved.positions, ring, (site.n, h)).mean()
    assert moved.diagnostics["n_ring_nitrogens"] == 1 and moved.diagnostics["ring_nitrogen_inversion_acceptance"] > 0.05
    assert 0.05 < p_axial_bar < 0.5
    assert abs(p_axial - p_axial_bar) < 0.03, (p_axial, p_axial_bar, moved.diagnostics["ring_nitrogen_inversion_acceptance"])
