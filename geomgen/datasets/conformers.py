"""Conformer reference data sets: build (resumable, parallel) and load.

A reference set is one compressed ``.npz`` per split holding, for every molecule, its seed
geometry (an MDL mol block with hydrogens, so atom order and stereo are fixed), canonical
isomeric SMILES, rotatable torsion definitions (:mod:`geomgen.chem.torsions`), reference
torsion samples of the MMFF94 Boltzmann distribution at 300 K (quantised to 2 pi / 65536 rad),
their MMFF energies, and the sampler's diagnostics.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QUANT = 65536
FORMAT_VERSION = 1

#: Sampler budgets per split: converged references for evaluation splits, noisier (shorter,
#: two chains) for training molecules.
SPLIT_CONFIGS = {
    "train": dict(n_chains=2, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=300),
    "val": dict(n_chains=4, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=900, ess_target=200),
    "test": dict(n_chains=4, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=900, ess_target=200),
    "drugs": dict(n_chains=4, n_samples=400, warmup_sweeps=100, round_sweeps=300, min_sweeps=300, max_sweeps=900, ess_target=200),
}


@dataclass
class ReferenceMolecule:
    """One molecule of a reference set.

    Attributes:
        id: identifier from the SMILES list.
        smiles: canonical isomeric SMILES (stereo as in the seed).
        mol: RDKit molecule with hydrogens and the seed conformer.
        torsion_atoms: ``[T, 4]`` dihedral atoms of the rotatable torsions.
        angles: ``[S, T]`` reference torsion samples (radians, float32).
        energies: ``[S]`` MMFF94 energies (kcal/mol).
        diagnostics: sampler diagnostics (R-hat, ESS, acceptance, ...).
    """

    id: str
    smiles: str
    mol: object
    torsion_atoms: np.ndarray
    angles: np.ndarray
    energies: np.ndarray
    diagnostics: dict

    def torsions(self):
        """The :class:`~geomgen.chem.TorsionSet` of the stored torsion quadruples."""
        from geomgen.chem.torsions import torsion_set_from_atoms

        return torsion_set_from_atoms(self.mol, self.torsion_atoms)

    def conformers(self, n: int | None = None):
        """Reference conformers rebuilt from the samples: the sampled torsions set on the seed."""
        from rdkit import Chem

        from geomgen.chem import set_torsions

        angles = self.angles if n is None else self.angles[np.linspace(0, len(self.angles) - 1, n).round().astype(int)]
        pos = set_torsions(self.mol.GetConformer().GetPositions(), self.torsions(), angles)
        out = Chem.Mol(self.mol)
        out.RemoveAllConformers()
        for p in pos:
            conf = Chem.Conformer(out.GetNumAtoms())
            for a, x in enumerate(p):
                conf.SetAtomPosition(a, x.tolist())
            out.AddConformer(conf, assignId=True)
        return out


def read_smiles_csv(path) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        return [(r["id"], r["smiles"]) for r in csv.DictReader(f)]


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def build_one(mol_id: str, smiles: str, work_dir, config: dict, seed: int = 0) -> dict:
    """Sample one molecule's reference and write ``work_dir/<id>.npz`` (or ``<id>.fail.json``)."""
    from rdkit import Chem

    from geomgen.chem import SamplerConfig, canonical_isomeric_smiles, embed_seed, parse_molecule, sample_reference

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


def assemble(smiles_csv, work_dir, out_path) -> dict:
    """Gather the per-molecule files of a split into one compressed npz; return a summary."""
    work = Path(work_dir)
    ids = [i for i, _ in read_smiles_csv(smiles_csv)]
    parts = {k: [] for k in ("id", "smiles", "molblock", "torsion_atoms", "angles", "energies", "diagnostics")}
    failures = []
    for i in ids:
        f = work / f"{i}.npz"
        if f.exists():
            with np.load(f) as z:
                for k in parts:
                    parts[k].append(z[k])
        elif (work / f"{i}.fail.json").exists():
            failures.append(json.loads((work / f"{i}.fail.json").read_text()))
    n = len(parts["id"])
    t_counts = np.array([len(a) for a in parts["torsion_atoms"]], dtype=np.int64)
    s_counts = np.array([len(e) for e in parts["energies"]], dtype=np.int64)
    out = Path(out_path)
    _atomic_savez(
        out,
        format_version=np.array(FORMAT_VERSION),
        id=np.array([str(x) for x in parts["id"]]),
        smiles=np.array([str(x) for x in parts["smiles"]]),
        molblock=np.array([str(x) for x in parts["molblock"]]),
        diagnostics=np.array([str(x) for x in parts["diagnostics"]]),
        n_torsions=t_counts,
        n_samples=s_counts,
        torsion_atoms=np.concatenate(parts["torsion_atoms"]) if n else np.zeros((0, 4), np.int16),
        angles=np.concatenate([a.ravel() for a in parts["angles"]]) if n else np.zeros(0, np.uint16),
        energies=np.concatenate(parts["energies"]) if n else np.zeros(0, np.float32),
    )
    return {"molecules": n, "failures": failures, "missing": len(ids) - n - len(failures)}


def load_reference_set(split_or_path: str) -> list[ReferenceMolecule]:
    """Load a reference set: a split name (``train``, ``val``, ``test``, ``drugs``) of the data
    shipped in ``data/conformers/`` or a path to an ``.npz`` written by :func:`assemble`."""
    from rdkit import Chem

    from geomgen.assets import asset_path

    path = Path(split_or_path)
    if not path.suffix == ".npz":
        path = asset_path(f"data/conformers/reference_{split_or_path}.npz")
    out = []
    with np.load(path) as npz:
        z = {k: npz[k] for k in npz.files}  # decompress each array once
    if int(z["format_version"]) != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {int(z['format_version'])}, expected {FORMAT_VERSION}")
    t_off = np.concatenate([[0], np.cumsum(z["n_torsions"])])
    a_off = np.concatenate([[0], np.cumsum(z["n_torsions"] * z["n_samples"])])
    s_off = np.concatenate([[0], np.cumsum(z["n_samples"])])
    atoms_all, angles_all, energies_all = z["torsion_atoms"], z["angles"], z["energies"]
    for m in range(len(z["id"])):
        t, s = int(z["n_torsions"][m]), int(z["n_samples"][m])
        mol = Chem.MolFromMolBlock(str(z["molblock"][m]), removeHs=False)
        Chem.AssignStereochemistryFrom3D(mol)
        q = angles_all[a_off[m] : a_off[m + 1]].reshape(s, t).astype(np.float32)
        out.append(
            ReferenceMolecule(
                id=str(z["id"][m]),
                smiles=str(z["smiles"][m]),
                mol=mol,
                torsion_atoms=atoms_all[t_off[m] : t_off[m + 1]].astype(np.int64),
                angles=(q / QUANT * 2 * np.pi - np.pi).astype(np.float32),
                energies=energies_all[s_off[m] : s_off[m + 1]].astype(np.float64),
                diagnostics=json.loads(str(z["diagnostics"][m])),
            )
        )
    return out
