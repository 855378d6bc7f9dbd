"""The move interface of the reference sampler: registry, schedule, settings and diagnostics."""

import dataclasses

import pytest

from geomgen.conformers import embed_seed, parse_molecule
from geomgen.conformers.reference.config import SamplerConfig, config_options
from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.moves.schedule import SCHEDULE
from geomgen.conformers.reference.sampler import System
from geomgen.conformers.torsions import rotatable_torsions

#: fields stored configs, build.py and the evaluation scripts use
STORED_FIELDS = {"temperature", "n_chains", "n_samples", "ladder", "n_replicas", "lambda_min", "ladder_terms", "t_max",
                 "adapt_ladder", "ncmc_per_sweep", "ncmc_torsions", "ncmc_steps", "ncmc_relax", "ncmc_jitter",
                 "ring_flips_per_sweep", "pair_moves_per_sweep", "mirror_moves", "warmup_sweeps", "round_sweeps",
                 "min_sweeps", "max_sweeps", "max_seconds", "max_cpu_seconds", "rhat_target", "ess_target", "w1_target",
                 "p_uniform", "p_jump", "small_sigma", "torsion_passes", "mala_per_sweep", "mala_accept_target", "seed"}


def test_config_fields_come_from_the_sampler_and_its_moves():
    names = [f.name for f in dataclasses.fields(SamplerConfig)]
    assert names == [o.name for o in config_options()] and len(set(names)) == len(names)
    assert STORED_FIELDS <= set(names)
    cfg = SamplerConfig(ring_flips_per_sweep=1.0, mirror_moves=True)
    assert dataclasses.asdict(cfg)["ring_flips_per_sweep"] == 1.0 and cfg.targets.rhat == 1.05
    for opt in config_options():
        assert opt.name in SamplerConfig.__doc__ and opt.problem(opt.default) is None, opt.name


@pytest.mark.parametrize("kwargs, said", [
    (dict(ring_flips_per_sweep=-1.0), "ring_flips_per_sweep must be non-negative"),
    (dict(pair_moves_per_sweep=float("nan")), "pair_moves_per_sweep must be non-negative and finite"),
    (dict(ncmc_torsions="some"), "ncmc_torsions must be one of conjugated, all"),
    (dict(ncmc_steps=0), "ncmc_steps must be at least 1"),
    (dict(temperature=0.0), "temperature must be positive"),
])
def test_move_settings_are_checked(kwargs, said):
    with pytest.raises(ValueError, match=said):
        SamplerConfig(**kwargs)


def test_schedule_order_and_applicability():
    first = ["symmetry", "torsion", "ring_flip", "pair", "ncmc", "mala"]  # the order of the sweep before the registry
    assert [m.name for m in SCHEDULE if m.name in first] == first
    assert all(issubclass(m, Move) and m.name for m in SCHEDULE)
    mol = embed_seed(parse_molecule("CC1CCCCC1"), seed=0)
    ts = rotatable_torsions(mol)
    off = System(mol, ts, SamplerConfig())
    assert [m.name for m in off.schedule] == ["symmetry", "torsion", "mala"]
    on = System(mol, ts, SamplerConfig(ring_flips_per_sweep=1.0, pair_moves_per_sweep=1.0))
    assert [m.name for m in on.schedule] == ["symmetry", "torsion", "ring_flip", "mala"]  # no torsion pair here
    d = on.move_diagnostics()
    for key in ("torsion_acceptance", "ring_flip_acceptance", "pair_acceptance", "mala_acceptance", "ncmc_acceptance",
                "n_flippable_rings", "n_torsion_pairs", "mirror_moves", "n_ncmc_torsions"):
        assert key in d, key
    assert d["n_flippable_rings"] == 1 and d["n_torsion_pairs"] == 0
