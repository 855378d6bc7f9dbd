"""Amide flips: E/Z sites of partial double bonds and the NCMC flip between their states."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from geomgen.conformers import MMFF, embed_seed, parse_molecule
from geomgen.conformers.reference.moves.amide_flip import amide_states, flip_amide, partial_double_bonds
from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference
from geomgen.metrics import KB_KCAL_PER_MOL_K

NMA = "CNC(C)=O"  # N-methylacetamide
TERTIARY = "CCN(C)C(C)=O"  # N-ethyl-N-methylacetamide


def _symbols(mol, atoms):
    return "".join(mol.GetAtomWithIdx(int(a)).GetSymbol() for a in atoms)


@pytest.mark.parametrize("smiles, expected", [
    (NMA, ["CCNC"]),  # the two methyl carbons
    (TERTIARY, ["CCNC"]),  # acetyl methyl and the ethyl's CH2 (ranked above the N-methyl)
    ("CC(=O)OC", ["CCOC"]),  # ester
    ("CC(=O)Oc1ccccc1", ["CCOC"]),  # aryl ester
    ("CNC(=O)OC", ["OCNC", "NCOC"]),  # carbamate: its C-N and its ester C-O
    ("CNC(=O)NC", ["NCNC", "NCNC"]),  # urea: both C-N bonds
    ("CC(=O)NS(C)(=O)=O", ["CCNS"]),  # N-acyl sulfonamide
    ("CNC(C)=S", ["CCNC"]),  # thioamide
    ("CC(=O)O", ["CCOH"]),  # a carboxylic acid's O-H is included (syn/anti), its hydrogen the reference
    ("O=C1CCCN1", []),  # lactam: the bond is in a ring
    ("CC(N)=O", []),  # primary amide: NH2's hydrogens are equivalent, a flip is a relabelling
    ("CN(C)C(C)=O", []),  # N,N-dimethyl: likewise
    ("CC(=O)N1CCCCC1", []),  # N-acyl piperidine: the ring's two sides are equivalent
    ("CCCC", []),
])
def test_sites(smiles, expected):
    mol = parse_molecule(smiles)
    sites = partial_double_bonds(mol)
    assert [_symbols(mol, s.atoms) for s in sites] == expected
    for s in sites:
        i, j, k, l = s.atoms
        assert mol.GetAtomWithIdx(j).GetSymbol() == "C" and mol.GetAtomWithIdx(k).GetSymbol() in "NO"
        assert j not in s.moving and k not in s.moving and len(s.moving) <= mol.GetNumAtoms() // 2 + 1


def test_rigid_flip_changes_the_state_and_keeps_the_rest():
    mol = embed_seed(parse_molecule(TERTIARY), seed=0)
    x = mol.GetConformer().GetPositions()
    site = partial_double_bonds(mol)[0]
    y = flip_amide(x, site)
    assert amide_states(mol, np.stack([x, y]))[:, 0].tolist() in ([True, False], [False, True])
    np.testing.assert_allclose(flip_amide(y, site), x, atol=1e-10)  # a rotation by pi is an involution
    d = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)  # noqa: E731
    fixed = np.setdiff1d(np.arange(len(x)), site.moving)
    np.testing.assert_allclose(d(y[site.moving]), d(x[site.moving]), atol=1e-10)  # each side moves rigidly
    np.testing.assert_allclose(y[fixed], x[fixed])
    # the move's hooks: every site monitored, flip_site is the rigid flip, states are amide_states
    from geomgen.conformers.reference.sampler import System
    from geomgen.conformers.torsions import rotatable_torsions

    move = System(mol, rotatable_torsions(mol), SamplerConfig()).moves["amide_flip"]
    assert move.state_name == "amide" and move.monitored == [0] and not move.applicable  # rate 0: off, sites known
    np.testing.assert_allclose(move.flip_site(x, 0), y)
    assert (move.states(np.stack([x, y])) == amide_states(mol, np.stack([x, y]))).all()


def _bar(w_forward, w_reverse):
    """Bennett's acceptance ratio: Delta F = F_B - F_A (reduced units) from the works of a
    volume-preserving map A -> B on samples of A and of its inverse on samples of B."""
    m = math.log(len(w_forward) / len(w_reverse))

    def balance(df):
        return (np.sum(1 / (1 + np.exp(np.clip(m + w_forward - df, -700, 700))))
                - np.sum(1 / (1 + np.exp(np.clip(-m + w_reverse + df, -700, 700)))))

    return brentq(balance, -100, 100)


def bar_start_share(mmff, positions, flip, temperature=300.0) -> float:
    """Share of the state of chain 0's start, by BAR over ``flip`` (a volume-preserving
    involution between two states) from ``positions`` ``[2 * S, N, 3]``: S samples of chain 0
    (in one state), then S of chain 1 (in the other); for x in a state, w = u(flip x) - u(x)."""
    kt = KB_KCAL_PER_MOL_K * temperature
    per_state = np.asarray(positions, dtype=np.float64).reshape(2, len(positions) // 2, -1, 3)
    work = [np.array([mmff.energy(flip(p)) - mmff.energy(p) for p in ps]) / kt for ps in per_state]
    df = _bar(work[0], work[1])  # F(state of start 1) - F(state of start 0)
    return 1 / (1 + math.exp(-df))


def _budget(sweeps):
    return dict(seed=0, n_chains=2, warmup_sweeps=100, round_sweeps=sweeps, min_sweeps=sweeps, max_sweeps=sweeps,
                n_samples=2 * sweeps)


def _starts(mol):
    """The minimised seed and its rigid flip, minimised: one start in each state."""
    mmff, site = MMFF(mol), partial_double_bonds(mol)[0]
    x = mmff.minimize(mol.GetConformer().GetPositions(), max_iters=2000)[0]
    y = mmff.minimize(flip_amide(x, site), max_iters=2000)[0]
    cis = amide_states(mol, np.stack([x, y]))[:, 0]
    assert cis[0] != cis[1]
    return np.stack([x, y]), cis


def _check_population(smiles, sweeps, rate, tol):
    """Chains without the move stay in their start's state (negative control); from their samples,
    BAR over the rigid flip (a volume-preserving involution between the states: for x in A,
    w = u(F x) - u(x)) gives Delta F and the independent cis population 1 / (1 + e^{Delta F});
    chains with the move, started in the two states, must agree with it within ``tol``."""
    mol = embed_seed(parse_molecule(smiles), seed=0)
    starts, cis = _starts(mol)
    site, mmff = partial_double_bonds(mol)[0], MMFF(mol)
    still = sample_reference(mol, SamplerConfig(**_budget(sweeps)), starts=starts)
    states = amide_states(mol, still.positions)[:, 0].reshape(2, -1)
    assert (states[0] == cis[0]).all() and (states[1] == cis[1]).all()  # negative control
    p_start0 = bar_start_share(mmff, still.positions, lambda p: flip_amide(p, site))
    p_cis_bar = p_start0 if cis[0] else 1 - p_start0
    moved = sample_reference(mol, SamplerConfig(amide_flips_per_sweep=rate, **_budget(sweeps)), starts=starts)
    p_cis = amide_states(mol, moved.positions)[:, 0].mean()
    assert moved.diagnostics["n_amide_bonds"] == 1 and moved.diagnostics["amide_flip_acceptance"] > 0
    assert abs(p_cis - p_cis_bar) < tol, (p_cis, p_cis_bar)
    return p_cis, p_cis_bar


def test_n_methylacetamide_population_matches_bar():
    """Known answer: cis-NMA (methyls syn) is rare in MMFF94 at 300 K. Measured (seed 0): BAR over
    the rigid flip from 2 x 2,000 sweeps without the move 0.0077 (halves 0.0054, 0.011); with the
    move (2 flips per sweep, 2 x 2,000 sweeps) 0.008, acceptance 0.006. Here 2 x 600 sweeps."""
    _check_population(NMA, sweeps=600, rate=2.0, tol=0.03)


def test_tertiary_amide_population_matches_bar():
    """Known answer: CCN(C)C(C)=O is about 40/60 (design notes: MMFF94 relaxed scan). Measured
    (seed 0): BAR over the rigid flip from 2 x 2,000 sweeps without the move 0.467 (halves 0.58,
    0.40: slow N-ethyl rotamers inside each state; BAR over the NCMC work 0.468); with the move (4
    flips per sweep, 2 x 2,000 sweeps) 0.448, acceptance about 0.05. Here 2 x 1,600 sweeps."""
    p_cis, p_bar = _check_population(TERTIARY, sweeps=1600, rate=4.0, tol=0.03)
    assert 0.3 < p_bar < 0.7


def test_rate_is_scaled_once_after_warmup_by_the_warmup_acceptance():
    """Flips that warm-up hardly ever accepts are made less often afterwards (at least a tenth of
    the rate), with the factor fixed before the first kept sweep and reported; 0 turns it off."""
    mol = embed_seed(parse_molecule(TERTIARY), seed=0)
    budget = dict(seed=0, n_chains=2, warmup_sweeps=60, round_sweeps=20, min_sweeps=20, max_sweeps=20, n_samples=40,
                  amide_flips_per_sweep=2.0)
    strict = sample_reference(mol, SamplerConfig(amide_flip_adapt=1.0, **budget)).diagnostics
    a = strict["amide_flip_warmup_acceptance"]
    assert a is not None and 0 < a < 0.5
    (f,) = strict["amide_flip_site_factors"]
    assert 0.1 <= f < 1 and strict["amide_flip_rate_factor"] == pytest.approx(f)
    off = sample_reference(mol, SamplerConfig(amide_flip_adapt=0.0, **budget)).diagnostics
    assert off["amide_flip_rate_factor"] == 1.0 and off["amide_flip_warmup_acceptance"] == pytest.approx(a)
    assert off["amide_flip_site_factors"] == [1.0]


def test_site_factors_come_from_the_way_out_of_the_favoured_state():
    """Known answers of AmideFlipMove.factors: 2 x the lower directional acceptance over a0,
    clipped to [0.1, 1]; directions tried fewer than 20 times do not count."""
    from geomgen.conformers.reference.moves.amide_flip import AmideFlipMove

    tries = np.array([[1000, 100], [1000, 5], [400, 400], [10, 3]])
    accepts = np.array([[1, 90], [0, 5], [8, 12], [10, 3]])
    f = AmideFlipMove.factors(tries, accepts, adapt=0.005)
    # site 0: min(0.001, 0.9) -> 0.002 / 0.005 = 0.4; site 1: 0 -> floor 0.1 (its 5 tries back do not
    # count); site 2: 2 x 0.02 > 0.005 -> 1; site 3: no direction tried 20 times -> 1
    np.testing.assert_allclose(f, [0.4, 0.1, 1.0, 1.0])


def test_flips_out_of_strained_starts_do_not_keep_the_rate(monkeypatch):
    """Warm-up flips out of the strained state (cis, from an over-dispersed start) are accepted,
    those out of the favoured state are not: the pooled acceptance (1/3) would keep the full rate,
    the way out of the favoured state (0 of 200) sets the floor 0.1; afterwards flips pick sites by
    their factors."""
    from geomgen.conformers.reference.moves import amide_flip
    from geomgen.conformers.reference.sampler import System
    from geomgen.conformers.torsions import rotatable_torsions

    mol = embed_seed(parse_molecule(TERTIARY), seed=0)
    move = System(mol, rotatable_torsions(mol), SamplerConfig(amide_flips_per_sweep=1.0)).moves["amide_flip"]
    pos = mol.GetConformer().GetPositions()
    cis = flip_amide(pos, move.sites[0]) if not amide_states(mol, pos[None])[0, 0] else pos
    trans = flip_amide(cis, move.sites[0])

    class Rung:
        rng = np.random.default_rng(0)

    rung = Rung()
    starts = iter([cis] * 100 + [trans] * 200)
    outcomes = iter([True] * 100 + [False] * 200)

    def fake_ncmc(r, *args, **kw):
        return next(outcomes)

    monkeypatch.setattr(amide_flip, "ncmc_rotation", fake_ncmc)
    for _ in range(300):
        rung.pos = next(starts)
        move.step(rung)
    assert move.acceptance == pytest.approx(1 / 3)
    move.end_warmup()
    assert move.site_factors.tolist() == [0.1] and move.rate == pytest.approx(0.1)
    move.end_warmup()  # fixed once
    assert move.rate_factor == pytest.approx(0.1)
