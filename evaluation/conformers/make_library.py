"""Draw the screening library of the throughput benchmark from the MOSES scaffold test set.

    pip download --no-deps molsets==0.3.1 -d /tmp/wheels
    python -m evaluation.conformers.make_library --wheels /tmp/wheels

Reads moses/dataset/data/test_scaffolds.csv.gz from the molsets 0.3.1 wheel (MIT; read as a
file, never imported) and writes evaluation/conformers/library.smi: 10,000 molecules drawn
without replacement with a fixed seed, unfiltered (a library as a user gets it), one
``SMILES id`` per line. The benchmark uses its first 1,000 lines; the memory check all 10,000.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, required=True, help="folder holding molsets-0.3.1-py3-none-any.whl")
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--out", type=Path, default=HERE / "library.smi")
    args = ap.parse_args(argv)
    whl = next(args.wheels.glob("molsets-0.3.1-*.whl"))
    with zipfile.ZipFile(whl) as z:
        text = gzip.decompress(z.read("moses/dataset/data/test_scaffolds.csv.gz")).decode()
    rows = list(csv.reader(io.StringIO(text)))
    col = [h.lower() for h in rows[0]].index("smiles")
    smiles = [r[col] for r in rows[1:] if r]
    pick = np.random.default_rng(args.seed).choice(len(smiles), size=args.size, replace=False)
    from geomgen.atomic import atomic_write_text

    atomic_write_text(args.out, "".join(f"{smiles[i]} scaf-{i}\n" for i in pick))
    print(f"{args.out}: {args.size} of {len(smiles)} scaffold-test molecules (seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
