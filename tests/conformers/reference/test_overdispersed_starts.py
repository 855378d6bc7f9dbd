"""Over-dispersed starts: each chain its own embedding, discrete states spread over the chains, and
a convergence label that sees a slow state the moves cannot change."""

import numpy as np

from geomgen.conformers import SamplerConfig, embed_seed, parse_molecule, sample_reference
from geomgen.conformers.reference.sampler import System, _overdispersed_start, _state_targets
from geomgen.conformers.torsions import rotatable_torsions

AMINE = "CCCN(C)CC"  # N-methyl-N-ethylpropylamine: an invertible nitrogen with three different neighbours
SHORT = dict(n_chains=4, n_samples=200, warmup_sweeps=50, round_sweeps=300, min_sweeps=300, max_sweeps=300, seed=2)


def test_starts_are_own_embeddings_with_every_state_of_every_site():
    mol = embed_seed(parse_molecule(AMINE), seed=0)
    ts = rotatable_torsions(mol)
    system = System(mol, ts, SamplerConfig())
    assert system.state_labels() == [f"nitrogen-{next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == 'N')}"]
    targets = _state_targets(system, 4, np.random.default_rng(0))
    assert sorted(t[0] for t in targets) == [False, False, True, True]
    seed = mol.GetConformer().GetPositions()
    starts = [_overdispersed_start(system, seed, ts, np.random.default_rng(c), t) for c, t in enumerate(targets)]
    assert [bool(system.states(s[None])[0, 0]) for s in starts] == [bool(t[0]) for t in targets]
    own = [_overdispersed_start(system, seed, ts, np.random.default_rng(9), targets[0], own_embedding=o) for o in (True, False)]
    assert not np.allclose(own[0], own[1])  # the chain's own embedding, not the seed


def test_a_state_no_move_changes_is_labelled_unconverged_and_mixes_with_its_move():
    """Negative control: without nitrogen inversions the chains keep the configurations they
    start in (half in each), so the label is 'not converged' however well the torsions mix; with
    them, the achiral amine's two configurations are equally populated (exactly 1/2)."""
    mol = embed_seed(parse_molecule(AMINE), seed=0)
    stuck = sample_reference(mol, SamplerConfig(**SHORT))
    d = stuck.diagnostics
    assert d["state_rhat_max"] == np.inf and not d["states_converged"] and not d["converged"]
    assert d["state_population"] == [0.5]  # two chains in each configuration, none leaving it
    mixed = sample_reference(mol, SamplerConfig(nitrogen_inversions_per_sweep=1.0, **{**SHORT, "round_sweeps": 600,
                                                                                   "min_sweeps": 600, "max_sweeps": 600}))
    d = mixed.diagnostics
    # measured (seeds 2, 3): R-hat 1.055 / 1.025, ESS 105 / 132, population 0.47 / 0.55; the torsions'
    # own ESS (19-38 at this length) bounds how fast the configuration can mix
    assert d["state_rhat_max"] < 1.1 and d["state_ess_min"] > 50
    assert abs(d["state_population"][0] - 0.5) < 0.1
    assert mixed.states.shape == (200, 1)


def test_a_molecule_whose_chains_never_leave_their_states_is_given_up_early():
    """With a CPU cap, a site on which every chain has stayed in its own start state (half in
    each) once ``give_up_after`` of the cap is spent stops the molecule as not converged, naming
    the site; without a cap, or with ``give_up_after=0``, it runs on."""
    mol = embed_seed(parse_molecule(AMINE), seed=0)
    capped = dict(SHORT, round_sweeps=20, min_sweeps=20, max_sweeps=100_000, max_cpu_seconds=40.0)
    d = sample_reference(mol, SamplerConfig(**{**capped, "give_up_after": 0.01})).diagnostics
    assert d["gave_up_on"] == ["nitrogen-3"] and not d["converged"]
    assert d["cpu_seconds"] < 20 and d["sweeps_per_chain"] < 100_000
    d = sample_reference(mol, SamplerConfig(**SHORT)).diagnostics
    assert d["gave_up_on"] == [] and d["sweeps_per_chain"] == SHORT["max_sweeps"]


def test_projected_shortfall_known_answers():
    """ESS grows in proportion to CPU time and a mixed torsion's inter-half W1 shrinks as its
    inverse square root: at a quarter of the budget, ESS 40 projects to 160 and W1 0.3 to 0.15."""
    from geomgen.conformers.reference.convergence import ConvergenceTargets
    from geomgen.conformers.reference.sampler import _projected_shortfall

    t = ConvergenceTargets(ess=400.0, w1=0.1)
    conv = {"ess": [40.0, 120.0], "w1": [0.05, 0.3]}
    st = {"state_names": ["amide-0"], "state_ess": [60.0]}
    out = _projected_shortfall(conv, st, 0.25, t, margin=2.0)
    assert out == ["projected: torsion 0 ESS 40 -> 160 at the cap (target 400)"]
    # W1 0.3 at a quarter projects to 0.15 <= 2 x 0.1: not a shortfall; 0.5 projects to 0.25 > 0.2: one
    assert not any("torsion 1" in r for r in out)
    assert any("torsion 1 inter-half W1" in r for r in _projected_shortfall({"ess": [400.0, 400.0], "w1": [0.05, 0.5]}, {}, 0.25, t, 2.0))
    # a state's ESS is projected the same way: 40 -> 160 < 200 is a shortfall, 60 -> 240 is not
    assert _projected_shortfall({"ess": [], "w1": []}, {"state_names": ["amide-0"], "state_ess": [40.0]}, 0.25, t, 2.0) == [
        "projected: amide-0 ESS 40 -> 160 at the cap (target 400)"]
    assert _projected_shortfall(conv, st, 0.25, t, margin=0.0) == []  # 0: never projects
    assert _projected_shortfall({"ess": [400.0], "w1": [0.05]}, {}, 1.0, t, 2.0) == []


def test_a_molecule_that_cannot_reach_its_targets_in_its_budget_is_stopped_early():
    """With a CPU cap, a molecule whose convergence figures, extrapolated to the cap, fall short by
    more than ``projection_margin`` is stopped once ``give_up_after`` of the cap is spent, the reason
    named; with ``projection_margin=0`` it runs on."""
    mol = embed_seed(parse_molecule("CCCC"), seed=0)
    capped = dict(SHORT, round_sweeps=20, min_sweeps=20, max_sweeps=2_000, max_cpu_seconds=40.0, give_up_after=0.01,
                  ess_target=1e7)
    d = sample_reference(mol, SamplerConfig(**capped)).diagnostics
    assert not d["converged"] and d["gave_up_on"] and d["gave_up_on"][0].startswith("projected: torsion 0 ESS")
    assert d["sweeps_per_chain"] < 2_000 and d["cpu_seconds"] < 20
    d = sample_reference(mol, SamplerConfig(**{**capped, "projection_margin": 0.0, "max_sweeps": 100})).diagnostics
    assert d["gave_up_on"] == [] and d["sweeps_per_chain"] == 100
