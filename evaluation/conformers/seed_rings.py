"""How many reference seeds hold a flexible ring outside its library conformations (twist-boats)?

    python -m evaluation.conformers.seed_rings --splits val test drugs -o evaluation/conformers/seed_rings.md

For every molecule of the shipped reference sets, each flexible, non-macrocyclic ring system of
its seed is matched against the ring library (``geomgen.conformers.ringlib.ring_matches``: ring
atoms within 0.2 A RMSD of a low-energy conformation, mirror images allowed). A seed off the
library holds every stored sample of the molecule in that ring conformation (the store rebuilds
samples on the seed's rings, flipped or not). Reference builds since sampler version 4 take seeds
whose rings are in the library (``embed_seed(library_rings=True)``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geomgen.tables import markdown_table, publish

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs"])
    ap.add_argument("-o", "--out", type=Path, default=HERE / "seed_rings.md")
    args = ap.parse_args(argv)
    from geomgen.conformers.reference.store import is_converged, load_reference_set
    from geomgen.conformers.ringlib import ring_matches

    rows, off_ids = [], {}
    for split in args.splits:
        refs = load_reference_set(split)
        ringed = off = off_conv = 0
        off_ids[split] = []
        for r in refs:
            matches = ring_matches(r.mol, r.mol.GetConformer().GetPositions())
            ringed += bool(matches)
            if any(w == 0.0 for _, _, w in matches):
                off += 1
                off_conv += is_converged(r.diagnostics)
                off_ids[split].append(r.id)
        rows.append((split, len(refs), ringed, off, off_conv))
    total = [sum(r[k] for r in rows) for k in range(1, 5)]
    lines = ["# Reference seeds whose flexible rings are off the ring library", "",
             f"Command: `python -m evaluation.conformers.seed_rings --splits {' '.join(args.splits)}`", "",
             *markdown_table(["split", "molecules", "with a flexible ring system", "seed off the library", "of them labelled converged"],
                             rows + [("all", *total)]),
             "", "Off the library: " + "; ".join(f"{s}: {', '.join(ids) or '-'}" for s, ids in off_ids.items())]
    publish(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
