r"""E/Z state probabilities of partial double bonds from a fragment library shared across molecules.

An amide's (carbamate's, urea's, ester's) E/Z state is set by its neighbourhood: which groups sit
on the carbonyl carbon and on the nitrogen, and how bulky they are. Like the ring library
(:mod:`geomgen.conformers.ringlib`), this module computes what depends on that neighbourhood once,
on a capped fragment, and shares it across every molecule that has the same fragment, so that the
generator can draw each site's state by its probability at no cost per molecule.

**Fragment** (:func:`site_fragments`). For a site of
:func:`~geomgen.conformers.discrete_states.partial_double_bonds` with reference atoms
:math:`(i, j, k, l)`: the heavy atoms within two bonds of :math:`j` or :math:`k`, plus every ring
system (rings sharing atoms merged, as in :mod:`~geomgen.conformers.ringlib`) with an atom among
them, plus the partners of every double or triple bond of these atoms (an aryl, a pyridone or a
ring nitrogen enters whole and aromatic, a sulfonyl keeps its oxygens). Every bond to the rest of
the molecule is capped with a methyl, so the fragment has no hydrogen-bond donor the molecule
lacks and a cut atom keeps its branching; cut atoms lose the stereo tags they no longer define.
The key is the canonical isomeric SMILES of the fragment with atom map numbers 1-4 on
:math:`i, j, k, l`, so a site's key also fixes which dihedral its state refers to. Sites whose
reference atom is a hydrogen (carboxylic acids) have no fragment: their other state carries no
weight at 300 K and they stay as the assembler places them. What lies beyond the caps (an
intramolecular hydrogen bond to a distant group, a long-range contact) is not seen.

**State energies** (:func:`build_state_energies`). ``n_embed`` ETKDGv3 embeddings of the capped
fragment (seeded, deterministic), each minimised with MMFF94 as embedded and with the site
turned by :math:`\pi` (the side of :math:`k` rotated rigidly about :math:`j \to k`); a minimum
counts for the state its mapped dihedral ends in (:math:`|\phi| < \pi/2`: state 1, *cis* by the
reference atoms, as :func:`~geomgen.conformers.discrete_states.site_states` labels it) when the
minimisation kept the fragment's stereochemistry. :math:`E_s` is the lowest minimum of state
:math:`s` (``inf`` when none was found), and the site's probability of state 1 is
:math:`p_1 = 1 / (1 + e^{(E_1 - E_0)/kT})` at 300 K. The energy of a minimum stands in for the
free energy of its state (the entropy of each well is neglected, as in the generator's
:func:`~geomgen.conformers.embedding.state_seeds`), and sites are taken as independent.

:class:`StateLibrary` answers a key from memory, then from the library shipped with the package
(:data:`SHIPPED_LIBRARY`, built by ``data/conformers/build_state_library.py`` from the training,
validation and test splits, never the approved drugs), then from the disk cache (one file per
key, written atomically; a stale or unreadable file is rebuilt with a warning, as for the ring
library), and builds what is missing.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: bump when the fragments, the keys or the energies change: cache files of another version are
#: rebuilt (and the shipped library ignored)
LIBRARY_VERSION = 1
#: the library shipped with the package (read through :func:`geomgen.assets.asset_path`)
SHIPPED_LIBRARY = "data/conformers/state_library.npz"
#: the disk cache's sub-folder of :func:`geomgen.conformers.ringlib.cache_dir`
CACHE_SUBFOLDER = "amide_states"
#: ETKDGv3 embeddings of a fragment (each minimised in both states)
N_EMBED = 6
#: kT at 300 K in kcal/mol
KT_300 = 0.0019872041 * 300.0


@dataclass(frozen=True)
class SiteFragment:
    """The fragment of one partial double bond.

    Attributes:
        site (int): index of the site in :func:`~geomgen.conformers.discrete_states.partial_double_bonds`.
        key (str): canonical isomeric SMILES of the capped fragment, map numbers 1-4 on i, j, k, l.
    """

    site: int
    key: str


@dataclass(frozen=True)
class StateEnergies:
    """Lowest MMFF94 minima (kcal/mol, of the capped fragment) of a site's two states:
    ``energies[0]`` with the reference dihedral trans, ``energies[1]`` cis (``inf``: not found)."""

    key: str
    energies: tuple[float, float]

    @property
    def p_cis(self) -> float:
        """Boltzmann probability of state 1 at 300 K."""
        e0, e1 = self.energies
        if not math.isfinite(e0) and not math.isfinite(e1):
            return 0.0
        if not math.isfinite(e1):
            return 0.0
        if not math.isfinite(e0):
            return 1.0
        return 1.0 / (1.0 + math.exp(min(700.0, (e1 - e0) / KT_300)))


def site_fragments(mol) -> list[SiteFragment]:
    """The fragment key of every site of ``mol`` (with hydrogens) that has one (module docstring).

    A site whose fragment RDKit cannot sanitise is left out, like one with a hydrogen reference
    atom: the caller keeps the assembler's state for it.
    """
    from rdkit import Chem

    from geomgen.conformers.discrete_states import partial_double_bonds
    from geomgen.conformers.ringlib import _merged_rings

    sites = partial_double_bonds(mol)
    if not sites:
        return []
    systems = _merged_rings(mol)
    ring_of = {a: k for k, s in enumerate(systems) for a in s}
    dist = Chem.GetDistanceMatrix(mol)
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    out = []
    for s_idx, site in enumerate(sites):
        i, j, k, l = site.atoms
        if not (heavy[i] and heavy[l]):
            continue
        near = set(np.flatnonzero(heavy & (np.minimum(dist[j], dist[k]) <= 2)).tolist())
        for a in list(near):
            if a in ring_of:
                near |= systems[ring_of[a]]
        # with the partners of their double and triple bonds (a pyridone's C=O keeps the ring
        # aromatic; a sulfonyl keeps its oxygens)
        near |= {b.GetOtherAtomIdx(a) for a in near for b in mol.GetAtomWithIdx(a).GetBonds()
                 if b.GetBondType() in (Chem.BondType.DOUBLE, Chem.BondType.TRIPLE)}
        key = _fragment_key(mol, near, (i, j, k, l))
        if key is not None:
            out.append(SiteFragment(site=s_idx, key=key))
    return out


def _fragment_key(mol, keep: set[int], mapped: tuple[int, int, int, int]) -> str | None:
    """Canonical SMILES of the fragment ``keep`` of ``mol`` with map numbers on ``mapped``."""
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    for a in rw.GetAtoms():
        a.SetIntProp("_orig", a.GetIdx())
        a.SetAtomMapNum(0)
    for n, a in enumerate(mapped, start=1):
        rw.GetAtomWithIdx(int(a)).SetAtomMapNum(n)
    # the kept heavy atoms' own hydrogens stay (an aromatic [nH] keeps its H); cut atoms get
    # implicit hydrogens for the bonds they lost
    keep = set(keep) | {n.GetIdx() for a in keep for n in mol.GetAtomWithIdx(int(a)).GetNeighbors() if n.GetAtomicNum() == 1}
    for idx in sorted((a.GetIdx() for a in mol.GetAtoms() if a.GetIdx() not in keep), reverse=True):
        rw.RemoveAtom(idx)
    caps = []
    for a in rw.GetAtoms():
        orig = mol.GetAtomWithIdx(a.GetIntProp("_orig"))
        lost = [b for b in orig.GetBonds() if b.GetOtherAtomIdx(orig.GetIdx()) not in keep]
        if not lost:
            continue
        # a methyl for each bond lost (single bonds only: the partners of multiple bonds are kept),
        # so no hydrogen-bond donor appears that the molecule does not have and a cut atom keeps
        # its branching
        caps += [a.GetIdx()] * len(lost)
        a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for idx in caps:
        c = rw.AddAtom(Chem.Atom(6))
        rw.AddBond(idx, c, Chem.BondType.SINGLE)
    for b in rw.GetBonds():
        if b.GetIsAromatic() and not (b.GetBeginAtom().GetIsAromatic() and b.GetEndAtom().GetIsAromatic()):
            b.SetIsAromatic(False)
            b.SetBondType(Chem.BondType.SINGLE)
    for b in rw.GetBonds():
        if b.GetBondType() == Chem.BondType.DOUBLE and b.GetStereo() != Chem.BondStereo.STEREONONE:
            ends = [mol.GetAtomWithIdx(x.GetIntProp("_orig")) for x in (b.GetBeginAtom(), b.GetEndAtom())]
            if not all(n.GetIdx() in keep for e in ends for n in e.GetNeighbors() if n.GetAtomicNum() > 1):
                b.SetStereo(Chem.BondStereo.STEREONONE)
    frag = Chem.RemoveHs(rw.GetMol(), sanitize=False)
    frag.UpdatePropertyCache(strict=False)
    if Chem.SanitizeMol(frag, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
        return None
    Chem.AssignStereochemistry(frag, cleanIt=True, force=True)
    return Chem.MolToSmiles(frag, isomericSmiles=True)


def _mapped(frag) -> tuple[int, int, int, int]:
    idx = {a.GetAtomMapNum(): a.GetIdx() for a in frag.GetAtoms() if a.GetAtomMapNum()}
    return tuple(idx[n] for n in (1, 2, 3, 4))


def build_state_energies(key: str, seed: int = 0, n_embed: int = N_EMBED, max_iters: int = 2000) -> StateEnergies:
    """The state energies of the fragment ``key`` (module docstring). Deterministic for a given
    ``seed`` and RDKit version.

    Raises:
        ValueError: ``key`` does not parse, MMFF94 cannot type it, or no embedding succeeded.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.embedding import rdkit_seed
    from geomgen.conformers.mmff import MMFF, set_positions
    from geomgen.conformers.stereo import stereo_matches
    from geomgen.conformers.torsions import dihedral_angles, rotate_side

    frag = Chem.MolFromSmiles(key)
    if frag is None:
        raise ValueError(f"state-library key {key!r} does not parse")
    i, j, k, l = _mapped(frag)
    m = Chem.AddHs(frag)
    for a in m.GetAtoms():
        a.SetAtomMapNum(0)
    if not AllChem.MMFFHasAllMoleculeParams(m):
        raise ValueError(f"state-library fragment {key!r}: MMFF94 cannot type it")
    params = AllChem.ETKDGv3()
    params.randomSeed = rdkit_seed(seed)
    params.numThreads = 1
    cids = [c for c in AllChem.EmbedMultipleConfs(m, numConfs=n_embed, params=params) if c >= 0]
    if not cids:
        params.useRandomCoords = True
        cids = [c for c in AllChem.EmbedMultipleConfs(m, numConfs=n_embed, params=params) if c >= 0]
    if not cids:
        raise ValueError(f"state-library fragment {key!r}: ETKDGv3 could not embed it")
    # the side of k (without j), rotated by pi to turn the site
    side, stack = set(), [k]
    while stack:
        a = stack.pop()
        if a in side:
            continue
        side.add(a)
        stack.extend(n.GetIdx() for n in m.GetAtomWithIdx(a).GetNeighbors() if n.GetIdx() != j and n.GetIdx() not in side)
    if j in side:
        raise ValueError(f"state-library fragment {key!r}: the site's bond is in a ring")
    side.discard(k)
    side_idx = np.array(sorted(side), dtype=int)
    starts = []
    for cid in cids:
        pos = m.GetConformer(cid).GetPositions()
        starts += [pos, rotate_side(pos, j, k, side_idx, math.pi)]
    probe = Chem.Mol(m)
    probe.RemoveAllConformers()
    for x in starts:
        conf = Chem.Conformer(m.GetNumAtoms())
        set_positions(conf, x)
        probe.AddConformer(conf, assignId=True)
    res = MMFF.optimize_conformers(probe, max_iters=max_iters)
    best = [math.inf, math.inf]
    for cid, (_, e) in enumerate(res):
        if not math.isfinite(e) or not stereo_matches(probe, conf_id=cid, reference=m):
            continue
        pos = probe.GetConformer(cid).GetPositions()
        state = int(abs(dihedral_angles(pos[None], np.array([[i, j, k, l]]))[0, 0]) < math.pi / 2)
        best[state] = min(best[state], float(e))
    if not any(math.isfinite(e) for e in best):
        raise ValueError(f"state-library fragment {key!r}: no minimum kept the stereochemistry")
    return StateEnergies(key=key, energies=(round(best[0], 4), round(best[1], 4)))


class StateLibrary:
    """State energies by fragment key: memory, then the shipped library, then the disk cache,
    then built (module docstring).

    Args:
        folder: the disk cache folder (default: the :data:`CACHE_SUBFOLDER` of
            :func:`~geomgen.conformers.ringlib.cache_dir`); ``False`` for none.
        shipped (bool): use the library shipped with the package (default True).
        seed (int): random seed of the builds (default 0; the shipped library and the cache use 0).

    Attributes:
        stats (dict): lookups answered from ``memory``, ``shipped``, ``disk``, and ``built``
            (``failed``: keys that could not be built; the caller keeps the assembler's state).
    """

    def __init__(self, folder=None, shipped: bool = True, seed: int = 0):
        from pathlib import Path

        from geomgen.conformers.keycache import KeyCache
        from geomgen.conformers.ringlib import CACHE_ENV, cache_dir

        if folder is None:
            base = cache_dir()
            folder = None if base is None else base / CACHE_SUBFOLDER
        elif folder is False:
            folder = None
        self.folder = None if folder is None else Path(folder)
        self.seed = int(seed)
        self._memory: dict[str, StateEnergies | None] = {}
        self._shipped = _load_shipped() if shipped else {}
        self._disk = KeyCache(self.folder, LIBRARY_VERSION, "amide state library", CACHE_ENV)
        self.stats = {"memory": 0, "shipped": 0, "disk": 0, "built": 0, "failed": 0}

    def get(self, key: str) -> StateEnergies | None:
        """The state energies of fragment ``key`` (``None``: it cannot be built)."""
        if key in self._memory:
            self.stats["memory"] += 1
            return self._memory[key]
        out = self._shipped.get(key)
        if out is not None:
            self.stats["shipped"] += 1
        else:
            z = self._disk.read(key, check=lambda z: "energies" in z and z["energies"].shape == (2,))
            if z is not None:
                self.stats["disk"] += 1
                out = StateEnergies(key=key, energies=(float(z["energies"][0]), float(z["energies"][1])))
            else:
                try:
                    out = build_state_energies(key, seed=self.seed)
                except (ValueError, RuntimeError):  # RDKit raises RuntimeError on odd fragments
                    self.stats["failed"] += 1
                    out = None
                else:
                    self.stats["built"] += 1
                    self._disk.write(key, {"energies": np.array(out.energies, dtype=np.float64)})
        self._memory[key] = out
        return out

    def site_probabilities(self, mol) -> dict[int, float]:
        """Probability of state 1 of every site of ``mol`` that has a fragment whose energies
        could be built (site index of
        :func:`~geomgen.conformers.discrete_states.partial_double_bonds` -> :math:`p_1`)."""
        out = {}
        for f in site_fragments(mol):
            e = self.get(f.key)
            if e is not None:
                out[f.site] = e.p_cis
        return out


@functools.cache
def _load_shipped() -> dict:
    """``key -> StateEnergies`` of the shipped library (empty when absent or of another version)."""
    from geomgen.conformers.keycache import read_shipped

    z = read_shipped(SHIPPED_LIBRARY, LIBRARY_VERSION, "amide state library")
    if z is None:
        return {}
    keys, energies = [str(k) for k in z["keys"]], z["energies"].astype(np.float64)
    return {k: StateEnergies(key=k, energies=(float(e[0]), float(e[1]))) for k, e in zip(keys, energies)}


def save_library(path, entries: list[StateEnergies]) -> None:
    """Write ``entries`` as a library file (sorted by key; ``inf`` for a state never found)."""
    from geomgen.atomic import atomic_write

    entries = sorted(entries, key=lambda e: e.key)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, version=np.array(LIBRARY_VERSION), keys=np.array([e.key for e in entries]),
                                energies=np.array([e.energies for e in entries], dtype=np.float64).reshape(-1, 2))

    atomic_write(path, write)


_DEFAULT: StateLibrary | None = None


def default_library() -> StateLibrary:
    """The process's amide state library (shipped library and the disk cache)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = StateLibrary()
    return _DEFAULT
