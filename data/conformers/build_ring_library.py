"""Build the ring-system library shipped with geomgen (data/conformers/ring_library.npz).

    python data/conformers/build_ring_library.py [--out data/conformers/ring_library.npz]

The ring systems (:func:`geomgen.conformers.ringlib.ring_systems`, macrocycles excluded) of the
training, validation and test splits (smiles_{train,val,test}.csv), each built with
:func:`geomgen.conformers.ringlib.build_conformations` (seed 0, as the on-disk cache builds them),
written with :func:`geomgen.conformers.ringlib.save_library`. The approved drugs
(smiles_drugs.csv) are evaluation data only: their ring systems are deliberately left out, so
that the drugs split measures the cache's first-use path too. The output is deterministic for a
given RDKit version.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "val", "test")


def main(argv=None) -> int:
    from geomgen.conformers.molecule import MoleculeError, parse_molecule
    from geomgen.conformers.ringlib import build_conformations, ring_systems, save_library

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "ring_library.npz"))
    args = ap.parse_args(argv)
    keys: dict[str, None] = {}
    for split in SPLITS:
        with open(HERE / f"smiles_{split}.csv", newline="") as f:
            for row in csv.DictReader(f):
                try:
                    mol = parse_molecule(row["smiles"], name=row["id"])
                    systems = ring_systems(mol)
                except (MoleculeError, ValueError) as exc:
                    print(f"skipped {row['id']}: {exc}", file=sys.stderr)
                    continue
                for s in systems:
                    if not s.macrocycle:
                        keys.setdefault(s.key)
    t0 = time.perf_counter()
    built, failed = [], 0
    for k, key in enumerate(keys):
        try:
            built.append(build_conformations(key))
        except ValueError as exc:
            failed += 1
            print(f"not built: {exc}", file=sys.stderr)
        if (k + 1) % 200 == 0:
            print(f"{k + 1}/{len(keys)} ring systems, {time.perf_counter() - t0:.0f} s", flush=True)
    save_library(args.out, built)
    confs = sum(len(c.energies) for c in built)
    print(f"{len(built)} ring systems ({failed} failed), {confs} conformations, "
          f"{Path(args.out).stat().st_size / 1e6:.2f} MB in {args.out}, {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
