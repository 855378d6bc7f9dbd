"""Torsion moves proposed from a law: the proposal's density, the rotation, and exactness of the
Metropolis-Hastings step against known stationary laws (with a negative control)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from geomgen.conformers import embed_seed, parse_molecule
from geomgen.conformers.reference.moves.law_proposal import TorsionLawMove, TorsionProposal
from geomgen.conformers.reference.sampler import REFINE_MOVES, SamplerConfig, System, refine
from geomgen.conformers.torsions import dihedral_angles, rotatable_torsions
from geomgen.distributions import VonMisesMixture


def _law(t=1):
    w = np.tile([[0.7, 0.3]], (t, 1))
    return TorsionProposal(w, np.tile([[1.0, -2.0]], (t, 1)), np.tile([[8.0, 3.0]], (t, 1)))


def test_proposal_density_is_normalised_and_matches_scipy():
    law = _law()
    total, _ = integrate.quad(lambda x: math.exp(law.log_prob(0, x)), -math.pi, math.pi, limit=200)
    assert total == pytest.approx(1.0, abs=1e-8)
    for x in (-3.0, 0.0, 1.0, 2.5):
        want = 0.7 * stats.vonmises.pdf(x, 8.0, loc=1.0) + 0.3 * stats.vonmises.pdf(x, 3.0, loc=-2.0)
        assert math.exp(law.log_prob(0, x)) == pytest.approx(want, rel=1e-10)
    big = TorsionProposal([[1.0]], [[0.0]], [[5000.0]])  # no overflow at high concentration
    assert math.exp(big.log_prob(0, 0.0)) == pytest.approx(stats.vonmises.pdf(0.0, 5000.0), rel=1e-8)


def test_proposal_draws_follow_the_mixture():
    law, rng = _law(), np.random.default_rng(0)
    x = np.array([law.sample(0, rng) for _ in range(20000)])
    assert x.min() >= -math.pi and x.max() < math.pi

    def cdf(v):
        v = np.atleast_1d(v)
        return np.array([integrate.quad(lambda y: math.exp(law.log_prob(0, y)), -math.pi, u)[0] for u in v])

    grid = np.linspace(-math.pi, math.pi, 41)
    emp = (x[None, :] <= grid[:, None]).mean(1)
    assert np.abs(emp - cdf(grid)).max() < 0.015  # KS distance, n = 20000 (critical value at 1e-3: 0.014)


def test_proposal_from_the_network_mixture_and_checks():
    mix = VonMisesMixture(torch.tensor([[0.5, -1.0]]), torch.tensor([[4.0, 2.0]]), torch.tensor([[0.0, math.log(3.0)]]))
    law = TorsionProposal.from_mixture(mix)
    for x in (-2.0, 0.3, 3.0):
        assert law.log_prob(0, x) == pytest.approx(float(mix.log_prob(torch.tensor([x]))[0]), abs=1e-6)
    with pytest.raises(ValueError, match="share one"):
        TorsionProposal([[1.0]], [[0.0, 1.0]], [[1.0]])
    with pytest.raises(ValueError, match="positive and finite"):
        TorsionProposal([[1.0]], [[0.0]], [[0.0]])
    with pytest.raises(ValueError, match="sum to 1"):
        TorsionProposal([[0.5, 0.2]], [[0.0, 1.0]], [[1.0, 1.0]])


class _Rung:
    """A rung whose reduced energy is ``-a cos(phi_0)``: phi_0's stationary law is von Mises(0, a)."""

    def __init__(self, pos, atoms, a, seed, correct=True):
        self.pos, self.atoms, self.a, self.correct = pos, atoms, a, correct
        self.rng = np.random.default_rng(seed)
        self.u = self._u(pos)

    def _u(self, pos):
        return -self.a * math.cos(float(dihedral_angles(pos, self.atoms[:1])[0]))

    def metropolis(self, new, log_correction=0.0):
        u = self._u(new)
        if self.correct is None:  # accept everything: the proposal itself
            self.pos, self.u = new, u
            return True
        if math.log(self.rng.random() + 1e-300) < self.u - u + (log_correction if self.correct else 0.0):
            self.pos, self.u = new, u
            return True
        return False


def _butane_move(law):
    mol = embed_seed(parse_molecule("CCCC"), seed=0)
    ts = rotatable_torsions(mol)
    system = System(mol, ts, SamplerConfig(law_moves_per_sweep=1.0))
    system.use_law(law)
    assert isinstance(system.moves["law"], TorsionLawMove)
    return mol, ts, system


@pytest.mark.parametrize("a", [0.0, 2.0])
def test_law_moves_leave_the_target_invariant_and_the_uncorrected_rule_does_not(a):
    # a proposal away from the target (peaked at -2.3 rad, with tails heavy enough that the
    # independence sampler mixes); the target: uniform (a = 0) or von Mises(0, 2)
    law = TorsionProposal([[1.0]], [[-2.3]], [[1.0]])
    mol, ts, system = _butane_move(law)
    move = system.moves["law"]
    assert move in system.schedule
    target = stats.vonmises(a, loc=0.0) if a > 0 else stats.uniform(-math.pi, 2 * math.pi)
    for correct, agrees in ((True, True), (False, False)):
        phis = []
        for chain in range(3):
            rung = _Rung(mol.GetConformer().GetPositions(), ts.atoms, a, seed=chain, correct=correct)
            for s in range(2000):
                move.step(rung)
                if s >= 200:
                    phis.append(float(dihedral_angles(rung.pos, ts.atoms[:1])[0]))
        # thinned for the KS test (successive states are correlated)
        p = stats.kstest(np.array(phis)[::10], target.cdf).pvalue
        assert (p > 1e-3) == agrees, (correct, p)


def test_law_move_turns_the_torsion_to_the_drawn_angle_and_keeps_the_rest():
    law = TorsionProposal([[1.0]], [[2.0]], [[50.0]])
    mol, ts, system = _butane_move(law)
    move = system.moves["law"]
    pos0 = mol.GetConformer().GetPositions()
    rung = _Rung(pos0.copy(), ts.atoms, 0.0, seed=0, correct=None)  # every proposal accepted
    drawn = np.random.default_rng(0)  # the rung's stream: the move draws t (one torsion), then the angle
    drawn.integers(1)
    want = law.sample(0, drawn)
    move.step(rung)
    assert float(dihedral_angles(rung.pos, ts.atoms[:1])[0]) == pytest.approx(want, abs=1e-9)
    for _ in range(19):
        move.step(rung)
    d0 = np.linalg.norm(pos0[:, None] - pos0[None], axis=-1)
    d1 = np.linalg.norm(rung.pos[:, None] - rung.pos[None], axis=-1)
    bonded = np.array([[mol.GetBondBetweenAtoms(i, j) is not None for j in range(len(pos0))] for i in range(len(pos0))])
    assert np.allclose(d0[bonded], d1[bonded], atol=1e-9)  # a rigid rotation keeps every bond length
    assert move.tried == 20 and move.accepted >= 1


def test_law_move_applies_only_with_a_law_and_a_rate():
    mol = embed_seed(parse_molecule("CCCC"), seed=0)
    ts = rotatable_torsions(mol)
    assert "law" not in [m.name for m in System(mol, ts, SamplerConfig(law_moves_per_sweep=1.0)).schedule]
    off = System(mol, ts, SamplerConfig())
    off.use_law(_law(len(ts)))
    assert "law" not in [m.name for m in off.schedule]
    with pytest.raises(ValueError, match="torsions"):
        off.use_law(_law(len(ts) + 1))


def test_refine_with_a_law_reports_the_moves_and_keeps_its_output_shape():
    mol = embed_seed(parse_molecule("CCCCO"), seed=0)
    ts = rotatable_torsions(mol)
    starts = np.repeat(mol.GetConformer().GetPositions()[None], 2, 0)
    cfg = SamplerConfig(**REFINE_MOVES, law_moves_per_sweep=2.0)
    res = refine(mol, starts, sweeps=3, samples_per_chain=2, config=cfg, law=_law(len(ts)), seed=1)
    assert res.positions.shape == (4, mol.GetNumAtoms(), 3)
    assert res.diagnostics["law_acceptance"] > 0
    plain = refine(mol, starts, sweeps=3, samples_per_chain=2, seed=1)
    assert plain.diagnostics["law_acceptance"] == 0.0  # no law: the move does not run
