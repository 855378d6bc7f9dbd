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
# seed-dependent) and a wrong temperature land outside, which the tests below check.
BOUND = {"ClCCCl": 0.12, "FCCF": 0.1, "CCCC": 0.12}


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
    monkeypatch.setattr(sampler_mod, "_overdispersed_start", lambda mmff, pos, ts, rng: pos)
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
