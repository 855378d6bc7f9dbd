"""Pilot of sampler version 4 on named molecules: build their references, then verify them.

    python -m evaluation.conformers.v4_pilot --ids drugs-00047 test-00095 val-00006 ... \\
        --jobs 2 --work runs/v4_pilot -o evaluation/conformers/v4_pilot.md

Each molecule (``<split>-<n>`` ids of ``data/conformers/smiles_<split>.csv``) is built with its
split's current settings (``SPLIT_CONFIGS``, seed 0, library-ring seeds) into ``--work``/build,
assembled into ``--work``/reference_pilot.npz, and every molecule the rule labels converged is
rerun and compared by ``verify_references.py`` (another seed, a fresh seed geometry, fresh
over-dispersed starts, the same budget). This is the label's check on a chosen set (e.g. the
molecules an earlier verification found disagreeing), not on a random sample: it says whether
the changes fix those cases, not what share of a rebuilt split would agree. Resumable: builds
and reruns are cached in ``--work``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from evaluation.conformers import verify_references  # noqa: E402
from geomgen.conformers.reference.build import SPLIT_CONFIGS, build_reference_set  # noqa: E402
from geomgen.conformers.reference.store import assemble, read_smiles_csv  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", nargs="+", required=True, help="molecule ids, e.g. drugs-00047 (the split is the prefix)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "v4_pilot")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "v4_pilot.md")
    args = ap.parse_args(argv)
    by_split: dict[str, list[str]] = {}
    for mol_id in args.ids:
        split = mol_id.split("-")[0]
        if split not in SPLIT_CONFIGS:
            sys.exit(f"v4_pilot: {mol_id!r}: no split {split!r} (one of {sorted(SPLIT_CONFIGS)})")
        by_split.setdefault(split, []).append(mol_id)
    refs = []
    for split, ids in by_split.items():
        smiles = dict(read_smiles_csv(ROOT / "data" / "conformers" / f"smiles_{split}.csv"))
        missing = [i for i in ids if i not in smiles]
        if missing:
            sys.exit(f"v4_pilot: not in smiles_{split}.csv: {missing}")
        work = args.work / "build" / split
        work.mkdir(parents=True, exist_ok=True)
        csv_path = args.work / f"pilot_{split}.csv"
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "smiles"])
            w.writerows((i, smiles[i]) for i in ids)
        build_reference_set(csv_path, work, SPLIT_CONFIGS[split], jobs=args.jobs, seed=0)
        out = args.work / f"reference_{split}.npz"
        summary = assemble(csv_path, work, out, previous=None)
        print(f"{split}: {summary['molecules']} molecules, {summary['converged']} converged", flush=True)
        refs.append(out)
    verify_references.main(["--reference", *map(str, refs), "--sample", str(len(args.ids)), "--seed", "1",
                            "--jobs", str(args.jobs), "--work", str(args.work / "verify"), "-o", str(args.out)])


if __name__ == "__main__":
    main()
