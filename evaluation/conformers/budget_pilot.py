"""Converged share of the reference sampler against the CPU budget per molecule (a pilot).

    python -m evaluation.conformers.budget_pilot --split drugs --sample 12 --budget 360 --seed 1 \
        --work runs/budget_pilot -o evaluation/conformers/budget_pilot.md

Draws ``--sample`` molecules of a split at random (``--seed``), samples each with the split's
settings but a cap of ``--budget`` CPU seconds and another sampler seed, and reports, for budgets
up to the cap, the share whose convergence rule held within that many CPU seconds (the sampler
stops when it holds, so one run at the largest budget gives the whole curve), with which part of
the rule (torsions, discrete states) failed for the others. Resumable: per-molecule results go to
``--work``. Writes markdown (``-o``) and JSON beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.atomic import atomic_write_text  # noqa: E402
from geomgen.conformers.reference.build import SPLIT_CONFIGS, build_reference_set  # noqa: E402
from geomgen.conformers.reference.store import read_smiles_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def curve(records: list[dict], budgets: list[float]) -> list[tuple[float, int, int]]:
    """(budget, converged within it, molecules) for each budget."""
    return [(b, sum(r["converged"] and r["cpu_seconds"] <= b for r in records), len(records)) for b in budgets]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="drugs", choices=[s for s in SPLIT_CONFIGS if s != "train"] + ["train"])
    ap.add_argument("--sample", type=int, default=12)
    ap.add_argument("--budget", type=float, default=360.0, help="CPU seconds per molecule (the largest budget reported)")
    ap.add_argument("--seed", type=int, default=1, help="draw of molecules and sampler seed (the build uses 0)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work", default="runs/budget_pilot")
    ap.add_argument("-o", "--output", default="evaluation/conformers/budget_pilot.md")
    args = ap.parse_args(argv)
    rows = read_smiles_csv(ROOT / "data" / "conformers" / f"smiles_{args.split}.csv")
    pick = random.Random(args.seed).sample(rows, min(args.sample, len(rows)))
    work = Path(args.work) / f"{args.split}-b{args.budget:g}-s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    csv = work / "molecules.csv"
    atomic_write_text(csv, "id,smiles\n" + "".join(f"{i},{s}\n" for i, s in pick))
    config = dict(SPLIT_CONFIGS[args.split], max_cpu_seconds=args.budget)
    build_reference_set(csv, work, config, jobs=args.jobs, seed=args.seed)
    records = []
    for i, _ in pick:
        f = work / f"{i}.npz"
        if not f.exists():
            continue
        import numpy as np

        with np.load(f) as z:
            d = json.loads(str(z["diagnostics"]))
        records.append({"id": i, "converged": bool(d["converged"]), "cpu_seconds": float(d["cpu_seconds"]),
                        "torsions_converged": bool(d["torsions_converged"]), "states_converged": d.get("states_converged"),
                        "rhat_max": float(d["rhat_max"]), "ess_min": float(d["ess_min"])})
    budgets = sorted({b for b in (30.0, 60.0, 90.0, 180.0, args.budget / 2, args.budget) if b <= args.budget})
    cv = curve(records, budgets)
    lines = [f"# Reference sampler: converged share against CPU seconds per molecule ({args.split})", "",
             f"`python -m evaluation.conformers.budget_pilot --split {args.split} --sample {args.sample} "
             f"--budget {args.budget:g} --seed {args.seed}`", "",
             f"{len(records)} molecules drawn at random (seed {args.seed}), sampler seed {args.seed}, the split's settings "
             f"(sampler version 3: over-dispersed starts, discrete states monitored) with a cap of {args.budget:g} CPU s.", "",
             "| CPU s per molecule | converged | share |", "|---:|---:|---:|"]
    lines += [f"| {b:g} | {c} / {n} | {c / max(n, 1):.2f} |" for b, c, n in cv]
    lines += ["", "| molecule | converged | CPU s | torsions converged | states converged | R-hat max | ESS min |",
              "|---|---|---:|---|---|---:|---:|"]
    lines += [f"| {r['id']} | {r['converged']} | {r['cpu_seconds']:.0f} | {r['torsions_converged']} | {r['states_converged']} | "
              f"{r['rhat_max']:.3f} | {r['ess_min']:.0f} |" for r in records]
    out = Path(args.output)
    atomic_write_text(out, "\n".join(lines) + "\n")
    atomic_write_text(out.with_suffix(".json"), json.dumps({"split": args.split, "budget": args.budget, "seed": args.seed,
                                                            "curve": cv, "molecules": records}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
