"""Seed geometries: ETKDGv3 embedding of a parsed molecule, MMFF94-minimised."""

from __future__ import annotations

import numpy as np

from geomgen.conformers.molecule import MoleculeError

#: offset of :func:`rdkit_seed`
_SEED_OFFSET = 0x5EED
#: the largest seed :func:`rdkit_seed` maps into RDKit's (32-bit signed) ``randomSeed``
MAX_SEED = 2**31 - 1 - _SEED_OFFSET


def rdkit_seed(seed: int) -> int:
    """Map a user seed (0 to :data:`MAX_SEED`) to an RDKit random seed. RDKit's ``randomSeed = 0``
    makes every conformer of ``EmbedMultipleConfs`` identical, so seeds are offset away from 0."""
    return int(seed) + _SEED_OFFSET


#: distance-geometry embedders of :func:`embed_seed`: RDKit's ETKDGv3, and KDG (the same
#: basic knowledge -- planar conjugated groups, trans secondary amides, ring geometry -- without
#: the experimental torsion preferences, a third cheaper; for seeds whose torsions are resampled)
SEED_EMBEDDERS = ("etkdg", "kdg")


def embed_seed(mol, seed: int = 0, n_candidates: int = 8, name: str | None = None, max_iters: int = 2000,
               embedder: str = "etkdg", timeout: int = 0):
    """Embed ``mol`` with ETKDGv3 (or KDG) and return a copy with one MMFF-minimised seed conformer.

    ``n_candidates`` conformers are embedded with the given random seed and MMFF94-minimised
    (at most ``max_iters`` iterations); the lowest-energy one is kept, so amide/ester cis-trans
    and ring puckers come from a low-energy structure rather than from one random draw. With
    ``n_candidates=1`` and ``max_iters=0`` the ETKDGv3 geometry is returned as it is (no force
    field is set up: the fastest seed, for generation whose torsions are resampled anyway).
    Stereocentres left unspecified in the input are fixed by the seed. ``embedder`` is one of
    :data:`SEED_EMBEDDERS`. ``timeout`` (whole seconds, 0 for none) bounds RDKit's embedding of
    each candidate (its ``EmbedParameters.timeout``): a candidate that runs out is dropped, never
    changed, so a caller that fails a molecule once its time is up gets the same seeds or none.

    Raises:
        MoleculeError: when ETKDG cannot embed the molecule.
        ValueError: an unknown ``embedder``.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    label = name or Chem.MolToSmiles(Chem.RemoveHs(mol))
    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    if embedder not in SEED_EMBEDDERS:
        raise ValueError(f"embedder must be one of {SEED_EMBEDDERS}, got {embedder!r}")
    params = AllChem.ETKDGv3() if embedder == "etkdg" else AllChem.KDG()
    params.randomSeed = rdkit_seed(seed)
    params.numThreads = 1
    params.timeout = int(timeout)
    raw = list(AllChem.EmbedMultipleConfs(m, numConfs=n_candidates, params=params))
    cids = [c for c in raw if c >= 0]  # -1: timed out
    if not cids and -1 not in raw:
        params.useRandomCoords = True
        cids = [c for c in AllChem.EmbedMultipleConfs(m, numConfs=n_candidates, params=params) if c >= 0]
    if not cids:
        raise MoleculeError(f"{label!r}: ETKDG could not embed the molecule")
    if max_iters > 0 or len(cids) > 1:
        from geomgen.conformers.mmff import MMFF

        res = MMFF.optimize_conformers(m, max_iters=max(int(max_iters), 0))
        energies = [e if conv >= 0 else np.inf for conv, e in res]
        best = cids[int(np.argmin(energies))]
    else:
        best = cids[0]
    out = Chem.Mol(m, confId=best)
    conf = m.GetConformer(best)
    out.RemoveAllConformers()
    c = Chem.Conformer(conf)
    c.SetId(0)
    out.AddConformer(c, assignId=False)
    Chem.AssignStereochemistryFrom3D(out, confId=0)
    return out


#: smallest ring treated as a macrocycle: its conformations are not set by rotatable torsions
MACROCYCLE_SIZE = 8


def largest_ring(mol) -> int:
    """Size of the largest ring of ``mol`` (its smallest-set-of-smallest-rings), 0 without rings."""
    return max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0)


def non_aromatic_rings(mol, min_size: int = 3) -> list[tuple[int, ...]]:
    """The rings of ``mol`` (smallest set of smallest rings) with ``min_size`` or more atoms that
    are not entirely aromatic: those whose conformations the rotatable torsions do not set."""
    return [r for r in mol.GetRingInfo().AtomRings()
            if len(r) >= min_size and not all(mol.GetAtomWithIdx(a).GetIsAromatic() for a in r)]


def _ring_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """RMSD of two point sets ``[N, 3]`` after optimal superposition (Kabsch)."""
    a, b = a - a.mean(0), b - b.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    s[-1] *= np.sign(np.linalg.det(u @ vt))  # a proper rotation
    return float(np.sqrt(max((a**2).sum() + (b**2).sum() - 2 * s.sum(), 0.0) / len(a)))


def ring_seeds(mol, first, seed: int = 0, n_candidates: int = 32, max_seeds: int = 8, energy_window: float = 5.0,
               min_rmsd: float = 0.5, min_size: int = MACROCYCLE_SIZE, max_iters: int = 2000, timeout: int = 0) -> list:
    """Distinct low-energy conformations of the non-aromatic rings of ``mol`` with ``min_size`` or
    more atoms (by default its macrocycles), as seeds (one conformer each).

    ``n_candidates`` ETKDGv3 embeddings (macrocycle torsion preferences on for macrocycles, with
    the stereo ``first`` fixed) are MMFF94-minimised (``max_iters``) and pooled with ``first``, the
    seed already chosen. Candidates with another stereochemistry than ``first`` (all its
    perceived centres and double bonds) are dropped; of the rest, those within ``energy_window``
    kcal/mol of the lowest are kept in order of energy when their ring atoms (with their heavy
    neighbours for rings below macrocycle size) lie at least ``min_rmsd`` A (RMSD after
    superposition) from every seed kept before, up to ``max_seeds``; each carries its energy as
    the property ``MMFF94_energy_kcal_mol``. Returns at least one seed (``first`` when nothing
    else passes).

    Args:
        mol: the parsed molecule (with hydrogens).
        first: a seed of ``mol`` (one conformer) whose stereochemistry the others must share.
        seed (int): random seed of the embeddings (default 0).
        timeout (int): whole seconds for RDKit's embedding of each candidate (0: none; see
            :func:`embed_seed`).
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.stereo import stereo_matches

    rings = non_aromatic_rings(mol, min_size)
    if not rings:
        return [first]
    ring_atoms = {a for r in rings for a in r}
    if min_size < MACROCYCLE_SIZE:  # a small ring's chairs differ in where its substituents point
        ring_atoms |= {n.GetIdx() for a in list(ring_atoms) for n in mol.GetAtomWithIdx(a).GetNeighbors() if n.GetAtomicNum() > 1}
    ring_atoms = sorted(ring_atoms)
    m = Chem.Mol(first)  # its stereo tags (perceived from its geometry) guide the embedding
    m.RemoveAllConformers()
    params = AllChem.ETKDGv3()
    params.randomSeed = rdkit_seed(seed)
    params.numThreads = 1
    params.useMacrocycleTorsions = min_size >= MACROCYCLE_SIZE
    params.timeout = int(timeout)
    cids = [c for c in AllChem.EmbedMultipleConfs(m, numConfs=n_candidates, params=params) if c >= 0]  # -1: timed out
    if cids:
        MMFF.optimize_conformers(m, max_iters=max_iters)
    candidates = [Chem.Mol(m, confId=c) for c in cids]
    candidates = [first] + [c for c in candidates if stereo_matches(c, reference=first)]
    energies = MMFF(first).energies(np.stack([c.GetConformer().GetPositions() for c in candidates]))
    kept: list = []
    for i in np.argsort(energies, kind="stable"):
        if energies[i] > energies.min() + energy_window or len(kept) == max_seeds:
            break
        pos = candidates[i].GetConformer().GetPositions()[ring_atoms]
        if all(_ring_rmsd(pos, k.GetConformer().GetPositions()[ring_atoms]) >= min_rmsd for k in kept):
            out = Chem.Mol(candidates[i])
            out.GetConformer().SetId(0)
            out.SetDoubleProp("MMFF94_energy_kcal_mol", float(energies[i]))
            kept.append(out)
    return kept or [first]
