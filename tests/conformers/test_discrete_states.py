"""The slow discrete states: site selection, indicators and the flips between states."""

import numpy as np
import pytest

from geomgen.conformers import embed_seed, parse_molecule
from geomgen.conformers.discrete_states import (
    SlowSites,
    amide_states,
    configurational_nitrogens,
    flip_amide,
    invert_nitrogen,
    invertible_nitrogens,
    nitrogen_configurations,
    partial_double_bonds,
    site_class,
    states_label,
)


@pytest.mark.parametrize("smiles, n_amide, n_nitrogen, n_configurational", [
    ("CNC(C)=O", 1, 0, 0),  # N-methylacetamide
    ("CCN(C)C(C)=O", 1, 0, 0),  # tertiary amide: the amide N is not invertible
    ("CN(C)C(C)=O", 0, 0, 0),  # N,N-dimethyl: the flip is a relabelling
    ("CNC(=O)OC", 2, 0, 0),  # carbamate: C-N and ester C-O
    ("O=C1CCCN1", 0, 0, 0),  # lactam: in a ring
    ("CCCN(C)CC", 0, 1, 1),  # three different groups on a pyramidal nitrogen
    ("CN(C)CCO", 0, 1, 0),  # dimethylamino: two equivalent neighbours
    ("CCCC", 0, 0, 0),
])
def test_sites(smiles, n_amide, n_nitrogen, n_configurational):
    mol = parse_molecule(smiles)
    assert len(partial_double_bonds(mol)) == n_amide
    assert len(invertible_nitrogens(mol)) == n_nitrogen
    assert len(configurational_nitrogens(mol)) == n_configurational


@pytest.mark.parametrize("smiles, classes", [
    ("CNC(C)=O", ["amide"]),  # N-methylacetamide
    ("CNC(=O)OCC", ["carbamate", "carbamate"]),  # the C-N and the C-O bond of one carbamate
    ("CC(=O)OCC", ["ester"]),
    ("COC(=O)OCC", ["ester", "ester"]),  # a carbonate's two C-O bonds
    ("OC(=O)c1ccccc1", ["acid"]),  # the O-H: syn/anti
    ("CNC(=O)NC1CC1", ["urea", "urea"]),
    ("CC(=O)NS(=O)(=O)c1ccccc1", ["acylsulfonamide"]),
    ("CC(=S)NC", ["thioamide"]),
    ("CN=C(C)NCc1ccccc1", ["amidine"]),
    ("N[C@@H](Cc1c[nH]c2ccccc12)C(=O)O", ["acid"]),  # tryptophan: the amine is not a partial double bond
])
def test_site_class(smiles, classes):
    mol = parse_molecule(smiles)
    assert [site_class(mol, site) for site in partial_double_bonds(mol)] == classes


def test_amide_flip_changes_the_indicator_and_is_an_involution():
    mol = embed_seed(parse_molecule("CCN(C)C(C)=O"), seed=0)
    x = mol.GetConformer().GetPositions()
    site = partial_double_bonds(mol)[0]
    y = flip_amide(x, site)
    s = amide_states(mol, np.stack([x, y]))[:, 0]
    assert s[0] != s[1]
    np.testing.assert_allclose(flip_amide(y, site), x, atol=1e-10)


def test_nitrogen_inversion_changes_the_indicator_and_is_an_involution():
    mol = embed_seed(parse_molecule("CCCN(C)CC"), seed=0)
    x = mol.GetConformer().GetPositions()
    n, nbrs, branches = invertible_nitrogens(mol)[0]
    y = invert_nitrogen(x, n, nbrs, branches)
    s = nitrogen_configurations(mol, np.stack([x, y]))[:, 0]
    assert s[0] != s[1]
    np.testing.assert_allclose(invert_nitrogen(y, n, nbrs, branches), x, atol=1e-10)


def test_states_label():
    assert states_label([True, False, True]) == "101" and states_label([]) == ""


def test_slow_sites_list_amides_then_configurational_nitrogens():
    """A carbamate (two partial double bonds) on a pyramidal nitrogen with three different groups:
    three sites in the sampler's order and names; flipping site k changes only indicator k."""
    mol = embed_seed(parse_molecule("CCCN(C)CCNC(=O)OC"), seed=0)
    x = mol.GetConformer().GetPositions()
    sites = SlowSites(mol)
    n = configurational_nitrogens(mol)
    assert len(sites) == 3 and sites.names == ["amide-0", "amide-1", f"nitrogen-{invertible_nitrogens(mol)[n[0]][0]}"]
    s0 = sites.states(x)
    assert s0.shape == (3,) and sites.states(np.stack([x, x])).shape == (2, 3)
    for k in range(3):
        np.testing.assert_array_equal(sites.states(sites.flip(x, k)) != s0, np.arange(3) == k)
    assert SlowSites(mol, nitrogens=False).names == ["amide-0", "amide-1"]
    assert SlowSites(mol, max_sites=1).names == ["amide-0"]


def test_slow_sites_keep_a_subset_of_the_partial_double_bonds_under_their_own_names():
    mol = embed_seed(parse_molecule("CC(=O)NCC(=O)N(C)CC(=O)O"), seed=0)
    every = SlowSites(mol, nitrogens=False)
    assert len(partial_double_bonds(mol)) == 3 and every.names == ["amide-0", "amide-1", "amide-2"]
    some = SlowSites(mol, nitrogens=False, amide_sites=[2, 0, 7])  # out-of-range indices are ignored
    assert some.names == ["amide-0", "amide-2"]
    pos = mol.GetConformer().GetPositions()
    assert np.array_equal(some.states(pos), every.states(pos)[[0, 2]])
    assert np.array_equal(some.states(some.flip(pos, 1)), every.states(every.flip(pos, 2))[[0, 2]])
    assert SlowSites(mol, nitrogens=False, amide_sites=[]).names == []
