"""Ring systems and their conformations: a library shared across molecules.

A molecule's rings are merged into ring systems (rings that share an atom: fused, bridged and
spiro rings form one system). Each system is keyed by the canonical isomeric SMILES of a capped
fragment: the system's atoms with their stereo tags, plus the first shell of heavy atoms attached
to it (kept with their bond orders, so exocyclic double bonds are in the key, and capped with
hydrogens). The conformations of a key are several ETKDGv3 embeddings of the fragment,
MMFF94-minimised, of one stereoisomer, deduplicated by RMSD, with their MMFF94 energies and
Boltzmann weights at 300 K within :data:`ENERGY_WINDOW` kcal/mol of the lowest (aromatic and
other planar systems: one conformation).

:class:`RingLibrary` looks a key up in memory, then in the library shipped with the package
(``data/conformers/ring_library.npz``, built from the ring systems of the training, validation and
test splits by ``data/conformers/build_ring_library.py``; never from the approved drugs, which are
evaluation data only), then in an on-disk cache (:func:`cache_dir`: one file per key, written
atomically, so concurrent processes never see a partial file; the build is deterministic, so two
processes writing the same key write the same content), and builds what is missing. A cache file
that cannot be read, or that was written by another :data:`LIBRARY_VERSION`, is rebuilt with a
warning.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: bump when the fragments, the keys or the conformations change: cache files of another version
#: are rebuilt (and the shipped library ignored)
LIBRARY_VERSION = 1
#: environment variable naming the cache folder; ``off`` (or ``0``, ``none``, empty) for no disk cache
CACHE_ENV = "GEOMGEN_CACHE_DIR"
#: the library shipped with the package (read through :func:`geomgen.assets.asset_path`)
SHIPPED_LIBRARY = "data/conformers/ring_library.npz"
#: conformations kept within this many kcal/mol of the lowest (same as ``RING_SEED_WINDOW``)
ENERGY_WINDOW = 3.0
#: two conformations closer than this (A, heavy-atom RMSD after superposition) are one
MIN_RMSD = 0.3
#: at most this many conformations per ring system
MAX_CONFORMATIONS = 8
#: at most this many conformations kept in the in-process memory cache (whole keys)
MEMORY_ENTRIES = 50_000


@dataclass(frozen=True)
class RingSystem:
    """One ring system of a molecule.

    Attributes:
        key (str): canonical isomeric SMILES of the capped fragment (ring atoms and first shell).
        atoms (tuple): the molecule's atom indices of the fragment's atoms, in the order of the
            atoms of ``Chem.MolFromSmiles(key)`` (the order of library coordinates).
        ring_atoms (frozenset): the molecule's indices of the system's ring atoms.
        macrocycle (bool): whether a ring of the system has ``MACROCYCLE_SIZE`` or more atoms.
        flexible (bool): whether some ring atom is neither aromatic nor sp2/sp.
    """

    key: str
    atoms: tuple
    ring_atoms: frozenset
    macrocycle: bool
    flexible: bool


@dataclass
class RingConformations:
    """Conformations of one ring system: ``coords`` ``[K, A, 3]`` (the key's heavy-atom order),
    MMFF94 ``energies`` ``[K]`` (kcal/mol, of the capped fragment) and Boltzmann ``weights`` ``[K]``."""

    key: str
    coords: np.ndarray
    energies: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        from geomgen.metrics.boltzmann import boltzmann_weights

        return boltzmann_weights(np.asarray(self.energies, dtype=np.float64))


def _merged_rings(mol) -> list[set[int]]:
    """Atom sets of ``mol``'s ring systems: rings sharing an atom are merged."""
    systems: list[set[int]] = []
    for ring in mol.GetRingInfo().AtomRings():
        ring = set(ring)
        overlapping = [s for s in systems if s & ring]
        for s in overlapping:
            ring |= s
            systems.remove(s)
        systems.append(ring)
    return systems


def ring_systems(mol) -> list[RingSystem]:
    """The ring systems of ``mol`` (with or without explicit hydrogens), largest first.

    Raises:
        ValueError: a fragment RDKit cannot sanitise (the caller falls back to distance geometry).
    """
    from rdkit import Chem

    from geomgen.conformers.embedding import MACROCYCLE_SIZE

    systems = _merged_rings(mol)
    if not systems:
        return []
    sizes = {frozenset(r): len(r) for r in mol.GetRingInfo().AtomRings()}
    work = Chem.Mol(mol)
    for a in work.GetAtoms():
        a.SetIntProp("_orig", a.GetIdx())
    heavy = Chem.RemoveHs(work, sanitize=False)
    to_heavy = {a.GetIntProp("_orig"): a.GetIdx() for a in heavy.GetAtoms()}
    out = []
    for ring in sorted(systems, key=lambda s: (-len(s), min(s))):
        macro = any(size >= MACROCYCLE_SIZE for r, size in sizes.items() if r <= ring)
        shell = {n.GetIdx() for i in ring for n in mol.GetAtomWithIdx(i).GetNeighbors()
                 if n.GetAtomicNum() > 1 and n.GetIdx() not in ring}
        flexible = any(not mol.GetAtomWithIdx(i).GetIsAromatic()
                       and mol.GetAtomWithIdx(i).GetHybridization() not in (Chem.HybridizationType.SP2, Chem.HybridizationType.SP)
                       for i in ring)
        key, atoms = _fragment_key(heavy, {to_heavy[i] for i in ring}, {to_heavy[i] for i in shell})
        out.append(RingSystem(key=key, atoms=atoms, ring_atoms=frozenset(ring), macrocycle=macro, flexible=flexible))
    return out


def _fragment_key(heavy, ring: set[int], shell: set[int]) -> tuple[str, tuple]:
    """Canonical isomeric SMILES of the fragment ``ring | shell`` of the heavy-atom molecule
    ``heavy``, and the original indices (``_orig``) of its atoms in the SMILES' atom order."""
    from rdkit import Chem

    keep = ring | shell
    rw = Chem.RWMol(heavy)
    for idx in sorted((a.GetIdx() for a in heavy.GetAtoms() if a.GetIdx() not in keep), reverse=True):
        rw.RemoveAtom(idx)
    orig_ring = {heavy.GetAtomWithIdx(i).GetIntProp("_orig") for i in ring}
    for a in rw.GetAtoms():
        if a.GetIntProp("_orig") in orig_ring:
            continue
        a.SetIsAromatic(False)
        a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
        a.SetFormalCharge(0)
        a.SetNumExplicitHs(0)
        a.SetNoImplicit(False)
        for b in a.GetBonds():
            if b.GetIsAromatic() or b.GetBondType() == Chem.BondType.AROMATIC:
                b.SetIsAromatic(False)
                b.SetBondType(Chem.BondType.SINGLE)
            if b.GetBondType() == Chem.BondType.DOUBLE:
                b.SetStereo(Chem.BondStereo.STEREONONE)
    for b in rw.GetBonds():  # ring double bonds below macrocycle size are cis anyway; above, no library
        if b.GetBondType() == Chem.BondType.DOUBLE and b.GetStereo() != Chem.BondStereo.STEREONONE:
            b.SetStereo(Chem.BondStereo.STEREONONE)
    frag = rw.GetMol()
    frag.UpdatePropertyCache(strict=False)
    problems = Chem.SanitizeMol(frag, catchErrors=True)
    if problems != Chem.SanitizeFlags.SANITIZE_NONE:
        raise ValueError(f"ring-system fragment cannot be sanitised ({problems})")
    Chem.AssignStereochemistry(frag, cleanIt=True, force=True)
    key = Chem.MolToSmiles(frag, isomericSmiles=True)
    order = [int(i) for i in frag.GetProp("_smilesAtomOutputOrder").strip("[]").split(",") if i.strip()]
    if any(a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED for a in frag.GetAtoms()):
        # a symmetric fragment's canonical SMILES can carry the mirror labels of both centres of
        # a meso-like pair (trans-decalin): map the key's atoms by a chirality-preserving match
        match = frag.GetSubstructMatch(Chem.MolFromSmiles(key), useChirality=True)
        if len(match) == len(order):
            order = list(match)
    return key, tuple(frag.GetAtomWithIdx(i).GetIntProp("_orig") for i in order)


def build_conformations(key: str, seed: int = 0, max_conformations: int = MAX_CONFORMATIONS,
                        energy_window: float = ENERGY_WINDOW, min_rmsd: float = MIN_RMSD) -> RingConformations:
    """Conformations of the ring system ``key`` (see the module docstring). Deterministic for a
    given ``seed`` and RDKit version.

    Raises:
        ValueError: ``key`` does not parse, or no embedding succeeded.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.embedding import _ring_rmsd, rdkit_seed
    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.stereo import stereo_matches

    frag = Chem.MolFromSmiles(key)
    if frag is None:
        raise ValueError(f"ring-system key {key!r} does not parse")
    n_heavy = frag.GetNumAtoms()
    ring = [a for a in frag.GetAtoms() if a.IsInRing()]
    n_flex = sum(not (a.GetIsAromatic() or a.GetHybridization() in (Chem.HybridizationType.SP2, Chem.HybridizationType.SP)) for a in ring)
    planar = n_flex == 0
    n_embed = 1 if planar else min(16, 3 + 2 * n_flex)
    m = Chem.AddHs(frag)
    params = AllChem.ETKDGv3()
    params.randomSeed = rdkit_seed(seed)
    params.numThreads = 1
    cids = [c for c in AllChem.EmbedMultipleConfs(m, numConfs=n_embed, params=params) if c >= 0]
    if not cids:
        params.useRandomCoords = True
        cids = [c for c in AllChem.EmbedMultipleConfs(m, numConfs=n_embed, params=params) if c >= 0]
    if not cids:
        raise ValueError(f"ring system {key!r}: ETKDGv3 could not embed it")
    if AllChem.MMFFHasAllMoleculeParams(m):
        res = MMFF.optimize_conformers(m, max_iters=2000)
        energies = np.array([e for _, e in res], dtype=np.float64)
    else:
        energies = np.zeros(len(cids))
    cands = []
    for k, cid in enumerate(cids):
        if not np.isfinite(energies[k]) or not stereo_matches(m, conf_id=cid, reference=m):
            continue
        probe = Chem.Mol(m, confId=cid)
        Chem.AssignStereochemistryFrom3D(probe)
        cands.append((energies[k], k, Chem.MolToSmiles(Chem.RemoveHs(probe)), m.GetConformer(cid).GetPositions()[:n_heavy]))
    if not cands:
        raise ValueError(f"ring system {key!r}: no embedding kept the stereochemistry")
    cands.sort(key=lambda c: (c[0], c[1]))
    isomer = cands[0][2]  # unspecified stereo: every conformation is of the lowest one's stereoisomer
    kept_e, kept_x = [], []
    for e, _, smi, x in cands:
        if smi != isomer or e > cands[0][0] + energy_window or len(kept_x) == (1 if planar else max_conformations):
            continue
        if all(_ring_rmsd(x, y) >= min_rmsd for y in kept_x):
            kept_e.append(e)
            kept_x.append(x)
    # rounded as the shipped library stores them, so that a conformation built here, read back
    # from the disk cache or shipped is the same to the last bit (outputs do not depend on
    # which process built a ring system)
    return RingConformations(key=key, coords=np.round(np.stack(kept_x), 3), energies=np.round(np.array(kept_e), 4))


def cache_dir() -> Path | None:
    """The ring library's disk cache: ``$GEOMGEN_CACHE_DIR`` (``off``, ``0``, ``none`` or empty:
    none), else ``$XDG_CACHE_HOME/geomgen/ringlib``, else ``~/.cache/geomgen/ringlib``."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none") else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "geomgen" / "ringlib"


def _cache_file(folder: Path, key: str) -> Path:
    from geomgen.conformers.keycache import KeyCache

    return KeyCache(folder, LIBRARY_VERSION, "ring library", CACHE_ENV).path(key)


class RingLibrary:
    """Ring-system conformations by key: memory, then the shipped library, then the disk cache,
    then built (see the module docstring).

    Args:
        folder: the disk cache folder (default :func:`cache_dir`); ``False`` for none.
        shipped (bool): use the library shipped with the package (default True).
        seed (int): random seed of the builds (default 0; the shipped library and the cache use 0).

    Attributes:
        stats (dict): lookups answered from ``memory``, ``shipped``, ``disk``, and ``built``.
    """

    def __init__(self, folder=None, shipped: bool = True, seed: int = 0):
        from geomgen.conformers.keycache import KeyCache

        self.folder = cache_dir() if folder is None else (Path(folder) if folder is not False else None)
        self.seed = int(seed)
        self._memory: dict[str, RingConformations] = {}
        self._shipped = _load_shipped() if shipped else {}
        self._disk = KeyCache(self.folder, LIBRARY_VERSION, "ring library", CACHE_ENV)
        self.stats = {"memory": 0, "shipped": 0, "disk": 0, "built": 0}

    def hit_rate(self) -> float | None:
        """Share of lookups not built here (``None`` before any lookup)."""
        total = sum(self.stats.values())
        return (total - self.stats["built"]) / total if total else None

    def get(self, key: str) -> RingConformations:
        """The conformations of ring system ``key``.

        Raises:
            ValueError: the key cannot be built (see :func:`build_conformations`).
        """
        hit = self._memory.get(key)
        if hit is not None:
            self.stats["memory"] += 1
            return hit
        if key in self._shipped:
            self.stats["shipped"] += 1
            out = self._shipped[key]()
        else:
            out = self._read(key)
            if out is not None:
                self.stats["disk"] += 1
            else:
                self.stats["built"] += 1
                out = build_conformations(key, seed=self.seed)
                self._write(out)
        if len(self._memory) >= MEMORY_ENTRIES:
            self._memory.pop(next(iter(self._memory)))
        self._memory[key] = out
        return out

    def _read(self, key: str) -> RingConformations | None:
        def consistent(z) -> bool:
            return {"coords", "energies"} <= set(z) and z["coords"].ndim == 3 and len(z["coords"]) == len(z["energies"]) > 0

        z = self._disk.read(key, check=consistent)
        if z is None:
            return None
        return RingConformations(key=key, coords=z["coords"].astype(np.float64), energies=z["energies"].astype(np.float64))

    def _write(self, conf: RingConformations) -> None:
        self._disk.write(conf.key, {"coords": conf.coords.astype(np.float64), "energies": conf.energies.astype(np.float64)})


@functools.cache
def _load_shipped() -> dict:
    """``key -> loader`` of the shipped library (empty when absent or of another version)."""
    from geomgen.conformers.keycache import read_shipped

    z = read_shipped(SHIPPED_LIBRARY, LIBRARY_VERSION, "ring library")
    if z is None:
        return {}
    keys, n_atoms, n_confs = list(z["keys"]), z["n_atoms"], z["n_confs"]
    coords, energies = z["coords"].astype(np.float64) / 1000.0, np.round(z["energies"].astype(np.float64), 4)
    atom_start = np.concatenate([[0], np.cumsum(n_atoms * n_confs)])
    conf_start = np.concatenate([[0], np.cumsum(n_confs)])

    def loader(k: int, key: str):
        def load() -> RingConformations:
            x = coords[atom_start[k]: atom_start[k + 1]].reshape(int(n_confs[k]), int(n_atoms[k]), 3)
            return RingConformations(key=key, coords=x, energies=energies[conf_start[k]: conf_start[k + 1]])
        return load

    return {str(key): loader(k, str(key)) for k, key in enumerate(keys)}


def save_library(path, conformations: list[RingConformations]) -> None:
    """Write ``conformations`` as a compact library file (coordinates in mA as int16)."""
    from geomgen.atomic import atomic_write

    conformations = sorted(conformations, key=lambda c: c.key)
    coords = np.concatenate([c.coords.reshape(-1, 3) for c in conformations])
    if np.abs(coords).max() * 1000 >= 2**15:
        raise ValueError("a ring system extends beyond 32 A from its centre")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, version=np.array(LIBRARY_VERSION), keys=np.array([c.key for c in conformations]),
                                n_atoms=np.array([c.coords.shape[1] for c in conformations], dtype=np.int32),
                                n_confs=np.array([len(c.coords) for c in conformations], dtype=np.int32),
                                coords=np.round(coords * 1000).astype(np.int16),
                                energies=np.concatenate([c.energies for c in conformations]).astype(np.float32))

    atomic_write(path, write)


_DEFAULT: RingLibrary | None = None


def default_library() -> RingLibrary:
    """The process's ring library (shipped library and the disk cache of :func:`cache_dir`)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = RingLibrary()
    return _DEFAULT


#: a ring system of a geometry is in a library conformation when its ring atoms lie within this
#: RMSD (A, after superposition, mirror images allowed) of one: chairs of six-membered rings match
#: within 0.05, twist-boats lie 0.37 away (test-00095, drugs-00047)
MATCH_RMSD = 0.2


def ring_matches(mol, pos, library: RingLibrary | None = None, max_rmsd: float = MATCH_RMSD) -> list[tuple[str, float, float]]:
    """How well each flexible ring system of ``pos`` matches its library conformations.

    Only the ring atoms are compared (the first-shell atoms of the key move with nitrogen
    inversion and substituent rotation). Rings outside the library's low-energy window (a cyclohexane or morpholine twist-boat, about
    5 kcal/mol above the chair) match none; the chair with an axial or an equatorial substituent
    matches when both are within :data:`ENERGY_WINDOW`. Energy is invariant under reflection, so a
    conformation also matches the mirror image of a library one (an unspecified stereocentre may
    be either). Macrocycles and planar systems are skipped (their conformations are not a small
    set of puckers).

    Args:
        mol: RDKit molecule (the atom order of ``pos``).
        pos: ``[N, 3]`` coordinates of ``mol``.
        library (RingLibrary, optional): default :func:`default_library`.
        max_rmsd (float): the match tolerance (A, default :data:`MATCH_RMSD`).

    Returns:
        per flexible system ``(key, rmsd, weight)``: the smallest RMSD of its ring atoms to a
        library conformation and the summed Boltzmann weight of the library conformations within
        ``max_rmsd`` (0.0: none; the ring atoms alone do not tell an axial from an equatorial
        substituent, so both chairs may count).
    """
    from geomgen.conformers.embedding import _ring_rmsd

    library = library or default_library()
    pos = np.asarray(pos, dtype=np.float64)
    out = []
    for system in ring_systems(mol):
        if system.macrocycle or not system.flexible:
            continue
        confs = library.get(system.key)
        idx = [i for i, a in enumerate(system.atoms) if a in system.ring_atoms]
        x = pos[[system.atoms[i] for i in idx]]
        rmsd = [min(_ring_rmsd(x, y), _ring_rmsd(x, y * np.array([1.0, 1.0, -1.0]))) for y in confs.coords[:, idx]]
        rmsd = np.asarray(rmsd)
        out.append((system.key, float(rmsd.min()), float(confs.weights[rmsd <= max_rmsd].sum())))
    return out


def rings_in_library(mol, pos, library: RingLibrary | None = None, max_rmsd: float = MATCH_RMSD) -> bool:
    """Whether every flexible, non-macrocyclic ring system of ``pos`` is in one of its library
    conformations (:func:`ring_matches`); True for a molecule without one."""
    return all(weight > 0.0 for _, _, weight in ring_matches(mol, pos, library, max_rmsd))
