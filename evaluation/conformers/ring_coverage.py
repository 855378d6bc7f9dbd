"""Where does geomgen lose coverage to ETKDGv3+MMFF, and do ring seeds win it back? By ring category.

    python -m evaluation.conformers.ring_coverage [--splits val test drugs] [--molecules 30] [-n 50]

Plain geomgen with one seed (the default) keeps that seed's ring conformations; with ring seeds
(``ConformerGenerator(ring_seeds=...)``, ``--ring-seeds``) it spreads its conformers over a few distinct ring
conformations; ETKDGv3+MMFF embeds every conformer afresh. For the first ``--molecules``
converged references of each split, each generates ``n`` conformers (seed 0, one core, timed) and
is scored as in ``evaluate.py``; molecules are grouped by their
rings: none non-aromatic, an isolated saturated 5-7 ring that the reference sampler flips
(``ring_flip.flippable_rings``), or other non-aromatic rings (fused, unsaturated, bridged), whose
conformation the references keep at their own seed's. Writes ``ring_coverage.md`` next to this
script.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from geomgen.tables import publish

HERE = Path(__file__).resolve().parent
GROUPS = ("no non-aromatic ring", "flippable ring", "other non-aromatic ring")


def ring_group(mol) -> str:
    from geomgen.conformers.embedding import non_aromatic_rings
    from geomgen.conformers.reference.ring_flip import flippable_rings

    if not non_aromatic_rings(mol):
        return GROUPS[0]
    return GROUPS[1] if flippable_rings(mol, spiro=False, fused=False) else GROUPS[2]  # isolated rings, as when measured


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs"])
    ap.add_argument("--molecules", type=int, default=30)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--ring-seeds", type=int, default=4, help="ring seeds of the second geomgen (default 4)")
    ap.add_argument("-o", "--output", default=str(HERE / "ring_coverage.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from rdkit import Chem

    from evaluation.conformers.evaluate import etkdg, score
    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.reference.store import load_reference_set

    torch.set_num_threads(1)
    one = ConformerGenerator.from_checkpoint(ring_seeds=0)
    several = ConformerGenerator.from_checkpoint(ring_seeds=args.ring_seeds)
    methods = {
        "geomgen, one seed": lambda r: one.generate(Chem.Mol(r.mol), n=args.n, seed=0),
        f"geomgen, ring seeds (up to {several.ring_seeds})": lambda r: several.generate(Chem.Mol(r.mol), n=args.n, seed=0),
        "ETKDGv3+MMFF": lambda r: etkdg(r, args.n, 0, relax=True),
    }
    names = list(methods)
    lines = [
        "# Coverage by ring category: plain geomgen, with one seed and with ring seeds, against ETKDGv3+MMFF",
        "",
        f"`python -m evaluation.conformers.ring_coverage --splits {' '.join(args.splits)} --molecules {args.molecules} -n {args.n} "
        f"--ring-seeds {args.ring_seeds}`: "
        f"the first {args.molecules} converged references of each split, {args.n} conformers per method, seed 0, one core. "
        "Flippable ring: an isolated saturated 5-7 ring, sampled by the references' ring flips (when built with them); other "
        "non-aromatic rings keep the reference's seed conformation. Cells: COV-R@0.75 / mean torsion W1 (rad) per method, "
        f"in the order {', '.join(names)}; speed: conformers per second relative to ETKDGv3+MMFF.",
        "",
        "| split | rings | molecules | " + " | ".join(names) + " | speed: " + ", ".join(names[:2]) + " |",
        "|---|---|---|" + "---|" * (len(names) + 1),
    ]
    for split in args.splits:
        refs = [r for r in load_reference_set(split) if r.converged][: args.molecules]
        rows, seconds = [], dict.fromkeys(names, 0.0)
        for r in refs:
            scores = []
            for name, fn in methods.items():
                t0 = time.perf_counter()
                out = fn(r)
                seconds[name] += time.perf_counter() - t0
                scores.append(score(r, out, args.n))
            if any(x is None for x in scores):
                continue
            rows.append((ring_group(r.mol), *[(x["cov"]["COV-R"][0.75], x["w1"]) for x in scores]))
        speed = ", ".join(f"{seconds[names[-1]] / seconds[name]:.1f}x" for name in names[:2])
        for group in (*GROUPS, "all"):
            sel = [x for x in rows if group in ("all", x[0])]
            if not sel:
                continue
            cells = [f"{np.mean([x[m + 1][0] for x in sel]):.3f} / {np.mean([x[m + 1][1] for x in sel]):.3f}" for m in range(len(names))]
            lines.append(f"| {split} | {group} | {len(sel)} | " + " | ".join(cells) + f" | {speed if group == 'all' else ''} |")
        print("\n".join(lines[-4:]), flush=True)
    publish(args.output, lines)


if __name__ == "__main__":
    main()
