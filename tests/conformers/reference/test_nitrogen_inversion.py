"""Nitrogen-inversion moves: an exact involution between the pyramids of an sp3 amine nitrogen."""

import numpy as np
import pytest

from geomgen.conformers import MMFF, embed_seed, parse_molecule
from geomgen.conformers.reference.moves.nitrogen_inversion import (
    invert_nitrogen,
    invertible_nitrogens,
    nitrogen_configurations,
)
from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference

AMINE = "CCCN(C)CC"  # N-ethyl-N-methylpropylamine: three different groups on a pyramidal nitrogen


def test_invertible_nitrogens_are_pyramidal_amines_only():
    assert len(invertible_nitrogens(parse_molecule(AMINE))) == 1
    assert len(invertible_nitrogens(parse_molecule("CN(C)CCO"))) == 1  # a dimethylamino group
    assert len(invertible_nitrogens(parse_molecule("CCNC"))) == 1  # secondary: the hydrogen is a neighbour
    for smi in ("CC(=O)N(C)C", "c1ccccc1N(C)C", "C1CCNCC1", "CS(=O)(=O)N(C)C", "CC=CN(C)C", "C[N+](C)(C)C"):
        assert invertible_nitrogens(parse_molecule(smi)) == [], smi


def _cos_angles(mol, p):
    out = []
    for a in mol.GetAtoms():  # every bond angle
        nb = [b.GetIdx() for b in a.GetNeighbors()]
        for i in range(len(nb)):
            for j in range(i + 1, len(nb)):
                u, v = p[nb[i]] - p[a.GetIdx()], p[nb[j]] - p[a.GetIdx()]
                out.append(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
    return np.array(out)


def test_inversion_is_an_exact_volume_preserving_involution_that_keeps_bonds_and_angles():
    mol = embed_seed(parse_molecule(AMINE), seed=0)
    n, nbrs, branches = invertible_nitrogens(mol)[0]
    x = mol.GetConformer().GetPositions() + np.random.default_rng(0).normal(scale=0.03, size=(mol.GetNumAtoms(), 3))
    y = invert_nitrogen(x, n, nbrs, branches)
    np.testing.assert_allclose(invert_nitrogen(y, n, nbrs, branches), x, atol=1e-12)
    assert nitrogen_configurations(mol, np.stack([x, y])).ravel().tolist() in ([True, False], [False, True])
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    np.testing.assert_allclose(np.linalg.norm(y[bonds[:, 0]] - y[bonds[:, 1]], axis=1),
                               np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=1), atol=1e-10)
    np.testing.assert_allclose(_cos_angles(mol, y), _cos_angles(mol, x), atol=1e-10)
    # |det dF/dx| = 1 (central differences over every coordinate)
    size, h = x.size, 1e-6
    jac = np.empty((size, size))
    for k in range(size):
        d = np.zeros(size)
        d[k] = h
        d = d.reshape(x.shape)
        jac[:, k] = (invert_nitrogen(x + d, n, nbrs, branches) - invert_nitrogen(x - d, n, nbrs, branches)).ravel() / (2 * h)
    assert abs(np.linalg.det(jac)) == pytest.approx(1.0, abs=1e-6)


def _starts(mol):
    """The seed and its nitrogen invert, minimised: one start in each configuration."""
    mmff, x = MMFF(mol), mol.GetConformer().GetPositions()
    other = mmff.minimize(invert_nitrogen(x, *invertible_nitrogens(mol)[0]), max_iters=500)[0]
    conf = nitrogen_configurations(mol, np.stack([x, other]))[:, 0]
    assert conf[0] != conf[1]
    return np.stack([x, other]), conf


BUDGET = dict(seed=0, n_chains=2, warmup_sweeps=100, round_sweeps=1000, min_sweeps=1000, max_sweeps=1000, n_samples=2000)


def test_chains_from_either_configuration_agree_with_inversions():
    """Known answer: the amine is achiral, so the mirror image of a conformer in one nitrogen
    configuration is an equally likely conformer in the other: each has population 1/2 exactly.
    Chains started in the two configurations with inversion moves (one per sweep) both reach it
    (measured, seed 0: 0.44 and 0.59, pooled 0.515; acceptance 0.30)."""
    mol = embed_seed(parse_molecule(AMINE), seed=0)
    starts, conf = _starts(mol)
    res = sample_reference(mol, SamplerConfig(nitrogen_inversions_per_sweep=1.0, **BUDGET), starts=starts)
    pos_conf = nitrogen_configurations(mol, res.positions)[:, 0].reshape(2, -1)
    per_chain = (pos_conf == conf[0]).mean(1)
    assert res.diagnostics["n_invertible_nitrogens"] == 1 and 0.05 < res.diagnostics["nitrogen_inversion_acceptance"] < 0.9
    assert per_chain.mean() == pytest.approx(0.5, abs=0.08)
    assert np.abs(per_chain - 0.5).max() < 0.2


def test_without_inversions_each_chain_keeps_its_start_configuration():
    """Negative control, same budget and starts: the other moves never invert the nitrogen."""
    mol = embed_seed(parse_molecule(AMINE), seed=0)
    starts, conf = _starts(mol)
    res = sample_reference(mol, SamplerConfig(**BUDGET), starts=starts)
    pos_conf = nitrogen_configurations(mol, res.positions)[:, 0].reshape(2, -1)
    assert (pos_conf[0] == conf[0]).all() and (pos_conf[1] == conf[1]).all()
    assert res.diagnostics["n_invertible_nitrogens"] == 0  # the move is off
