"""Build the MMFF94 Boltzmann reference sets (resumable, parallel, with a progress bar).

    python data/conformers/build_references.py --splits val train test drugs --jobs 2

Per-molecule results go to data/conformers/.build/<split>/ (finished molecules are skipped on
a rerun, failures are recorded with their reason in <id>.fail.json); each finished split is
assembled into data/conformers/reference_<split>.npz and summarised in build_summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.atomic import atomic_write_text  # noqa: E402
from geomgen.conformers.reference.build import SPLIT_CONFIGS, build_reference_set  # noqa: E402
from geomgen.conformers.reference.store import assemble  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "train", "test", "drugs"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="only the first N molecules of each split")
    args = ap.parse_args(argv)
    summary_path = HERE / "build_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for split in args.splits:
        t0 = time.time()
        csv_path = HERE / f"smiles_{split}.csv"
        work = HERE / ".build" / split
        build_reference_set(csv_path, work, SPLIT_CONFIGS[split], jobs=args.jobs, limit=args.limit)
        info = assemble(csv_path, work, HERE / f"reference_{split}.npz")
        prev = summary.get(split, {})
        summary[split] = {
            "molecules": info["molecules"],
            "failures": [{"id": f["id"], "smiles": f["smiles"], "error": f["error"]} for f in info["failures"]],
            "missing": info["missing"],
            "config": SPLIT_CONFIGS[split],
            "wall_seconds_this_run": time.time() - t0,
            "wall_seconds_total": prev.get("wall_seconds_total", 0.0) + time.time() - t0,
        }
        atomic_write_text(summary_path, json.dumps(summary, indent=1))
        print(f"{split}: {info['molecules']} molecules, {len(info['failures'])} failures, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
