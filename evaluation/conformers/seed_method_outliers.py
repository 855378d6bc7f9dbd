"""Torsions of one class whose W1 differs most between ETKDGv3 seeds and assembled seeds.

    python -m evaluation.conformers.seed_method_outliers --split test --torsion-class aryl-N \\
        -o evaluation/conformers/seed_method_outliers.md

For every converged reference of the split with a torsion of that class
(``geomgen.conformers.torsion_class``), n conformers with each seed method (the shipped model,
seed 1; assembled seeds with their default MMFF94 iterations), the torsion W1 to the reference
(modulo symmetry), the molecule's network draws rejected by the clash check out of all draws, and
the torsions sorted by how much worse the assembled seeds are.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.tables import markdown_table, publish  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="test")
    ap.add_argument("--torsion-class", default="aryl-N")
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("-o", "--out", type=Path, default=HERE / "seed_method_outliers.md")
    args = ap.parse_args(argv)
    import numpy as np
    import torch
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator, dihedral_angles, torsion_class
    from geomgen.conformers.reference.convergence import torsion_w1
    from geomgen.conformers.reference.store import load_reference_set

    torch.set_num_threads(1)
    gens = {m: ConformerGenerator.from_checkpoint(seed_method=m) for m in ("etkdg", "assembly")}
    rows = []
    for r in load_reference_set(args.split, converged_only=True):
        idx = [i for i, t in enumerate(r.torsion_atoms) if torsion_class(r.mol, int(t[1]), int(t[2])) == args.torsion_class]
        if not idx:
            continue
        w, clash = {}, {}
        for m, g in gens.items():
            mols, reps = g.generate_many([(r.id, Chem.Mol(r.mol))], args.n, seed=args.seed)
            if mols[0] is None:
                break
            pos = np.stack([c.GetPositions() for c in mols[0].GetConformers()])
            w[m] = torsion_w1(dihedral_angles(pos, r.torsion_atoms), r.angles, r.symmetry)
            clash[m] = f"{reps[0].clash_rejected} / {reps[0].extra.get('draws', '-')}"
        if len(w) < 2:
            continue
        for i in idx:
            rows.append((float(w["assembly"][i] - w["etkdg"][i]), r.id, Chem.MolToSmiles(Chem.RemoveHs(r.mol)),
                         tuple(int(a) for a in r.torsion_atoms[i]), float(w["etkdg"][i]), float(w["assembly"][i]),
                         clash["etkdg"], clash["assembly"]))
    rows.sort(reverse=True)
    mean_e, mean_a = (float(np.mean([x[k] for x in rows])) if rows else float("nan") for k in (4, 5))
    lines = [f"# {args.torsion_class} torsions: ETKDGv3 seeds against assembled seeds ({args.split})", "",
             f"`python -m evaluation.conformers.seed_method_outliers --split {args.split} --torsion-class {args.torsion_class}`: "
             f"{len(rows)} torsions of converged references, n = {args.n}, seed {args.seed}; mean W1 {mean_e:.3f} (ETKDGv3 seeds) "
             f"vs {mean_a:.3f} (assembled). The {args.top} torsions where assembled seeds are worst:", "",
             *markdown_table(["id", "SMILES", "torsion atoms", "W1 ETKDGv3 seed", "W1 assembled", "difference",
                              "clash-rejected / draws, ETKDGv3 seed", "the same, assembled"],
                             [[x[1], f"`{x[2]}`", str(x[3]), f"{x[4]:.3f}", f"{x[5]:.3f}", f"{x[0]:+.3f}", x[6], x[7]]
                              for x in rows[: args.top]])]
    publish(args.out, lines)


if __name__ == "__main__":
    main()
