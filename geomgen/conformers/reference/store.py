"""Conformer reference data sets: build (resumable, parallel) and load.

A reference set is one compressed ``.npz`` per split holding, for every molecule, its seed
geometry (an MDL mol block with hydrogens, so atom order and stereo are fixed), canonical
isomeric SMILES, rotatable torsion definitions (:mod:`geomgen.conformers.torsions`), reference
torsion samples of the MMFF94 Boltzmann distribution at 300 K (quantised to 2 pi / 65536 rad),
their MMFF energies, and the sampler's diagnostics.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QUANT = 65536
FORMAT_VERSION = 1



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
        """The :class:`~geomgen.conformers.TorsionSet` of the stored torsion quadruples."""
        from geomgen.conformers.torsions import torsion_set_from_atoms

        return torsion_set_from_atoms(self.mol, self.torsion_atoms)

    def conformers(self, n: int | None = None):
        """Reference conformers rebuilt from the samples: the sampled torsions set on the seed."""
        from rdkit import Chem

        from geomgen.conformers.torsions import set_torsions

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
