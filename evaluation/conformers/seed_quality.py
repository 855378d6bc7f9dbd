"""Quality guard of the seed minimisation: torsion W1 and COV-R against the references, per --seed-iters.

    python -m evaluation.conformers.seed_quality [--split val] [--iters 2000 50 0] [--seeds 0 1] [-n 50]
                                                 [--embedders etkdg kdg]

Scores ``geomgen`` (evaluate.py's scoring: circular torsion W1 modulo symmetry, COV-R / AMR-R
at 0.5 / 0.75 / 1.25 A, dE) on every molecule of the split (all references, converged or not,
loaded once, so every setting is judged on the same data), for each seed embedder (ETKDGv3,
KDG), each number of MMFF94 iterations on the seed and each random seed. Differences are
against ETKDGv3 with the most iterations. The spread between random seeds at one setting is
the noise against which the differences between settings are read. Writes seed_quality.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from evaluation.conformers.evaluate import THRESHOLDS, score

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="val")
    ap.add_argument("--iters", type=int, nargs="+", default=[2000, 50, 0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--embedders", nargs="+", default=["etkdg"], choices=["etkdg", "kdg"])
    ap.add_argument("--out", default=str(HERE / "seed_quality.md"))
    args = ap.parse_args(argv)
    import torch
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.reference.store import load_reference_set

    torch.set_num_threads(1)
    refs = load_reference_set(args.split)
    rows = []
    for embedder, iters in [(e, i) for e in args.embedders for i in args.iters]:
        gen = ConformerGenerator.from_checkpoint(seed_iters=iters, seed_embedder=embedder)
        for seed in args.seeds:
            t0 = time.perf_counter()
            mols, reports = gen.generate_many([(r.id, Chem.Mol(r.mol)) for r in refs], args.n, seed=seed)
            secs = time.perf_counter() - t0
            scores = [score(r, m, args.n) for r, m in zip(refs, mols)]
            ok = [s for s in scores if s is not None]
            row = {"embedder": embedder, "iters": iters, "seed": seed, "failed": len(refs) - len(ok),
                   "refined": sum(bool(rep.extra.get("seed_minimised")) for rep in reports),
                   "W1": float(np.mean([s["w1"] for s in ok])), "dE": float(np.mean([s["de"] for s in ok])),
                   "AMR-R": float(np.mean([s["cov"]["AMR-R"] for s in ok])), "seconds": secs}
            for t in THRESHOLDS:
                row[f"COV-R@{t}"] = float(np.mean([s["cov"]["COV-R"][t] for s in ok]))
            rows.append(row)
            print(row, flush=True)
    base = {r["seed"]: r for r in rows if r["iters"] == max(args.iters) and r["embedder"] == args.embedders[0]}
    lines = [f"# Seed minimisation against quality ({args.split}, all {len(refs)} references, n = {args.n})", "",
             f"`python -m evaluation.conformers.seed_quality --split {args.split} --iters {' '.join(map(str, args.iters))} "
             f"--seeds {' '.join(map(str, args.seeds))} -n {args.n} --embedders {' '.join(args.embedders)}`; one run, "
             f"references loaded once. Differences are against {args.embedders[0]} with {max(args.iters)} iterations "
             "and the same random seed.", "",
             "| embedder | seed iterations | random seed | failed | fully minimised after clashes | W1 torsions (rad) | dW1 | COV-R@0.75 | dCOV-R@0.75 "
             "| COV-R@0.5 | AMR-R (A) | dE (kcal/mol) | generation (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = base.get(r["seed"], r)
        lines.append(f"| {r['embedder']} | {r['iters']} | {r['seed']} | {r['failed']} | {r['refined']} | {r['W1']:.3f} | {r['W1'] - b['W1']:+.3f} | "
                     f"{r['COV-R@0.75']:.3f} | {r['COV-R@0.75'] - b['COV-R@0.75']:+.3f} | {r['COV-R@0.5']:.3f} | "
                     f"{r['AMR-R']:.3f} | {r['dE']:.1f} | {r['seconds']:.0f} |")
    from geomgen.tables import publish

    publish(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
