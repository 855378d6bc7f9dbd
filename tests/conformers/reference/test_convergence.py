"""The convergence rule: symmetry orders from the graph, and the per-torsion criteria."""

import numpy as np
import pytest

from geomgen.conformers import parse_molecule, rotatable_torsions
from geomgen.conformers.reference.convergence import ConvergenceTargets, torsion_convergence, torsion_symmetry


@pytest.mark.parametrize(
    "smiles, orders",
    [
        ("CCCC", [1]),
        ("CCc1ccccc1", [2]),  # phenyl flip
        ("c1ccccc1-c1ccccc1", [2]),  # biphenyl: lcm(2, 2)
        ("CCN(CC)c1ccccc1", [1, 1, 2]),  # NEt2 (two equivalent ethyls) and phenyl
        ("CC(=O)c1cccc(Cl)c1", [1]),  # asymmetric ring
        ("COc1ccccc1", [2]),
    ],
)
def test_symmetry_orders(smiles, orders):
    mol = parse_molecule(smiles)
    assert sorted(torsion_symmetry(mol, rotatable_torsions(mol).atoms).tolist()) == orders


def _chains(rng, means, n=2000, kappa=8.0):
    return np.stack([rng.vonmises(mu, kappa, size=(n, 1)) for mu in means])


def test_agreeing_chains_converge():
    rng = np.random.default_rng(0)
    res = torsion_convergence(_chains(rng, [0.5] * 4))
    assert res["converged"] and res["rhat_max"] < 1.01 and res["ess_min"] > 1000 and res["w1_max"] < 0.05


def test_chains_in_different_wells_do_not():
    rng = np.random.default_rng(1)
    res = torsion_convergence(_chains(rng, [0.5, 0.5, 2.5, 2.5]))
    assert not res["converged"] and res["rhat_max"] > 1.5 and res["w1_max"] > 1.0
    assert res["torsion_converged"] == [False]


def test_symmetric_torsion_compared_modulo_its_period():
    """Halves sitting pi apart are the same state of a two-fold torsion (a ring flip)."""
    rng = np.random.default_rng(2)
    chains = _chains(rng, [0.3, 0.3, 0.3 + np.pi, 0.3 + np.pi])
    assert not torsion_convergence(chains, symmetry=[1])["converged"]
    res = torsion_convergence(chains, symmetry=[2])
    assert res["converged"] and res["w1_max"] < 0.05


def test_targets_and_autocorrelation():
    rng = np.random.default_rng(3)
    slow = np.repeat(_chains(rng, [0.5] * 4, n=40), 50, axis=1)  # 2000 draws, 40 independent per chain
    res = torsion_convergence(slow)
    assert res["ess_min"] < 400
    assert not torsion_convergence(slow, targets=ConvergenceTargets(ess=1000))["converged"]


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 chains"):
        torsion_convergence(np.zeros((1, 10, 1)))
    with pytest.raises(ValueError, match="symmetry"):
        torsion_convergence(np.zeros((2, 10, 2)), symmetry=[1])


def test_molecule_without_torsions_is_converged():
    res = torsion_convergence(np.zeros((4, 10, 0)))
    assert res["converged"] and res["rhat"] == []


def test_dimethylamino_rotor_is_symmetric_only_when_inversion_is_sampled():
    """A pyramidal NMe2: its two methyls sit about 120 degrees apart about the C-N bond, so folding
    the dihedral modulo pi is a symmetry only when the nitrogen inverts."""
    mol = parse_molecule("CCN(C)C")
    ts = rotatable_torsions(mol)
    n = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "N")
    assert torsion_symmetry(mol, ts.atoms).tolist() == [1]
    assert torsion_symmetry(mol, ts.atoms, inverting=[n]).tolist() == [2]


def test_state_convergence_needs_mixing_chains_and_agreeing_halves():
    from geomgen.conformers.reference.convergence import state_convergence

    rng = np.random.default_rng(0)
    mixing = (rng.random((4, 2000, 1)) < 0.3).astype(float)
    res = state_convergence(mixing, names=["amide-3"])
    assert res["states_converged"] and res["state_names"] == ["amide-3"]
    assert abs(res["state_population"][0] - 0.3) < 0.02
    stuck = np.zeros((4, 2000, 1))
    stuck[1::2] = 1.0  # chains started in each state never leave it: halves agree, R-hat does not
    res = state_convergence(stuck)
    assert not res["states_converged"] and res["state_rhat_max"] == np.inf and res["state_gap_max"] == 0.0
    assert state_convergence(np.ones((4, 100, 1)))["states_converged"]  # every chain always in one state
    halves = np.concatenate([(rng.random((2, 2000, 1)) < 0.2), (rng.random((2, 2000, 1)) < 0.5)]).astype(float)
    assert not state_convergence(halves, ConvergenceTargets(rhat=10.0))["states_converged"]  # the gap (0.3) fails
    with pytest.raises(ValueError, match=r"\[M, S, K\]"):
        state_convergence(np.zeros((4, 10)))
