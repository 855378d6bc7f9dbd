"""Peak memory of `geomgen conformers` against the number of molecules, or of conformers of one molecule (streamed output).

    python -m evaluation.conformers.memory_scaling [--sizes 200 2000] [-n 1]
    python -m evaluation.conformers.memory_scaling --conformers 10000 100000 [--smiles CCCCO]

With ``--conformers``, runs ``geomgen conformers SMILES -n N`` for each N instead (one molecule,
made block by block) and writes memory_scaling_conformers.md.

Runs ``geomgen conformers FILE -n N -o out.sdf --jobs 1`` on the first k molecules of the shipped
MOSES training SMILES list (data/conformers/smiles_train.csv, 2,200 molecules) for each k of
``--sizes``, each run in its own process, and reports the peak resident memory (max RSS) and the
wall time. With records written as molecules finish, peak memory should not grow with k.
Writes memory_scaling.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "print(json.dumps({'rc': rc, 'seconds': time.perf_counter() - t0, "
    "'max_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
)


def _measure(cmd) -> dict:
    return json.loads(subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout)


def _geomgen() -> str:
    return shutil.which("geomgen", path=str(Path(sys.executable).parent)) or shutil.which("geomgen")


def _per_molecule(args) -> int:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.conformers:
            out = Path(tmp) / f"out_{n}.sdf"
            res = _measure([_geomgen(), "conformers", args.smiles, "-n", str(n), "-o", str(out), "--jobs", "1"])
            res["mb_on_disk"] = out.stat().st_size / 2**20 if out.exists() else 0.0
            results.append((n, res))
            print(n, res, flush=True)
            out.unlink(missing_ok=True)
    base = results[0][1]["max_rss_mb"]
    lines = ["# Peak memory of `geomgen conformers` against the number of conformers of one molecule", "",
             f"`python -m evaluation.conformers.memory_scaling --conformers {' '.join(map(str, args.conformers))} --smiles "
             f"'{args.smiles}'`: one process each, `--jobs 1`; conformers are made and written in blocks.", "",
             "| conformers (-n) | exit | wall (s) | output (MB) | peak RSS (MB) | ratio to smallest |", "|---|---|---|---|---|---|"]
    for n, r in results:
        lines.append(f"| {n} | {r['rc']} | {r['seconds']:.0f} | {r['mb_on_disk']:.0f} | {r['max_rss_mb']:.0f} | "
                     f"{r['max_rss_mb'] / base:.2f}x |")
    from geomgen.tables import publish

    publish(args.out or HERE / "memory_scaling_conformers.md", lines)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    ap.add_argument("-n", type=int, default=1, help="conformers per molecule (default 1)")
    ap.add_argument("--conformers", type=int, nargs="+", default=None,
                    help="measure these -n for one molecule instead of molecule counts")
    ap.add_argument("--smiles", default="CCCCO", help="the molecule of --conformers (default butanol)")
    ap.add_argument("--out", default=None, help="results file (default memory_scaling.md, or memory_scaling_conformers.md)")
    args = ap.parse_args(argv)
    if args.conformers:
        return _per_molecule(args)
    args.out = args.out or str(HERE / "memory_scaling.md")
    exe = _geomgen()
    with open(ROOT / "data" / "conformers" / "smiles_train.csv", newline="") as f:
        rows = [(r["id"], r["smiles"]) for r in csv.DictReader(f)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.sizes:
            smi = Path(tmp) / f"in_{k}.smi"
            smi.write_text("".join(f"{s} {i}\n" for i, s in rows[:k]))
            cmd = [exe, "conformers", str(smi), "-n", str(args.n), "-o", str(Path(tmp) / f"out_{k}.sdf"), "--jobs", "1"]
            res = _measure(cmd)
            results.append((k, res))
            print(k, res, flush=True)
    base = results[0][1]["max_rss_mb"]
    lines = ["# Peak memory of `geomgen conformers` against the number of molecules", "",
             f"`python -m evaluation.conformers.memory_scaling --sizes {' '.join(map(str, args.sizes))} -n {args.n}`: "
             "first k molecules of data/conformers/smiles_train.csv, one process each, `--jobs 1`.", "",
             "| molecules | exit | wall (s) | peak RSS (MB) | ratio to smallest |", "|---|---|---|---|---|"]
    for k, r in results:
        lines.append(f"| {k} | {r['rc']} | {r['seconds']:.0f} | {r['max_rss_mb']:.0f} | {r['max_rss_mb'] / base:.2f}x |")
    from geomgen.tables import publish

    publish(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
