"""Seed geometries: ETKDGv3 embedding of a parsed molecule, MMFF94-minimised."""

from __future__ import annotations

import numpy as np

from geomgen.conformers.molecule import MoleculeError


def rdkit_seed(seed: int) -> int:
    """Map a user seed to an RDKit random seed. RDKit's ``randomSeed = 0`` makes every
    conformer of ``EmbedMultipleConfs`` identical, so seeds are offset away from 0."""
    return int(seed) + 0x5EED


def embed_seed(mol, seed: int = 0, n_candidates: int = 8, name: str | None = None):
    """Embed ``mol`` with ETKDGv3 and return a copy with one MMFF-minimised seed conformer.

    ``n_candidates`` conformers are embedded with the given random seed and MMFF94-minimised;
    the lowest-energy one is kept, so amide/ester cis-trans and ring puckers come from a
    low-energy structure rather than from one random draw. Stereocentres left unspecified in
    the input are fixed by the seed.

    Raises:
        MoleculeError: when ETKDG cannot embed the molecule.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    label = name or Chem.MolToSmiles(Chem.RemoveHs(mol))
    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    params = AllChem.ETKDGv3()
    params.randomSeed = rdkit_seed(seed)
    params.numThreads = 1
    cids = list(AllChem.EmbedMultipleConfs(m, numConfs=n_candidates, params=params))
    if not cids:
        params.useRandomCoords = True
        cids = list(AllChem.EmbedMultipleConfs(m, numConfs=n_candidates, params=params))
    if not cids:
        raise MoleculeError(f"{label!r}: ETKDG could not embed the molecule")
    res = AllChem.MMFFOptimizeMoleculeConfs(m, numThreads=1, maxIters=2000)
    energies = [e if conv >= 0 else np.inf for conv, e in res]
    best = cids[int(np.argmin(energies))]
    out = Chem.Mol(m, confId=best)
    conf = m.GetConformer(best)
    out.RemoveAllConformers()
    c = Chem.Conformer(conf)
    c.SetId(0)
    out.AddConformer(c, assignId=False)
    Chem.AssignStereochemistryFrom3D(out, confId=0)
    return out
