"""Build conformer reference sets: sample every molecule of a SMILES list (resumable, one file per
molecule, any process pool) and gather them with :func:`geomgen.conformers.reference.store.assemble`."""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from pathlib import Path

import numpy as np

from geomgen.conformers.reference.store import QUANT, _atomic_savez, read_smiles_csv

#: Sampler budgets per split: converged references for evaluation splits, noisier (shorter,
#: two chains) for training molecules.
SPLIT_CONFIGS = {
    "train": dict(n_chains=2, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=300),
    "val": dict(n_chains=4, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=900, ess_target=200),
    "test": dict(n_chains=4, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=900, ess_target=200),
    "drugs": dict(n_chains=4, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=900, ess_target=200),
}


def build_one(mol_id: str, smiles: str, work_dir, config: dict, seed: int = 0) -> dict:
    """Sample one molecule's reference and write ``work_dir/<id>.npz`` (or ``<id>.fail.json``)."""
    from rdkit import Chem

    from geomgen.conformers.embedding import embed_seed
    from geomgen.conformers.molecule import canonical_isomeric_smiles, parse_molecule
    from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference

    work = Path(work_dir)
    t0 = time.perf_counter()
    try:
        mol = embed_seed(parse_molecule(smiles, name=mol_id), seed=seed, name=mol_id)
        res = sample_reference(mol, SamplerConfig(seed=seed, **config))
        q = np.round((np.mod(res.angles + math.pi, 2 * math.pi)) / (2 * math.pi) * QUANT).astype(np.int64) % QUANT
        diag = {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in res.diagnostics.items()}
        diag["total_seconds"] = time.perf_counter() - t0
        _atomic_savez(
            work / f"{mol_id}.npz",
            id=np.array(mol_id),
            smiles=np.array(canonical_isomeric_smiles(mol)),
            molblock=np.array(Chem.MolToMolBlock(mol)),
            torsion_atoms=res.torsions.atoms.astype(np.int16),
            angles=q.astype(np.uint16),
            energies=res.energies.astype(np.float32),
            diagnostics=np.array(json.dumps(diag)),
        )
        return {"id": mol_id, "ok": True, **diag}
    except Exception as exc:  # recorded per molecule, the build goes on
        rec = {"id": mol_id, "smiles": smiles, "ok": False, "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc(limit=3)}
        tmp = work / f"{mol_id}.fail.json.tmp"
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, work / f"{mol_id}.fail.json")
        return rec


def _build_one_star(args):
    import torch  # noqa: F401  (nothing heavy here; keep each worker single-threaded)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return build_one(*args)


def build_reference_set(smiles_csv, work_dir, config: dict, jobs: int = 2, seed: int = 0, limit: int | None = None, progress: bool = True) -> list[dict]:
    """Build references for every molecule of ``smiles_csv`` into ``work_dir`` (resumable).

    Molecules with a finished ``<id>.npz`` or ``<id>.fail.json`` are skipped; the rest run in
    ``jobs`` processes with a progress bar. Returns the records of this run.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    todo = [(i, s) for i, s in read_smiles_csv(smiles_csv)[:limit] if not (work / f"{i}.npz").exists() and not (work / f"{i}.fail.json").exists()]
    records = []
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(build_one, i, s, str(work), config, seed) for i, s in todo]
        for fut in tqdm(as_completed(futs), total=len(futs), disable=not progress, desc=Path(smiles_csv).stem):
            records.append(fut.result())
    return records
