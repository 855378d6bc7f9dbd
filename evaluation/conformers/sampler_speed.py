"""Reference sampler: CPU time per sweep of this checkout against an earlier commit.

    python -m evaluation.conformers.sampler_speed --against a651371 [--molecules 8] [--sweeps 1000]

The build's sampler settings (``SPLIT_CONFIGS["val"]`` of ``geomgen.conformers.reference.build``)
with a fixed number of sweeps (no convergence stop), on the first ``--molecules`` validation
molecules, each run in a fresh single-threaded process, the two code versions interleaved per
molecule (the other one is checked out with ``git worktree`` into a temporary folder). Reported
per molecule: CPU seconds of each version, their ratio, and the largest difference between the
sampled energies (0 when a change only made the same arithmetic faster: the chains are then
identical). Writes ``sampler_speed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

WORKER = r"""
import json, os, sys, time
os.environ["OMP_NUM_THREADS"] = "1"
from geomgen.conformers.embedding import embed_seed
from geomgen.conformers.molecule import parse_molecule
from geomgen.conformers.reference.build import SPLIT_CONFIGS
from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference
mol_id, smiles, sweeps = sys.argv[1], sys.argv[2], int(sys.argv[3])
mol = embed_seed(parse_molecule(smiles, name=mol_id), seed=0, name=mol_id)
cfg = dict(SPLIT_CONFIGS["val"], min_sweeps=sweeps, max_sweeps=sweeps, max_cpu_seconds=float("inf"))
c0 = time.process_time()
res = sample_reference(mol, SamplerConfig(seed=0, **cfg))
print(json.dumps({"cpu": time.process_time() - c0, "energies": res.energies.tolist(), "atoms": mol.GetNumAtoms(),
                  "torsions": res.diagnostics["n_torsions"], "rings": res.diagnostics.get("n_flippable_rings", 0)}))
"""


def run(tree: Path, mol_id: str, smiles: str, sweeps: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", WORKER, mol_id, smiles, str(sweeps)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    from geomgen.conformers.reference.store import read_smiles_csv

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="the earlier commit (any git revision)")
    ap.add_argument("--molecules", type=int, default=8)
    ap.add_argument("--sweeps", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=HERE / "sampler_speed.md")
    args = ap.parse_args(argv)
    mols = read_smiles_csv(ROOT / "data" / "conformers" / "smiles_val.csv")[: args.molecules]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.against], cwd=ROOT, check=True, capture_output=True)
        try:
            for mol_id, smiles in mols:
                a = run(old, mol_id, smiles, args.sweeps)
                b = run(ROOT, mol_id, smiles, args.sweeps)
                de = float(np.max(np.abs(np.subtract(a["energies"], b["energies"]))))
                rows.append((mol_id, b["atoms"], b["torsions"], b["rings"], a["cpu"], b["cpu"], b["cpu"] / a["cpu"], de))
                print(f"{mol_id}: {a['cpu']:.2f} s -> {b['cpu']:.2f} s ({b['cpu'] / a['cpu']:.2f}x), max |dE| {de:.2g}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False, capture_output=True)
    ratios = np.array([r[6] for r in rows])
    lines = [
        "# Reference sampler: CPU time of this checkout against an earlier commit",
        "",
        f"`python -m evaluation.conformers.sampler_speed --against {args.against} --molecules {args.molecules} --sweeps {args.sweeps}`: "
        f"the build's sampler settings, {args.sweeps} sweeps per chain (4 chains, no convergence stop), one fresh single-threaded "
        "process per run, the two versions interleaved per molecule.",
        "",
        f"| molecule | atoms | torsions | flippable rings | CPU s at {args.against} | CPU s now | ratio | max abs energy difference (kcal/mol) |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:.2g} |" for r in rows],
        "",
        f"Geometric mean ratio {np.exp(np.log(ratios).mean()):.2f} (now / then; below 1 is faster).",
        "",
    ]
    from geomgen.tables import publish

    publish(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
