"""Where does geomgen lose coverage to ETKDGv3+MMFF? COV-R and torsion W1 by ring category.

    python evaluation/conformers/ring_coverage.py [--splits val test drugs] [--molecules 30] [-n 50]

Plain geomgen keeps the ring conformations of its one seed; ETKDGv3+MMFF embeds every conformer
afresh. For the first ``--molecules`` converged references of each split, both generate ``n``
conformers (seed 0, one core) and are scored as in ``evaluate.py``; molecules are grouped by their
rings: none non-aromatic, an isolated saturated 5-7 ring that the reference sampler flips
(``ring_flip.flippable_rings``), or other non-aromatic rings (fused, unsaturated, bridged), whose
conformation the references keep at their own seed's. Writes ``ring_coverage.md`` next to this
script.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write_text

HERE = Path(__file__).resolve().parent
GROUPS = ("no non-aromatic ring", "flippable ring", "other non-aromatic ring")


def ring_group(mol) -> str:
    from geomgen.conformers.reference.ring_flip import flippable_rings

    rings = mol.GetRingInfo().AtomRings()
    if all(all(mol.GetAtomWithIdx(a).GetIsAromatic() for a in ring) for ring in rings):
        return GROUPS[0]
    return GROUPS[1] if flippable_rings(mol) else GROUPS[2]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs"])
    ap.add_argument("--molecules", type=int, default=30)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("-o", "--output", default=str(HERE / "ring_coverage.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.reference.store import load_reference_set

    sys.path.insert(0, str(HERE))
    from evaluate import etkdg, score

    torch.set_num_threads(1)
    gen = ConformerGenerator.from_checkpoint()
    lines = [
        "# Coverage by ring category: plain geomgen against ETKDGv3+MMFF",
        "",
        f"`python evaluation/conformers/ring_coverage.py --splits {' '.join(args.splits)} --molecules {args.molecules} -n {args.n}`: "
        f"the first {args.molecules} converged references of each split, {args.n} conformers per method, seed 0. "
        "Flippable ring: an isolated saturated 5-7 ring, sampled by the references' ring flips (when built with them); other "
        "non-aromatic rings keep the reference's seed conformation.",
        "",
        "| split | rings | molecules | COV-R@0.75 geomgen | COV-R@0.75 ETKDG+MMFF | molecules with geomgen COV-R 0 | W1 geomgen | W1 ETKDG+MMFF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for split in args.splits:
        refs = [r for r in load_reference_set(split) if r.converged][: args.molecules]
        rows = []
        for r in refs:
            ours, peer = score(r, gen.generate(Chem.Mol(r.mol), n=args.n, seed=0), args.n), score(r, etkdg(r, args.n, 0, relax=True), args.n)
            if ours is None or peer is None:
                continue
            rows.append((ring_group(r.mol), ours["cov"]["COV-R"][0.75], peer["cov"]["COV-R"][0.75], ours["w1"], peer["w1"]))
        for group in (*GROUPS, "all"):
            sel = [x for x in rows if group in ("all", x[0])]
            if not sel:
                continue
            a = np.array([x[1:] for x in sel], dtype=float)
            lines.append(f"| {split} | {group} | {len(sel)} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | {int((a[:, 0] == 0).sum())} | "
                         f"{a[:, 2].mean():.3f} | {a[:, 3].mean():.3f} |")
        print("\n".join(lines[-4:]), flush=True)
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
