"""Known-answer tests of the MMFF94 Boltzmann reference sampler."""

import math

import numpy as np
import pytest

import geomgen.conformers.reference.sampler as sampler_mod
from geomgen.conformers import (
    SamplerConfig,
    embed_seed,
    parse_molecule,
    relaxed_torsion_scan,
    rigid_torsion_scan,
    sample_reference,
    stereo_matches,
)
from geomgen.metrics import KB_KCAL_PER_MOL_K, boltzmann_weights, circular_wasserstein

LONG = dict(n_chains=2, n_samples=4000, warmup_sweeps=200, round_sweeps=12000, min_sweeps=12000, max_sweeps=12000)

# Distance of the exact flexible marginal to the relaxed (adiabatic) scan, measured with this
# file's settings (2 chains x 12,000 sweeps, seed 1): 1,2-dichloroethane 0.106, 1,2-difluoroethane
# 0.031, butane 0.060 rad; with 4 chains: 0.102, 0.032, 0.099. Between-chain distances at this
# length are 0.01-0.10 rad, so the adiabatic gap of DCE and butane sits at about 0.1 rad and a 0.1
# bound would test Monte Carlo noise: they get 0.12. A rigid rotor (0.11-0.45 rad from the scan,
# seed-dependent) and a wrong temperature land outside, which the tests below check. Butane's
# marginal is the noisiest: with over-dispersed starts (own embeddings) over seeds 1-3, pooled
# 0.064-0.130 rad, single chains 0.058-0.152 (seed starts: 0.079-0.119), so it gets 0.15.
BOUND = {"ClCCCl": 0.12, "FCCF": 0.1, "CCCC": 0.15}


@pytest.fixture(scope="module")
def samples():
    out = {}
    for smi in BOUND:
        mol = embed_seed(parse_molecule(smi), seed=0)
        out[smi] = (mol, sample_reference(mol, SamplerConfig(seed=1, **LONG)))
    return out


@pytest.mark.parametrize("smiles", list(BOUND))
def test_marginal_matches_relaxed_scan_and_chains_agree(samples, smiles):
    mol, res = samples[smiles]
    grid, energies = relaxed_torsion_scan(mol, n_grid=180)
    w = boltzmann_weights(energies)
    d = circular_wasserstein(res.angles[:, 0], grid, v_weights=w)
    assert d < BOUND[smiles]
    assert res.diagnostics["rhat_max"] < 1.05
    assert res.diagnostics["interchain_w1_max"] < 0.12
    # a wrong temperature lands well outside the bound
    hot = boltzmann_weights(energies, temperature=900.0)
    assert circular_wasserstein(res.angles[:, 0], grid, v_weights=hot) > d + 0.1


def test_rigid_rotor_is_seed_dependent_and_off():
    """Why a rigid rotor is not enough: DCE scans from anti and gauche minimised seeds differ."""
    from rdkit import Chem

    from geomgen.conformers import MMFF, rotatable_torsions, set_torsions

    mol = embed_seed(parse_molecule("ClCCCl"), seed=0)
    mm, ts = MMFF(mol), rotatable_torsions(mol)
    scans = []
    for phi in (math.pi, 1.1):
        pos, _ = mm.minimize(set_torsions(mol.GetConformer().GetPositions(), ts, np.array([phi])), max_iters=2000)
        m = Chem.Mol(mol)
        for a, p in enumerate(pos):
            m.GetConformer().SetAtomPosition(a, p.tolist())
        g, e = rigid_torsion_scan(m)
        scans.append((g, boltzmann_weights(e)))
    assert circular_wasserstein(scans[0][0], scans[1][0], scans[0][1], scans[1][1]) > 0.15


def test_rigid_moves_reproduce_rigid_scan(monkeypatch):
    """With MALA off and the chain started on the seed, torsion moves alone sample the rigid
    rotor exactly: checks the Metropolis rule of the torsion moves."""
    mol = embed_seed(parse_molecule("ClCCCl"), seed=0)
    monkeypatch.setattr(sampler_mod, "_overdispersed_start", lambda system, pos, ts, rng, target=None, own_embedding=True: pos)
    res = sample_reference(mol, SamplerConfig(seed=3, mala_per_sweep=-1, **{**LONG, "warmup_sweeps": 20}))
    g, e = rigid_torsion_scan(mol, n_grid=720)
    assert circular_wasserstein(res.angles[:, 0], g, v_weights=boltzmann_weights(e)) < 0.03


def test_equipartition(samples):
    """Mean energy above the minimum is (3N - 6) kT / 2 for a near-harmonic molecule (MALA)."""
    mol, res = samples["FCCF"]

    e_min = relaxed_torsion_scan(mol, n_grid=36)[1].min()
    n = mol.GetNumAtoms()
    expected = (3 * n - 6) * KB_KCAL_PER_MOL_K * 300 / 2
    assert res.energies.mean() - e_min == pytest.approx(expected, rel=0.15)


def test_output_shapes_stereo_and_reproducibility():
    mol = embed_seed(parse_molecule("C[C@@H](N)Cc1ccccc1"), seed=0)
    cfg = SamplerConfig(n_chains=2, n_samples=50, warmup_sweeps=20, round_sweeps=100, min_sweeps=100, max_sweeps=100, seed=4)
    a, b = sample_reference(mol, cfg), sample_reference(mol, cfg)
    t = len(a.torsions)
    assert a.angles.shape == (50, t) and a.energies.shape == (50,) and a.positions.shape == (50, mol.GetNumAtoms(), 3)
    assert a.chains.shape == (2, 100, t)
    np.testing.assert_array_equal(a.angles, b.angles)
    for key in ("torsion_acceptance", "mala_acceptance", "rhat_max", "ess_min", "interchain_w1_max", "converged", "seconds"):
        assert key in a.diagnostics
    assert 0 < a.diagnostics["torsion_acceptance"] < 1 and 0.2 < a.diagnostics["mala_acceptance"] < 0.95
    from rdkit import Chem

    m = Chem.Mol(mol)
    for p in a.positions[::10]:
        for i, x in enumerate(p):
            m.GetConformer().SetAtomPosition(i, x.tolist())
        assert stereo_matches(m, reference=mol)


MID = dict(n_chains=2, n_samples=4000, warmup_sweeps=200, round_sweeps=5000, min_sweeps=5000, max_sweeps=5000)


@pytest.mark.parametrize(
    "moves",
    [
        pytest.param(dict(torsion_passes=0, ncmc_per_sweep=1.0, ncmc_torsions="all"), id="ncmc-only"),
        pytest.param(dict(n_replicas=3, ladder="hamiltonian", lambda_min=0.0), id="hamiltonian-ladder"),
        pytest.param(dict(n_replicas=3, ladder="hamiltonian", lambda_min=0.0, ladder_terms="torsion+electrostatic"),
                     id="hamiltonian-ladder-electrostatics"),
        pytest.param(dict(n_replicas=3, ladder="temperature", t_max=700.0), id="temperature-ladder"),
    ],
)
def test_barrier_crossing_moves_are_exact(samples, moves):
    """Each new move alone keeps the Boltzmann law: on DCE (an exactly known marginal up to the
    adiabatic gap measured above) the NCMC-only chain (no rigid torsion moves at all) and the
    target rung of replica ladders reproduce the relaxed scan and the long default chains."""
    mol, ref = samples["ClCCCl"]
    res = sample_reference(mol, SamplerConfig(seed=5, **MID, **moves))
    grid, energies = relaxed_torsion_scan(mol, n_grid=180)
    assert circular_wasserstein(res.angles[:, 0], grid, v_weights=boltzmann_weights(energies)) < BOUND["ClCCCl"]
    assert circular_wasserstein(res.angles[:, 0], ref.angles[:, 0]) < 0.06
    anti = lambda a: np.mean(np.abs(a) > 2.0)  # noqa: E731
    assert anti(res.angles[:, 0]) == pytest.approx(anti(ref.angles[:, 0]), abs=0.04)
    d = res.diagnostics
    if moves.get("n_replicas", 1) > 1:
        assert len(d["swap_acceptance"]) == 2 and min(d["swap_acceptance"]) > 0.2
        lam, temp = d["ladder_lambda"], d["ladder_temperature"]
        assert lam[0] == 1.0 and temp[0] == pytest.approx(300.0)
    else:
        assert d["ncmc_acceptance"] > 0.05 and d["torsion_acceptance"] == 0.0


def test_config_is_validated():
    with pytest.raises(ValueError, match="n_chains"):
        SamplerConfig(n_chains=1)
    with pytest.raises(ValueError, match="ladder"):
        SamplerConfig(ladder="magic")
    with pytest.raises(ValueError, match="lambda_min"):
        SamplerConfig(lambda_min=1.0)
    with pytest.raises(ValueError, match="ladder_terms"):
        SamplerConfig(ladder_terms="vdw")
    with pytest.raises(ValueError, match="min_sweeps"):
        SamplerConfig(min_sweeps=10, max_sweeps=5)
    with pytest.raises(ValueError, match="agreement_target"):
        SamplerConfig(agreement_target=1.5)


def test_sparse_convergence_checks_keep_the_samples_and_the_final_figures():
    """Checking the rule at geometrically spaced rounds changes when it is read, not what is
    sampled: a fixed-length run gives the same samples and final figures as checking every round,
    with fewer checks (at growth 0.5 and rounds of 100: 100, 200, 300, 500, 800, 1200, 1800 and the cap)."""
    mol = embed_seed(parse_molecule("CCCC"), seed=0)
    budget = dict(n_chains=2, n_samples=200, warmup_sweeps=20, round_sweeps=100, min_sweeps=2000, max_sweeps=2000,
                  ess_target=1e9, seed=3)
    every = sample_reference(mol, SamplerConfig(**budget, check_growth=0.0))
    sparse = sample_reference(mol, SamplerConfig(**budget, check_growth=0.5))
    np.testing.assert_array_equal(every.angles, sparse.angles)
    assert every.diagnostics["convergence_checks"] == 20
    assert sparse.diagnostics["convergence_checks"] == 8
    for key in ("rhat", "ess", "w1", "converged"):
        assert every.diagnostics[key] == sparse.diagnostics[key]


def test_stored_samples_grow_with_the_ess_up_to_max_samples():
    """With ``max_samples`` the stored count is the smallest torsion ESS clipped to
    [n_samples, max_samples]; without it, always n_samples."""
    from geomgen.conformers.reference.sampler import _n_keep

    base = dict(n_chains=2, n_samples=100, warmup_sweeps=10, round_sweeps=100, min_sweeps=1000, max_sweeps=1000, ess_target=1e9, seed=5)
    assert _n_keep({"ess": [350.4, 900.0]}, SamplerConfig(**base, max_samples=300)) == 300
    assert _n_keep({"ess": [150.4, 900.0]}, SamplerConfig(**base, max_samples=300)) == 150
    assert _n_keep({"ess": [50.0]}, SamplerConfig(**base, max_samples=300)) == 100
    assert _n_keep({"ess": [5000.0]}, SamplerConfig(**base)) == 100
    assert _n_keep({"ess": []}, SamplerConfig(**base, max_samples=300)) == 100
    mol = embed_seed(parse_molecule("CCCC"), seed=0)
    res = sample_reference(mol, SamplerConfig(**base, max_samples=10_000))
    want = int(np.clip(round(min(res.diagnostics["ess"])), 100, 2000))  # 2 chains x 1000 sweeps recorded
    assert len(res.angles) == len(res.energies) == len(res.states) == want > 100


def test_agreement_target_runs_on_until_an_exact_rerun_would_agree():
    """Butane's two gauche and one anti wells pass R-hat/ESS/W1 early; with an agreement target the
    run goes on until its own ensemble's figure reaches it, and records the figure; without one it
    records none."""
    mol = embed_seed(parse_molecule("CCCC"), seed=0)
    budget = dict(n_chains=2, n_samples=800, warmup_sweeps=50, round_sweeps=100, min_sweeps=100, max_sweeps=6000,
                  ess_target=50.0, seed=2)
    plain = sample_reference(mol, SamplerConfig(**budget))
    strict = sample_reference(mol, SamplerConfig(**budget, agreement_target=0.97))
    assert plain.diagnostics["converged"] and plain.diagnostics["self_agreement"] is None
    d = strict.diagnostics
    assert d["converged"] and d["self_agreement"] >= 0.97
    assert d["sweeps_per_chain"] > plain.diagnostics["sweeps_per_chain"]
    from geomgen.conformers.reference.verification import Ensemble, self_agreement

    # the recorded figure is that of the stored ensemble
    ens = Ensemble(torsion_atoms=np.asarray(strict.torsions.atoms), angles=strict.angles, symmetry=strict.symmetry,
                   diagnostics=d)
    assert self_agreement(ens, seed=2) == pytest.approx(d["self_agreement"], abs=1e-12)


def _wells(mol, phis):
    """Minimised geometries with the first rotatable torsion held near each angle of ``phis``."""
    from geomgen.conformers import MMFF, dihedral_angles, rotatable_torsions, set_torsions

    mm, ts = MMFF(mol), rotatable_torsions(mol)
    seed = mol.GetConformer().GetPositions()
    out = []
    for phi in phis:
        ang = dihedral_angles(seed, ts.atoms)
        ang[0] = phi
        out.append(mm.minimize(set_torsions(seed, ts, ang), max_iters=2000)[0])
    return np.stack(out)


def test_conjugated_aryl_carbonyl_chains_from_each_well_agree():
    """The hard case: 3-chloroacetophenone's aryl-carbonyl torsion, two planar states that differ
    (asymmetric ring), a 6 kcal/mol relaxed barrier. Two chains start in the syn well and two in
    the anti well; with relaxation (MALA between torsion moves) the halves agree and the syn
    population matches the relaxed scan's Boltzmann weight (0.48; the flexible marginal differs
    from the adiabatic scan by the entropy of the other coordinates, measured 0.47-0.59 over seeds
    at this length). Negative control, same budget and starts: the rigid-move sampler (no
    relaxation, a rigid rotor on each start) keeps each chain near its own well."""
    mol = embed_seed(parse_molecule("CC(=O)c1cccc(Cl)c1"), seed=0)
    starts = _wells(mol, [0.0, 0.0, math.pi, math.pi])
    grid, energies = relaxed_torsion_scan(mol, n_grid=72)
    p_scan = boltzmann_weights(energies)[np.abs(grid) < math.pi / 2].sum()
    budget = dict(n_chains=4, n_samples=2000, warmup_sweeps=100, round_sweeps=8000, min_sweeps=8000, max_sweeps=8000, seed=11)
    res = sample_reference(mol, SamplerConfig(**budget), starts=starts)
    syn = np.abs(res.chains[:, :, 0]) < math.pi / 2
    assert res.diagnostics["interchain_w1_max"] < 0.2
    assert syn.mean() == pytest.approx(p_scan, abs=0.12)
    assert np.ptp(syn.mean(1)) < 0.2  # every chain visits both wells at similar rates
    rigid = sample_reference(mol, SamplerConfig(**budget, mala_per_sweep=-1), starts=starts)
    rigid_syn = (np.abs(rigid.chains[:, :, 0]) < math.pi / 2).mean(1)
    assert rigid.diagnostics["interchain_w1_max"] > 1.0
    assert rigid_syn[:2].min() > 0.7 and rigid_syn[2:].max() < 0.3


def test_torsion_pairs_commute_and_shift_only_their_dihedrals():
    """The two rotations of a pair move commute and change only their own two dihedrals (by
    +-delta each): the move is a translation in torsion space, so its proposal is symmetric."""
    from geomgen.conformers import rotatable_torsions
    from geomgen.conformers.reference.moves.rigid_torsion import rotate_side as _rotate_side
    from geomgen.conformers.reference.moves.torsion_pair import torsion_pairs
    from geomgen.conformers.torsions import dihedral_angles

    rng = np.random.default_rng(0)
    for smi in ("CCCCC", "CC(C)CCOc1ccccc1C(=O)NCC", "O=C(COc1ccccc1)NCc1ccncc1"):
        mol = embed_seed(parse_molecule(smi), seed=0)
        ts = rotatable_torsions(mol)
        pos = mol.GetConformer().GetPositions()
        pairs = torsion_pairs(mol, ts)
        assert pairs, smi
        bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
        for t1, t2, m1, m2 in pairs:
            (j1, k1), (j2, k2) = ts.atoms[t1, 1:3], ts.atoms[t2, 1:3]
            d1, d2 = rng.uniform(-math.pi, math.pi, 2)
            a = _rotate_side(_rotate_side(pos, j1, k1, m1, d1), j2, k2, m2, d2)
            b = _rotate_side(_rotate_side(pos, j2, k2, m2, d2), j1, k1, m1, d1)
            np.testing.assert_allclose(a, b, atol=1e-9)
            shift = np.angle(np.exp(1j * (dihedral_angles(a, ts.atoms) - dihedral_angles(pos, ts.atoms))))
            others = np.delete(np.arange(len(ts)), [t1, t2])
            np.testing.assert_allclose(shift[others], 0.0, atol=1e-9)
            for t, d in ((t1, d1), (t2, d2)):  # +-d, modulo 2 pi
                assert min(abs(abs(shift[t]) - abs(d)), abs(2 * math.pi - abs(shift[t]) - abs(d))) < 1e-9
            np.testing.assert_allclose(np.linalg.norm(a[bonds[:, 0]] - a[bonds[:, 1]], axis=1),
                                       np.linalg.norm(pos[bonds[:, 0]] - pos[bonds[:, 1]], axis=1), atol=1e-9)


def test_mirror_move_applies_to_molecules_without_stereocentres_and_keeps_the_energy():
    from geomgen.conformers import MMFF
    from geomgen.conformers.reference.moves.symmetry import mirror_symmetric

    assert mirror_symmetric(parse_molecule("CCCCC")) and mirror_symmetric(parse_molecule("O=C(COc1ccccc1)NCc1ccncc1"))
    assert not mirror_symmetric(parse_molecule("C[C@H](N)CCc1ccccc1"))  # a stereocentre
    assert not mirror_symmetric(parse_molecule("CC(N)CCc1ccccc1"))  # an unassigned one the seed fixes
    assert mirror_symmetric(parse_molecule("CCC1CCCCC1"))  # the samples record their handedness
    mol = embed_seed(parse_molecule("O=C(COc1ccccc1)NCc1ccncc1"), seed=0)
    mm, pos = MMFF(mol), mol.GetConformer().GetPositions()
    assert mm.energy(-pos) == pytest.approx(mm.energy(pos), abs=1e-8)


def test_pair_and_mirror_moves_are_exact():
    """Pentane's two coupled torsions: a chain whose torsions change only by pair moves (with
    mirror moves) gives the same joint anti/gauche+/gauche- occupancy and marginals as the
    default move set."""
    mol = embed_seed(parse_molecule("CCCCC"), seed=0)
    # starts on the seed: this tests the moves, not the starts (test_overdispersed_starts.py does)
    ref = sample_reference(mol, SamplerConfig(seed=6, own_embeddings=False, **MID))
    res = sample_reference(mol, SamplerConfig(seed=7, torsion_passes=0, pair_moves_per_sweep=3.0, mirror_moves=True,
                                              own_embeddings=False, **MID))
    assert res.diagnostics["mirror_moves"] and res.diagnostics["n_torsion_pairs"] == 1
    assert 0.02 < res.diagnostics["pair_acceptance"] < 0.9 and res.diagnostics["torsion_acceptance"] == 0.0

    def occupancy(angles):
        state = np.digitize(angles, [-2 * math.pi / 3, 0.0, 2 * math.pi / 3]) % 3  # 0: anti, 1: g-, 2: g+
        return np.bincount(state[:, 0] * 3 + state[:, 1], minlength=9) / len(angles)

    assert 0.5 * np.abs(occupancy(res.angles) - occupancy(ref.angles)).sum() < 0.05
    for t in range(2):  # two default chains of this length with other seeds differ by 0.043-0.049 rad
        assert circular_wasserstein(res.angles[:, t], ref.angles[:, t]) < 0.08


def test_refine_carries_a_wrong_start_law_to_the_boltzmann_marginal():
    """Every refine chain runs a kernel that leaves the Boltzmann law invariant: 400 chains all
    started in one gauche well of 1,2-dichloroethane reach the relaxed scan's marginal after 50
    sweeps (measured 0.04 rad; bound as for the long chains above), while the starts themselves
    are far from it (negative control: 1.9 rad)."""
    from geomgen.conformers import MMFF, dihedral_angles, refine, rotatable_torsions, set_torsions

    mol = embed_seed(parse_molecule("ClCCCl"), seed=0)
    ts = rotatable_torsions(mol)
    grid, energies = relaxed_torsion_scan(mol, n_grid=180)
    w = boltzmann_weights(energies)
    starts = set_torsions(mol.GetConformer().GetPositions(), ts, np.full((400, 1), math.pi / 3))
    assert circular_wasserstein(dihedral_angles(starts, ts.atoms)[:, 0], grid, v_weights=w) > 1.0
    res = refine(mol, starts, sweeps=50, seed=0)
    assert circular_wasserstein(dihedral_angles(res.positions, ts.atoms)[:, 0], grid, v_weights=w) < BOUND["ClCCCl"]
    np.testing.assert_allclose(res.energies, MMFF(mol).energies(res.positions), atol=1e-6)
    assert res.diagnostics["sweeps"] == 50 and 0.2 < res.diagnostics["torsion_acceptance"] < 0.8
    np.testing.assert_array_equal(res.positions[:3], refine(mol, starts[:3], sweeps=50, seed=0).positions[:3])
    np.testing.assert_array_equal(refine(mol, starts[:2], sweeps=0).positions, starts[:2])  # no sweeps, no move
    # a few chains recording every 10 sweeps: same marginal, chain labels, convergence figures
    few = refine(mol, starts[:4], sweeps=10, samples_per_chain=100, seed=1)
    assert few.positions.shape == (400, 8, 3) and (few.chain == np.repeat(np.arange(4), 100)).all()
    assert circular_wasserstein(dihedral_angles(few.positions, ts.atoms)[:, 0], grid, v_weights=w) < BOUND["ClCCCl"]
    assert few.diagnostics["rhat_max"] < 1.1 and 20 < few.diagnostics["ess_min"] <= 400
    with pytest.raises(ValueError, match=r"refine: starts must be \[M, 8, 3\]"):
        refine(mol, starts[:, :4])
    with pytest.raises(ValueError, match="non-negative"):
        refine(mol, starts, sweeps=-1)
    with pytest.raises(ValueError, match="samples_per_chain must be at least 1"):
        refine(mol, starts, samples_per_chain=0)
