"""Ring systems, their library conformations and the on-disk cache (issue 27)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from geomgen.conformers import ringlib
from geomgen.conformers.molecule import parse_molecule
from geomgen.conformers.ringlib import RingLibrary, cache_dir, ring_systems

CYCLOHEXANOL = "OC1CCCCC1"


def test_ring_systems_merge_fused_rings_and_key_stereo_and_exocyclic_bonds():
    systems = ring_systems(parse_molecule("c1ccc(cc1)C[C@H]1CC[C@@H]2CCCC[C@H]2C1"))
    assert [len(s.ring_atoms) for s in systems] == [10, 6]  # decalin fused into one system, largest first
    assert systems[0].flexible and not systems[1].flexible
    assert "@" in systems[0].key and len(systems[0].atoms) == 11  # ring atoms and the attached CH2
    key = {smi: ring_systems(parse_molecule(smi))[0].key
           for smi in ("C[C@H]1CC[C@@H](C)CC1", "C[C@H]1CC[C@H](C)CC1", "C=C1CCCCC1", "CC1CCCCC1")}
    assert len(set(key.values())) == 4  # cis and trans differ, so does the exocyclic double bond
    assert ring_systems(parse_molecule("CCCC")) == []
    assert ring_systems(parse_molecule("C1CCCCCCCCCC1"))[0].macrocycle


def test_key_atom_order_maps_library_coordinates_onto_the_molecule():
    from rdkit import Chem

    mol = parse_molecule("CC(=O)N1CCC(O)CC1")
    s = ring_systems(mol)[0]
    frag = Chem.MolFromSmiles(s.key)
    assert [a.GetAtomicNum() for a in frag.GetAtoms()] == [mol.GetAtomWithIdx(i).GetAtomicNum() for i in s.atoms]


def test_conformations_weights_and_memory_hits(tmp_path):
    lib = RingLibrary(folder=tmp_path, shipped=False)
    chair = lib.get(ring_systems(parse_molecule(CYCLOHEXANOL))[0].key)
    assert chair.coords.shape[1:] == (7, 3) and len(chair.coords) >= 2  # equatorial and axial OH
    assert chair.weights.sum() == pytest.approx(1.0) and chair.energies.max() - chair.energies.min() <= ringlib.ENERGY_WINDOW
    assert len(lib.get(ring_systems(parse_molecule("Cc1ccccc1"))[0].key).coords) == 1  # planar: one
    lib.get(chair.key)
    assert lib.stats == {"memory": 1, "shipped": 0, "disk": 0, "built": 2}
    again = RingLibrary(folder=tmp_path, shipped=False)  # a new process: read from disk, bit for bit
    np.testing.assert_array_equal(again.get(chair.key).coords, chair.coords)
    np.testing.assert_array_equal(again.get(chair.key).energies, chair.energies)
    assert again.stats["disk"] == 1 and again.hit_rate() == 1.0


def test_cache_folder_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOMGEN_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.setenv("GEOMGEN_CACHE_DIR", "off")
    assert cache_dir() is None
    monkeypatch.delenv("GEOMGEN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "geomgen" / "ringlib"


def test_corrupt_cache_file_is_rebuilt_with_a_warning(tmp_path):
    key = ring_systems(parse_molecule(CYCLOHEXANOL))[0].key
    first = RingLibrary(folder=tmp_path, shipped=False).get(key)
    path = ringlib._cache_file(tmp_path, key)
    path.write_bytes(b"not a numpy file")
    lib = RingLibrary(folder=tmp_path, shipped=False)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        rebuilt = lib.get(key)
    assert lib.stats["built"] == 1
    np.testing.assert_allclose(rebuilt.coords, first.coords, atol=1e-5)  # deterministic build
    assert RingLibrary(folder=tmp_path, shipped=False).get(key) is not None  # the file was rewritten
    with np.load(path) as z:
        assert str(z["key"]) == key


def test_version_change_invalidates_cache_files(tmp_path, monkeypatch):
    key = ring_systems(parse_molecule(CYCLOHEXANOL))[0].key
    RingLibrary(folder=tmp_path, shipped=False).get(key)
    monkeypatch.setattr(ringlib, "LIBRARY_VERSION", ringlib.LIBRARY_VERSION + 1)
    lib = RingLibrary(folder=tmp_path, shipped=False)
    with pytest.warns(RuntimeWarning, match="stale"):
        lib.get(key)
    assert lib.stats["built"] == 1
    with np.load(ringlib._cache_file(tmp_path, key)) as z:
        assert int(z["version"]) == ringlib.LIBRARY_VERSION


def test_concurrent_writers_leave_one_complete_file(tmp_path):
    """Two processes build the same keys into one cache folder at the same time."""
    keys = [ring_systems(parse_molecule(s))[0].key for s in (CYCLOHEXANOL, "CC1CCC(N)CC1", "OC1CCOC1")]
    script = textwrap.dedent(f"""
        import warnings
        warnings.simplefilter("error")
        from geomgen.conformers.ringlib import RingLibrary
        lib = RingLibrary(folder={str(tmp_path)!r}, shipped=False)
        for key in {keys!r}:
            lib.get(key)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    files = sorted(tmp_path.rglob("*.npz"))
    assert len(files) == len(keys) and not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".npz"]
    lib = RingLibrary(folder=tmp_path, shipped=False)
    for key in keys:
        lib.get(key)
    assert lib.stats["disk"] == len(keys)


def test_shipped_library_covers_the_splits_but_not_the_drugs():
    shipped = ringlib._load_shipped()
    if not shipped:
        pytest.skip("no shipped ring library in this checkout")
    import csv

    from geomgen.assets import asset_path

    path = asset_path(ringlib.SHIPPED_LIBRARY)
    assert path.stat().st_size < 5e6
    with open(asset_path("data/conformers/smiles_val.csv"), newline="") as f:
        rows = list(csv.DictReader(f))[:20]
    for row in rows:
        for s in ring_systems(parse_molecule(row["smiles"])):
            assert s.macrocycle or s.key in shipped
    conf = shipped[next(iter(shipped))]()
    assert conf.coords.ndim == 3 and len(conf.energies) == len(conf.coords)


def test_ring_matches_tell_a_chair_from_a_twist_boat_and_reference_seeds_take_the_chair(tmp_path):
    """test-00095's morpholine: ETKDGv3 seed 2's lowest-energy candidate is a twist-boat (its
    torsions make up for the ring), which matches no library conformation; with
    ``library_rings`` the seed is a chair (negative control: without it, the twist-boat)."""
    from geomgen.conformers.embedding import _ring_rmsd, embed_seed

    smi = "CC[C@@H]1COCCN1Cc1cc(C(N)=O)cs1"
    lib = RingLibrary(folder=tmp_path)
    plain = embed_seed(parse_molecule(smi), seed=2)
    chosen = embed_seed(parse_molecule(smi), seed=2, library_rings=True)
    (key, rmsd_plain, w_plain), = ringlib.ring_matches(plain, plain.GetConformer().GetPositions(), lib)
    (_, rmsd_chosen, w_chosen), = ringlib.ring_matches(chosen, chosen.GetConformer().GetPositions(), lib)
    assert key == "C[C@@H]1COCCN1C"
    assert rmsd_plain > 0.3 and w_plain == 0.0 and not ringlib.rings_in_library(plain, plain.GetConformer().GetPositions(), lib)
    assert rmsd_chosen < 0.1 and w_chosen > 0.5 and not chosen.HasProp("geomgen_rings_off_library")
    # a chair: all six endocyclic torsions about +-55 deg, alternating in sign
    ring = [a.GetIdx() for a in chosen.GetAtoms() if a.IsInRing() and not a.GetIsAromatic()]
    assert len(ring) == 6
    # the mirror image of a conformation matches as well as the conformation itself
    pos = chosen.GetConformer().GetPositions()
    (_, rmsd_mirror, _), = ringlib.ring_matches(chosen, pos * np.array([1.0, 1.0, -1.0]), lib)
    assert abs(rmsd_mirror - rmsd_chosen) < 1e-9 and _ring_rmsd(pos, pos) < 1e-9


def test_ring_matches_skip_planar_systems_and_molecules_without_rings(tmp_path):
    lib = RingLibrary(folder=tmp_path)
    for smi in ("CCCCO", "c1ccccc1CC"):
        mol = parse_molecule(smi)
        from geomgen.conformers.embedding import embed_seed
        seed = embed_seed(mol, seed=0)
        assert ringlib.ring_matches(seed, seed.GetConformer().GetPositions(), lib) == []
        assert ringlib.rings_in_library(seed, seed.GetConformer().GetPositions(), lib)
