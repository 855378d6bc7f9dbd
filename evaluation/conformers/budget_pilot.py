"""Converged share of the reference sampler against the CPU budget per molecule (a pilot).

    python -m evaluation.conformers.budget_pilot --split train --sample 24 --budget 120 --seed 0 \\
        -o evaluation/conformers/train_budget_pilot.md

Draws ``--sample`` molecules of a split at random (``--seed``), samples each with the split's
settings (:data:`~geomgen.conformers.reference.build.SPLIT_CONFIGS`) but a cap of ``--budget`` CPU
seconds, with sampler seed ``--seed`` (0 is the build's own), and reports, for budgets up to the
cap, the share whose convergence rule held within that many CPU seconds with its 95 % Wilson
interval, what a molecule costs at that budget, converged molecules per CPU-hour and the CPU-hours
5,000 molecules would take (issue 28 asks for training references "at a per-molecule budget that
converges a useful share (say it with numbers: converged share against CPU-s per molecule on a
pilot)"). The sampler stops at the first convergence check where the rule holds, so one run per
molecule answers every smaller budget: converged within ``b`` = converged with ``cpu_seconds <=
b``. Checks come at growing intervals (``check_growth``) while a run capped at ``b`` also checks at
``b``, so a share below the cap is a lower bound. Per molecule: which part of the rule failed
(torsions, discrete states), the torsions passing and the sampled discrete-state populations.

Resumable: per-molecule results go to ``--work``/<split>-b<budget>-s<seed>/. Writes markdown
(``-o``), JSON and a plot of the share against the budget beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[2]
BUDGETS = (10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 360.0)


def draw_molecules(rows: list[tuple[str, str]], k: int, seed: int) -> list[tuple[str, str]]:
    """``k`` of ``rows`` drawn without replacement (``numpy`` generator of ``seed``), in file order."""
    if not 0 < k <= len(rows):
        raise ValueError(f"--sample must be between 1 and {len(rows)} (the split's molecules), got {k}")
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), size=k, replace=False))
    return [rows[i] for i in pick]


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson interval of a proportion ``k / n`` (``(nan, nan)`` for ``n == 0``)."""
    if n == 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def share_by_budget(records: list[dict], budgets) -> list[dict]:
    """Per budget ``b``: molecules converged within ``b`` CPU-s (``converged`` and ``cpu_seconds <=
    b``), their share with its Wilson interval, the mean CPU-s a molecule costs at that budget
    (``min(cpu_seconds, b)``; a failed molecule costs what it used) and converged molecules per
    CPU-hour. ``records``: dicts with ``converged`` (bool) and ``cpu_seconds``."""
    out = []
    n = len(records)
    for b in budgets:
        k = sum(1 for r in records if r["converged"] and r["cpu_seconds"] <= b)
        cost = float(np.mean([min(r["cpu_seconds"], b) for r in records])) if n else math.nan
        lo, hi = wilson(k, n)
        out.append({"budget": float(b), "molecules": n, "converged": k, "share": k / n if n else math.nan, "low": lo,
                    "high": hi, "mean_cpu_seconds": cost,
                    "converged_per_cpu_hour": k / (n * cost / 3600.0) if n and cost > 0 else math.nan})
    return out


def molecule_record(mol_id: str, smiles: str, work: Path) -> dict:
    """The pilot's summary of one molecule's result file in ``work`` (``ok`` False for a failure)."""
    fail = work / f"{mol_id}.fail.json"
    if fail.exists():
        return {"id": mol_id, "smiles": smiles, "ok": False, "error": json.loads(fail.read_text()).get("error", ""),
                "converged": False, "cpu_seconds": 0.0}
    with np.load(work / f"{mol_id}.npz") as z:
        d = json.loads(str(z["diagnostics"]))
    tc = d.get("torsion_converged") or []
    return {"id": mol_id, "smiles": smiles, "ok": True, "converged": bool(d.get("converged")),
            "cpu_seconds": float(d.get("cpu_seconds", 0.0)), "n_torsions": int(d.get("n_torsions", 0)),
            "torsions_passing": int(sum(bool(x) for x in tc)), "torsions_converged": bool(d.get("torsions_converged", True)),
            "rhat_max": d.get("rhat_max"), "ess_min": d.get("ess_min"), "states": list(d.get("state_names") or []),
            "state_population": list(d.get("state_population") or []),
            "states_converged": bool(d.get("states_converged", True)), "sweeps_per_chain": d.get("sweeps_per_chain"),
            "sampler_version": d.get("sampler_version"), "sampler_revision": d.get("sampler_revision")}


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def report_lines(records: list[dict], split: str, budget: float, command: str) -> list[str]:
    budgets = [b for b in BUDGETS if b < budget] + [budget]
    ok = [r for r in records if r["ok"]]
    with_states = [r for r in ok if r["states"]]
    version = next((f"{r['sampler_version']}.{r['sampler_revision']}" for r in ok), "?")
    lines = [f"# Reference sampler: converged share against CPU seconds per molecule ({split})", "",
             f"`{command}`", "",
             f"{len(records)} molecules drawn at random from `data/conformers/smiles_{split}.csv`, each sampled once with the "
             f"split's settings of sampler version {version} up to {budget:g} CPU-s. Converged within b = converged at a "
             f"check at or before b CPU-s (a lower bound below the cap). CPU-hours for 5,000 molecules: the mean cost at "
             f"that budget x 5,000. {len(records) - len(ok)} failed.", "",
             "| budget (CPU-s) | converged | share (95 % Wilson) | mean CPU-s / molecule | converged / CPU-hour | "
             "CPU-hours for 5,000 |", "|---|---|---|---|---|---|"]
    for row in share_by_budget(records, budgets):
        lines.append(f"| {row['budget']:g} | {row['converged']} of {row['molecules']} | {row['share']:.2f} "
                     f"({_fmt(row['low'], '.2f')}-{_fmt(row['high'], '.2f')}) | {row['mean_cpu_seconds']:.1f} | "
                     f"{_fmt(row['converged_per_cpu_hour'], '.1f')} | {row['mean_cpu_seconds'] * 5000 / 3600:.0f} |")
    n_t = sum(r["n_torsions"] for r in ok)
    n_pass = sum(r["torsions_passing"] for r in ok)
    lines += ["", f"At the cap: torsions passing the rule {n_pass} of {n_t} ({n_pass / max(n_t, 1):.2f}); molecules whose "
              f"torsions all pass {sum(r['torsions_converged'] for r in ok)} of {len(ok)}; molecules with discrete sites "
              f"{len(with_states)}, of them converged {sum(r['converged'] for r in with_states)}, with every state passing "
              f"{sum(r['states_converged'] for r in with_states)}.", "",
              "| molecule | torsions (passing) | sites: population of state 1 | states pass | converged | CPU-s | "
              "R-hat max | min ESS | SMILES |", "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if not r["ok"]:
            lines.append(f"| {r['id']} | failed: {r['error']} | | | | | | | `{r['smiles']}` |")
            continue
        sites = ", ".join(f"{s} {p:.2f}" for s, p in zip(r["states"], r["state_population"])) or "-"
        lines.append(f"| {r['id']} | {r['n_torsions']} ({r['torsions_passing']}) | {sites} | "
                     f"{'yes' if r['states_converged'] else 'no'} | {'yes' if r['converged'] else 'no'} | "
                     f"{r['cpu_seconds']:.0f} | {_fmt(r['rhat_max'])} | {_fmt(r['ess_min'], '.0f')} | `{r['smiles']}` |")
    return lines


def plot(records: list[dict], budget: float, path: Path, split: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geomgen.atomic import atomic_write

    budgets = np.linspace(0, budget, 200)
    rows = share_by_budget(records, budgets)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(budgets, [r["share"] for r in rows], drawstyle="steps-post", label="converged share")
    ax.fill_between(budgets, [r["low"] for r in rows], [r["high"] for r in rows], step="post", alpha=0.2,
                    label="95 % Wilson")
    from geomgen.conformers.reference.build import SPLIT_CONFIGS

    cap = SPLIT_CONFIGS[split].get("max_cpu_seconds")
    if cap is not None and math.isfinite(cap) and cap <= budget:
        ax.axvline(cap, color="grey", ls=":", label=f"the split's cap ({cap:g} s)")
    ax.set_xlabel("CPU-s per molecule (budget)")
    ax.set_ylabel(f"share of {split} molecules converged")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main(argv=None) -> int:
    from geomgen.atomic import atomic_write_text
    from geomgen.conformers.reference.build import SPLIT_CONFIGS, build_reference_set
    from geomgen.conformers.reference.store import read_smiles_csv
    from geomgen.tables import publish

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="train", choices=list(SPLIT_CONFIGS))
    ap.add_argument("--sample", type=int, default=24, help="molecules drawn from the split (default 24)")
    ap.add_argument("--budget", type=float, default=120.0, help="CPU seconds per molecule, the largest budget reported (default 120)")
    ap.add_argument("--seed", type=int, default=0, help="draw of molecules and sampler seed (default 0, the build's seed)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work", default=str(ROOT / "runs" / "budget_pilot"))
    ap.add_argument("-o", "--output", default=str(ROOT / "evaluation" / "conformers" / "budget_pilot.md"))
    args = ap.parse_args(argv)
    if not args.budget > 0:
        ap.error(f"--budget must be positive, got {args.budget}")
    pick = draw_molecules(read_smiles_csv(ROOT / "data" / "conformers" / f"smiles_{args.split}.csv"), args.sample, args.seed)
    work = Path(args.work) / f"{args.split}-b{args.budget:g}-s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / "molecules.csv"
    atomic_write_text(csv_path, "id,smiles\n" + "".join(f"{i},{s}\n" for i, s in pick))
    build_reference_set(csv_path, work, dict(SPLIT_CONFIGS[args.split], max_cpu_seconds=args.budget), jobs=args.jobs,
                        seed=args.seed)
    records = [molecule_record(i, s, work) for i, s in pick
               if (work / f"{i}.npz").exists() or (work / f"{i}.fail.json").exists()]
    if not records:
        raise SystemExit(f"no results in {work}")
    command = "python -m evaluation.conformers.budget_pilot " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.output)
    publish(out, report_lines(records, args.split, args.budget, command))
    publish(out.with_suffix(".json"), json.dumps({"command": command, "split": args.split, "budget": args.budget,
                                                   "seed": args.seed, "by_budget": share_by_budget(records, BUDGETS),
                                                   "molecules": records}, indent=1), echo=False)
    plot(records, args.budget, out.with_suffix(".png"), args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
