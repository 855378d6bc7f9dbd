"""E/Z state probabilities of partial double bonds from the fragment library (issues 26, 27)."""

import math

import numpy as np
import pytest

from geomgen.conformers import statelib
from geomgen.conformers.molecule import parse_molecule
from geomgen.conformers.statelib import StateEnergies, StateLibrary, build_state_energies, site_fragments

NENMA = "CCN(C)C(C)=O"  # N-ethyl-N-methylacetamide: both states populated


def _keys(smiles):
    return [f.key for f in site_fragments(parse_molecule(smiles))]


def test_fragment_keys_mark_the_reference_dihedral_and_keep_what_sets_the_state():
    from rdkit import Chem

    (key,) = _keys("CC(=O)NCCCCCO")
    frag = Chem.MolFromSmiles(key)
    assert sorted(a.GetAtomMapNum() for a in frag.GetAtoms() if a.GetAtomMapNum()) == [1, 2, 3, 4]
    assert frag.GetNumAtoms() == 7  # C-C(=O)-N-C-C within two bonds of the C-N bond, a methyl for the rest
    assert _keys("CC(=O)NCCCCCN") == [key]  # what lies beyond two bonds does not change the key
    assert _keys("CC(=O)NCC(C)(C)C") != [key]  # a cut atom keeps its branching (methyl caps)
    # a ring met within two bonds enters whole, aromatic, with its N-H and its exocyclic C=O
    (pyrazole,) = _keys("CC(=O)Nc1cn[nH]c1")
    assert "[nH]" in pyrazole and "c" in pyrazole
    (pyridone,) = _keys("CC(=O)N(C)Cn1ccccc1=O")
    assert Chem.MolFromSmiles(pyridone).GetNumAtoms() == 13 and "=O" in pyridone.replace("(=O)", "", 1)
    # a ring nitrogen of the amide: the ring with its stereocentre
    (ring,) = _keys("O=C(c1ccccc1)N1CCC[C@H]1C")
    assert "@" in ring
    # a cut heteroatom keeps a methyl, not a new hydrogen-bond donor (test-00213's methoxy)
    from rdkit.Chem import Lipinski

    (methoxy,) = _keys("COCC(=O)Nc1nccs1")
    assert Lipinski.NumHDonors(Chem.MolFromSmiles(methoxy)) == 1
    assert _keys("CC(=O)O") == []  # an acid's reference atom is its hydrogen: no fragment
    assert _keys("CN(C)C(C)=O") == []  # N,N-dimethyl: no E/Z state


def test_probabilities_agree_with_minimising_the_whole_molecule():
    """On molecules that are their own fragment, the library's probability of each state equals
    the Boltzmann weight of the states' minima from the generator's state seeds (another code
    path: minimisations of one embedding with the site and its neighbours turned)."""
    from geomgen.conformers.discrete_states import partial_double_bonds, site_states
    from geomgen.conformers.embedding import embed_seed, state_seeds

    for smiles in ("CNC(C)=O", NENMA, "CC(=O)NCc1ccccc1"):
        mol = parse_molecule(smiles)
        (frag,) = site_fragments(mol)
        p = build_state_energies(frag.key).p_cis
        seeds = state_seeds(embed_seed(mol, seed=0), nitrogens=False, min_weight=0.0)
        cis = sum(s.GetDoubleProp("seed_weight") for s in seeds
                  if len(seeds) > 1 and site_states(partial_double_bonds(s), s.GetConformer().GetPositions())[0, 0])
        assert p == pytest.approx(cis, abs=0.02), smiles
    # against the reference sampler's amide flips (BAR over the rigid flip; the embedding module's docstring)
    assert build_state_energies(site_fragments(parse_molecule("CNC(C)=O"))[0].key).p_cis == pytest.approx(0.008, abs=0.03)
    assert build_state_energies(site_fragments(parse_molecule(NENMA))[0].key).p_cis == pytest.approx(0.47, abs=0.03)


def test_p_cis_known_values_and_missing_states():
    kt = statelib.KT_300
    assert StateEnergies("k", (0.0, 0.0)).p_cis == pytest.approx(0.5)
    assert StateEnergies("k", (0.0, kt * math.log(3))).p_cis == pytest.approx(0.25)
    assert StateEnergies("k", (0.0, math.inf)).p_cis == 0.0
    assert StateEnergies("k", (math.inf, 1.0)).p_cis == 1.0
    assert StateEnergies("k", (0.0, -1e6)).p_cis == 1.0


def test_builds_are_deterministic_and_cached_on_disk(tmp_path):
    (key,) = _keys(NENMA)
    lib = StateLibrary(folder=tmp_path, shipped=False)
    first = lib.get(key)
    assert lib.get(key) is first and lib.stats["built"] == 1 and lib.stats["memory"] == 1
    again = StateLibrary(folder=tmp_path, shipped=False)
    assert again.get(key).energies == first.energies and again.stats["disk"] == 1
    assert build_state_energies(key).energies == first.energies
    assert StateLibrary(folder=False, shipped=False).site_probabilities(parse_molecule(NENMA)) == {0: first.p_cis}


def test_corrupt_and_stale_cache_files_are_rebuilt_with_a_warning(tmp_path, monkeypatch):
    (key,) = _keys(NENMA)
    first = StateLibrary(folder=tmp_path, shipped=False).get(key)
    lib = StateLibrary(folder=tmp_path, shipped=False)
    lib._disk.path(key).write_bytes(b"not a numpy file")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert lib.get(key).energies == first.energies
    monkeypatch.setattr(statelib, "LIBRARY_VERSION", statelib.LIBRARY_VERSION + 1)
    lib = StateLibrary(folder=tmp_path, shipped=False)
    with pytest.warns(RuntimeWarning, match="stale"):
        lib.get(key)
    assert lib.stats["built"] == 1
    with np.load(lib._disk.path(key)) as z:
        assert int(z["version"]) == statelib.LIBRARY_VERSION


def test_saved_library_is_read_back_as_shipped(tmp_path, monkeypatch):
    (key,) = _keys(NENMA)
    entries = [build_state_energies(key), StateEnergies("C[N:3]([CH3:4])[CH:2]=[O:1]", (1.0, math.inf))]
    statelib.save_library(tmp_path / "lib.npz", entries)
    statelib._load_shipped.cache_clear()
    monkeypatch.setattr("geomgen.assets.asset_path", lambda rel: tmp_path / "lib.npz")
    lib = StateLibrary(folder=False)
    assert lib.get(key).energies == entries[0].energies and lib.stats["shipped"] == 1
    assert lib.get(entries[1].key).p_cis == 0.0
    statelib._load_shipped.cache_clear()
    monkeypatch.setattr(statelib, "LIBRARY_VERSION", statelib.LIBRARY_VERSION + 1)
    with pytest.warns(RuntimeWarning, match="shipped amide state library .* is of version"):
        assert StateLibrary(folder=False).get(key) is not None  # ignored: built instead
    statelib._load_shipped.cache_clear()
