"""Known answers of the basin search and the sampler's basin check (option ``basin_search``)."""

import math

import numpy as np
import pytest

from geomgen.conformers import MMFF, SamplerConfig, embed_seed, parse_molecule, sample_reference
from geomgen.conformers.reference import basins
from geomgen.conformers.reference.sampler import System
from geomgen.conformers.reference.store import is_converged
from geomgen.conformers.torsions import rotatable_torsions


def test_distinct_sorts_and_merges_equal_energies():
    pos = np.arange(5, dtype=float)[:, None, None] * np.ones((5, 2, 3))
    p, e = basins.distinct(pos, np.array([1.0, 0.0, 0.004, 2.0, 1.02]), resolution=0.01)
    np.testing.assert_array_equal(e, [0.0, 1.0, 1.02, 2.0])
    np.testing.assert_array_equal(p[:, 0, 0], [1.0, 0.0, 4.0, 3.0])  # the first of a merged level is kept


def test_gap_and_miss_known_answers():
    def m(e):
        return basins.Minima(np.zeros((len(e), 1, 3)), np.asarray(e, dtype=float), len(e))

    assert basins.basin_gap(m([-1.0, 0.5]), m([-3.0])) == pytest.approx(2.0)
    assert basins.basin_gap(m([-3.0]), m([-1.0])) == pytest.approx(-2.0)
    assert math.isnan(basins.basin_gap(m([]), m([-1.0])))
    assert not basins.gap_within(0.6, tolerance=0.5) and basins.gap_within(0.5, tolerance=0.5)
    assert not basins.gap_within(float("nan")) and not basins.gap_within(None)  # nothing compared: fails a check
    assert basins.gap_within(None, tolerance=math.inf)  # no check
    assert m([]).lowest == math.inf


def test_search_minima_matches_rdkit_on_the_same_embeddings():
    """The search's lowest minimum is RDKit's MMFF94 minimum of the same ETKDGv3 embeddings."""
    from rdkit import Chem
    from rdkit.Chem import AllChem, rdDistGeom

    mol = embed_seed(parse_molecule("CCCCO"), seed=0)
    found = basins.search_minima(mol, n_starts=12, seed=4)
    copy = Chem.Mol(mol)
    copy.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = 5  # search_minima's seed + 1
    rdDistGeom.EmbedMultipleConfs(copy, 12, params)
    res = AllChem.MMFFOptimizeMoleculeConfs(copy, maxIters=10000)
    assert found.tried == 12
    assert found.lowest == pytest.approx(min(e for _, e in res), abs=1e-3)
    assert np.all(np.diff(found.energies) > basins.ENERGY_RESOLUTION)
    with pytest.raises(ValueError, match="n_starts"):
        basins.search_minima(mol, n_starts=0)


def test_sample_minima_minimises_the_lowest_samples():
    mol = embed_seed(parse_molecule("CCCC"), seed=0)
    mm = MMFF(mol)
    pos = np.repeat(mol.GetConformer().GetPositions()[None], 3, 0) + np.random.default_rng(0).normal(0, 0.05, (3, 14, 3))
    e = mm.energies(pos)
    got = basins.sample_minima(pos, e, mm, n=1)
    assert got.tried == 1
    assert got.lowest == pytest.approx(mm.minimize(pos[np.argmin(e)])[1], abs=1e-6)
    with pytest.raises(ValueError, match="sample_minima"):
        basins.sample_minima(pos, e[:2], mm)


def _amide_states(smiles: str, cfg: SamplerConfig):
    """The molecule, its amide-flip move and the minimised seed in each state, lower energy first."""
    mol = embed_seed(parse_molecule(smiles), seed=0)
    system = System(mol, rotatable_torsions(mol), cfg)
    move = system.moves["amide_flip"]
    seed = mol.GetConformer().GetPositions()
    wells = [system.mmff.minimize(move.set_states(seed, np.array([s])), max_iters=2000) for s in (False, True)]
    wells.sort(key=lambda w: w[1])
    return mol, wells


def test_basin_check_flags_a_run_stuck_in_the_higher_amide_state():
    """Negative control: N-methylacetamide without amide flips, every chain started in the higher
    E/Z state, never leaves it; the torsion rule passes, but the search (random states) finds the
    other state's minimum, about 2 kcal/mol lower, and the run is not converged. With the flips and
    two chains started in the search's lowest basins, the gap closes."""
    budget = dict(n_chains=2, n_samples=200, warmup_sweeps=20, round_sweeps=100, min_sweeps=300, max_sweeps=300,
                  ess_target=20.0, w1_target=0.5, seed=1, basin_search=8, basin_tolerance=0.5)
    stuck_cfg = SamplerConfig(**budget, amide_flips_per_sweep=0.0)
    mol, (low, high) = _amide_states("CNC(C)=O", stuck_cfg)
    assert high[1] - low[1] > 1.0
    stuck = sample_reference(mol, stuck_cfg, starts=np.stack([high[0], high[0]]))
    d = stuck.diagnostics
    assert d["basin_gap"] == pytest.approx(high[1] - low[1], abs=0.05)
    assert d["basin_search_min"] == pytest.approx(low[1], abs=0.05)
    assert d["torsions_converged"] and not d["converged"]
    assert not is_converged({**d, "config": {"basin_tolerance": 0.5}})
    mixed = sample_reference(mol, SamplerConfig(**budget, amide_flips_per_sweep=2.0, basin_starts=2))
    assert mixed.diagnostics["basin_gap"] == pytest.approx(0.0, abs=0.5)


def test_recorded_basin_target_is_part_of_the_label():
    base = {"n_torsions": 1, "rhat": [1.0], "ess": [500.0], "w1": [0.01]}
    assert is_converged(base)
    cfg = {"config": {"basin_tolerance": 0.5}}
    assert is_converged({**base, **cfg, "basin_gap": 0.3})
    assert not is_converged({**base, **cfg, "basin_gap": 0.7})
    assert not is_converged({**base, **cfg, "basin_gap": None})  # a target without a search result fails


def test_config_checks_basin_starts():
    with pytest.raises(ValueError, match="basin_starts"):
        SamplerConfig(basin_starts=2, basin_search=1)
    with pytest.raises(ValueError, match="basin_starts"):
        SamplerConfig(basin_starts=5, basin_search=8, n_chains=4)
    assert SamplerConfig(basin_search=8, basin_starts=2).targets.basin_gap == math.inf
