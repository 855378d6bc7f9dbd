"""Seeds assembled from ring-system conformations and internal coordinates (issue 27)."""

import numpy as np
import pytest
from rdkit import Chem

from geomgen.conformers.assembly import AssemblyError, assemble, ring_combinations
from geomgen.conformers.embedding import _ring_rmsd
from geomgen.conformers.mmff import MMFF
from geomgen.conformers.molecule import parse_molecule
from geomgen.conformers.ringlib import RingLibrary, ring_systems
from geomgen.conformers.stereo import fixed_stereo, stereo_matches


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return RingLibrary(folder=tmp_path_factory.mktemp("ringlib"), shipped=False)


def _assemble(smiles, lib, pick=0):
    mol = parse_molecule(smiles)
    systems = ring_systems(mol)
    confs = [lib.get(s.key) for s in systems]
    return mol, systems, confs, assemble(mol, systems, [c.coords[min(pick, len(c.coords) - 1)] for c in confs])


def _bonds_and_angles(mol, pos):
    b = np.array([np.linalg.norm(pos[x.GetBeginAtomIdx()] - pos[x.GetEndAtomIdx()]) for x in mol.GetBonds()])
    ang = []
    for a in mol.GetAtoms():
        nb = [n.GetIdx() for n in a.GetNeighbors()]
        for i in range(len(nb)):
            for j in range(i + 1, len(nb)):
                u, v = pos[nb[i]] - pos[a.GetIdx()], pos[nb[j]] - pos[a.GetIdx()]
                ang.append(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))
    return b, np.array(ang)


@pytest.mark.parametrize("smiles", ["CC(=O)Nc1ccc(cc1)[C@H]1CCCC[C@@H]1OC", "C/C=C/C(=O)OCC(F)(F)F", "CS(=O)(=O)N1CCC(CC1)c1ncc[nH]1"])
def test_bond_lengths_and_angles_near_the_mmff_minimum(smiles, lib):
    mol, _, _, seed = _assemble(smiles, lib)
    ref = Chem.Mol(seed)
    MMFF.optimize_conformers(ref, max_iters=2000)
    b0, a0 = _bonds_and_angles(mol, seed.GetConformer().GetPositions())
    b1, a1 = _bonds_and_angles(mol, ref.GetConformer().GetPositions())
    assert np.sqrt(np.mean((b0 - b1) ** 2)) < 0.02 and np.abs(b0 - b1).max() < 0.06  # A
    assert np.sqrt(np.mean((a0 - a1) ** 2)) < 5.0 and np.abs(a0 - a1).max() < 15.0  # degrees


@pytest.mark.parametrize("smiles", [
    "C[C@@H](O)[C@H](N)C(=O)N[C@@H](C)C(=O)O", "C[C@H](O)[C@@H](N)C(=O)N[C@H](C)C(=O)O",  # tetrahedral centres
    r"F/C=C(\Cl)CC[C@@H](N)C", r"F/C=C/C=C\CO", "C[S@@](=O)c1ccccc1", "C[S@](=O)c1ccccc1",  # double bonds, sulfoxides
    "C1CC[C@H]2CCCC[C@@H]2C1", "C1CC[C@H]2CCCC[C@H]2C1", "N[C@@H]1C[C@H]2CC[C@@H]1C2",  # ring fusions, bridged
    r"O=C1CC/C(=C\c2ccccc2)CC1", "C[C@H]1CC[C@@H](CC1)OC(=O)c1ccccc1",  # exocyclic double bond, cis ring
])
def test_stereo_of_the_input_is_kept(smiles, lib):
    mol, _, _, seed = _assemble(smiles, lib)
    assert stereo_matches(seed, reference=mol)
    assert not fixed_stereo(seed, reference=mol)


def test_several_ring_systems_placed_from_their_library_coordinates(lib):
    mol, systems, confs, seed = _assemble("O=C(c1ccc2OCOc2c1)N1CC[C@@H](C1)c1ccccc1", lib)
    assert len(systems) == 3
    pos = seed.GetConformer().GetPositions()
    for s, c in zip(systems, confs):
        idx = [i for i in s.atoms if i in s.ring_atoms]
        lib_idx = [k for k, i in enumerate(s.atoms) if i in s.ring_atoms]
        assert _ring_rmsd(pos[idx], c.coords[0][lib_idx]) < 1e-6  # each ring system rigidly as in the library
    assert stereo_matches(seed, reference=mol)


def test_ring_conformations_sampled_by_weight(lib):
    mol, systems, confs, _ = _assemble("C[C@H]1CC[C@@H](C)CC1", lib)  # cis: two chairs of equal energy
    combos = ring_combinations(confs, 400, np.random.default_rng(0), max_seeds=4)
    assert len(combos) == 2 and sum(k for _, k in combos) == 400 and min(k for _, k in combos) > 150
    seeds = [assemble(mol, systems, [confs[0].coords[c[0]]]) for c, _ in combos]
    ax = [s.GetConformer().GetPositions() for s in seeds]
    assert _ring_rmsd(ax[0][:8], ax[1][:8]) > 0.3  # the methyl groups swap axial and equatorial
    assert ring_combinations(confs, 10, np.random.default_rng(1), max_seeds=1)[0][1] == 10


def test_macrocycles_and_hypervalent_atoms_are_refused(lib):
    mol = parse_molecule("O=C1CCCCCCCCCCN1")
    with pytest.raises(AssemblyError, match="macrocycle"):
        assemble(mol, ring_systems(mol), [])
    mol = Chem.AddHs(Chem.MolFromSmiles("CS(F)(F)(F)(F)F"))  # no MMFF94 type, six neighbours
    with pytest.raises(AssemblyError):
        assemble(mol, [], [])


def test_amide_state_is_a_choice_not_hard_wired(lib):
    from geomgen.conformers.discrete_states import partial_double_bonds, site_states

    mol = parse_molecule("CC(=O)NCc1ccccc1")
    systems = ring_systems(mol)
    coords = [lib.get(s.key).coords[0] for s in systems]
    sites = partial_double_bonds(mol)
    usual = site_states(sites, assemble(mol, systems, coords).GetConformer().GetPositions()[None])[0]
    flipped = site_states(sites, assemble(mol, systems, coords, flip={0}).GetConformer().GetPositions()[None])[0]
    assert usual[0] != flipped[0]


@pytest.mark.parametrize("smiles", ["O=C(c1ccccc1)N1CCC[C@H]1C", "Cn1cc([C@H]2CCCN2C(=O)c2cncs2)cn1", "CC(=O)NCc1ccccc1"])
def test_flip_is_kept_when_the_amide_nitrogen_is_in_a_ring(smiles, lib):
    """A ring nitrogen reached from its carbonyl used to be turned to whatever clashed least; the
    site's state now follows the choice, and set_flip changes it on the same assembler."""
    from geomgen.conformers.assembly import Assembler
    from geomgen.conformers.discrete_states import partial_double_bonds, site_states

    mol = parse_molecule(smiles)
    systems = ring_systems(mol)
    coords = [lib.get(s.key).coords[0] for s in systems]
    sites = partial_double_bonds(mol)
    builder = Assembler(mol, systems)
    usual = site_states(sites, builder.seed(coords).GetConformer().GetPositions())[0]
    builder.set_flip({0})
    flipped = site_states(sites, builder.seed(coords).GetConformer().GetPositions())[0]
    builder.set_flip(())
    again = site_states(sites, builder.seed(coords).GetConformer().GetPositions())[0]
    assert usual[0] != flipped[0] and usual[0] == again[0]
    assert usual[0] == site_states(sites, Assembler(mol, systems, flip={0}).seed(coords).GetConformer().GetPositions())[0][0] ^ 1


def test_input_molecule_is_left_unchanged(lib):
    """MMFF94 typing rewrites aromaticity flags: the assembler types a copy."""
    from rdkit import Chem

    mol = parse_molecule("Cc1cc(=O)n(C(C)C(=O)Nc2c(C#N)cnn2C)c2ccccc12")
    flags = [a.GetIsAromatic() for a in mol.GetAtoms()]
    systems = ring_systems(mol)
    seed = assemble(mol, systems, [lib.get(s.key).coords[0] for s in systems])
    assert [a.GetIsAromatic() for a in mol.GetAtoms()] == flags == [a.GetIsAromatic() for a in seed.GetAtoms()]
    assert Chem.MolToSmiles(Chem.RemoveHs(seed)) == Chem.MolToSmiles(Chem.RemoveHs(mol))
