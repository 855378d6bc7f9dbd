"""Bond lengths and angles of seed geometries against their own MMFF94 minimum (issue 27).

    python -m evaluation.conformers.assembly_seed_quality [--splits val test] [--molecules 100]

For the first ``--molecules`` molecules of each split (data/conformers/smiles_<split>.csv), each
seed is MMFF94-minimised (2000 iterations) and its bond lengths (A) and bond angles (degrees)
are compared with those of that minimum: RMSD over all bonds / angles of a molecule, then the
mean and the 95th percentile over molecules. Seeds: assembled from the ring library
(:mod:`geomgen.conformers.assembly`, the most probable ring conformations, no MMFF94), the same
with 30 MMFF94 iterations, ETKDGv3 as it comes, and ETKDGv3 with the generator's 100 MMFF94
iterations (today's seed). Also: the share of molecules that assembly had to leave to the ETKDGv3
fallback, and the mean time per seed on one core (ring library warm; ms). Writes
assembly_seed_quality.md beside this script.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "data" / "conformers"


def bonds_and_angles(mol, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = np.array([(x.GetBeginAtomIdx(), x.GetEndAtomIdx()) for x in mol.GetBonds()])
    lengths = np.linalg.norm(pos[b[:, 0]] - pos[b[:, 1]], axis=-1)
    trip = [(n1.GetIdx(), a.GetIdx(), n2.GetIdx()) for a in mol.GetAtoms() for k, n1 in enumerate(a.GetNeighbors())
            for n2 in list(a.GetNeighbors())[k + 1:]]
    t = np.array(trip).reshape(-1, 3)
    u, v = pos[t[:, 0]] - pos[t[:, 1]], pos[t[:, 2]] - pos[t[:, 1]]
    cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return lengths, np.degrees(np.arccos(np.clip(cos, -1, 1)))


def deviation(mol, seed) -> tuple[float, float]:
    from rdkit import Chem

    from geomgen.conformers.mmff import MMFF

    ref = Chem.Mol(seed)
    MMFF.optimize_conformers(ref, max_iters=2000)
    b0, a0 = bonds_and_angles(mol, seed.GetConformer().GetPositions())
    b1, a1 = bonds_and_angles(mol, ref.GetConformer().GetPositions())
    return float(np.sqrt(np.mean((b0 - b1) ** 2))), float(np.sqrt(np.mean((a0 - a1) ** 2)))


def minimised(mol, geometry, iters: int, seconds: float, name: str, ms: dict, dev: dict) -> None:
    """Minimise a copy of ``geometry`` for ``iters`` MMFF94 iterations; append its time (plus the
    ``seconds`` that made ``geometry``) to ``ms[name]`` and its deviation to ``dev[name]``."""
    from rdkit import Chem

    from geomgen.conformers.mmff import MMFF

    relaxed = Chem.Mol(geometry)
    t = time.perf_counter()
    MMFF.optimize_conformers(relaxed, max_iters=iters)
    ms[name].append(seconds + time.perf_counter() - t)
    dev[name].append(deviation(mol, relaxed))


def main(argv=None) -> int:
    from geomgen.atomic import atomic_write_text
    from geomgen.conformers.assembly import AssemblyError, assemble
    from geomgen.conformers.embedding import embed_seed
    from geomgen.conformers.molecule import parse_molecule
    from geomgen.conformers.ringlib import RingLibrary, ring_systems

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test"])
    ap.add_argument("--molecules", type=int, default=100)
    ap.add_argument("--out", default=str(HERE / "assembly_seed_quality.md"))
    args = ap.parse_args(argv)
    lib = RingLibrary(folder=False)
    rows = []
    for split in args.splits:
        with open(DATA / f"smiles_{split}.csv", newline="") as f:
            smiles = [r["smiles"] for r in csv.DictReader(f)][: args.molecules]
        dev = {k: [] for k in ("assembled", "assembled + 30 MMFF94 iterations", "ETKDGv3", "ETKDGv3 + 100 MMFF94 iterations")}
        ms = {k: [] for k in dev}
        fallback = 0
        for smi in smiles:
            mol = parse_molecule(smi)
            systems = ring_systems(mol)
            for s in systems:
                if not s.macrocycle:
                    lib.get(s.key)  # warm: the library is not what is timed
            t = time.perf_counter()
            try:
                if any(s.macrocycle for s in systems):
                    raise AssemblyError("macrocycle")
                a = assemble(mol, systems, [lib.get(s.key).coords[int(np.argmax(lib.get(s.key).weights))] for s in systems])
            except AssemblyError:
                a = None
                fallback += 1
            t_a = time.perf_counter() - t
            if a is not None:
                ms["assembled"].append(t_a)
                dev["assembled"].append(deviation(mol, a))
                minimised(mol, a, 30, t_a, "assembled + 30 MMFF94 iterations", ms, dev)
            t = time.perf_counter()
            e = embed_seed(mol, seed=0, n_candidates=1, max_iters=0)
            t_e = time.perf_counter() - t
            ms["ETKDGv3"].append(t_e)
            dev["ETKDGv3"].append(deviation(mol, e))
            minimised(mol, e, 100, t_e, "ETKDGv3 + 100 MMFF94 iterations", ms, dev)
        for k, v in dev.items():
            x = np.array(v)
            rows.append({"split": split, "seed": k, "molecules": len(v), "fallback": fallback if k.startswith("assembled") else 0,
                         "bond": x[:, 0].mean(), "bond95": np.percentile(x[:, 0], 95),
                         "angle": x[:, 1].mean(), "angle95": np.percentile(x[:, 1], 95), "ms": 1000 * np.mean(ms[k])})
            print(rows[-1], flush=True)
    out = ["# Seed geometries against their own MMFF94 minimum", "",
           f"`python -m evaluation.conformers.assembly_seed_quality --splits {' '.join(args.splits)} --molecules {args.molecules}`; "
           "RMSD per molecule over its bonds / angles, then the mean and 95th percentile over molecules; time per seed on one "
           "core of a shared machine (ring library warm), comparable within the table only.", "",
           "| split | seed | molecules | ETKDGv3 fallback | bond RMSD (A) | 95th pct | angle RMSD (deg) | 95th pct | ms per seed |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['split']} | {r['seed']} | {r['molecules']} | {r['fallback']} | {r['bond']:.4f} | {r['bond95']:.4f} | "
                   f"{r['angle']:.2f} | {r['angle95']:.2f} | {r['ms']:.1f} |")
    atomic_write_text(args.out, "\n".join(out) + "\n")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
