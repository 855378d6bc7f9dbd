"""Pilot: what share of training molecules the current reference sampler converges, against its CPU budget.

    python -m evaluation.conformers.train_budget_pilot --molecules 24 --cap 120 --seed 0 \\
        -o evaluation/conformers/train_budget_pilot.md

Issue 28 asks for training references "at a per-molecule budget that converges a useful share (say
it with numbers: converged share against CPU-s per molecule on a pilot)", and issue 26 for training
references that sample the discrete states (amide E/Z, nitrogen configurations, ring puckers),
which the shipped training set (sampler version 2, 10 CPU-s each) does not. This script draws
``--molecules`` molecules at random (``--seed``) from ``data/conformers/smiles_train.csv`` and
samples each with the training split's settings of today's sampler
(:data:`~geomgen.conformers.reference.build.SPLIT_CONFIGS` ``["train"]``: the convergence rule with
ESS >= 100, discrete-state moves on, never stopped early as hopeless) but with ``--cap`` CPU
seconds instead of the split's 10. A run stops at the first convergence check where the rule holds,
so one run per molecule answers every smaller cap: converged within ``c`` CPU-s = converged with
``cpu_seconds <= c``. Checks come at growing intervals (``check_growth``) while a run with cap
``c`` also checks at ``c``, so the share at a cap below ``--cap`` is a lower bound.

Results go to ``data/conformers/.build/train-pilot-v<version>-cap<cap>/`` (resumable: a rerun
samples only what is missing). Writes the markdown report, a JSON file beside it and a plot of the
converged share against the cap.
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
TRAIN_CSV = ROOT / "data" / "conformers" / "smiles_train.csv"
CAPS = (10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0)


def draw_molecules(csv_path, k: int, seed: int) -> list[tuple[str, str]]:
    """``k`` ``(id, smiles)`` drawn without replacement (``numpy`` generator of ``seed``), in file order."""
    from geomgen.conformers.reference.store import read_smiles_csv

    items = read_smiles_csv(csv_path)
    if not 0 < k <= len(items):
        raise ValueError(f"--molecules must be between 1 and {len(items)} (the molecules of {csv_path}), got {k}")
    pick = np.sort(np.random.default_rng(seed).choice(len(items), size=k, replace=False))
    return [items[i] for i in pick]


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson interval of a proportion ``k / n`` (``(nan, nan)`` for ``n == 0``)."""
    if n == 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def share_by_cap(records: list[dict], caps) -> list[dict]:
    """Per cap ``c``: molecules converged within ``c`` CPU-s (``converged`` and ``cpu_seconds <= c``),
    their share with its Wilson interval, the mean CPU-s a molecule costs at that cap
    (``min(cpu_seconds, c)``; a failed molecule costs what it used) and converged molecules per
    CPU-hour. ``records``: dicts with ``converged`` (bool) and ``cpu_seconds``."""
    out = []
    n = len(records)
    for c in caps:
        k = sum(1 for r in records if r["converged"] and r["cpu_seconds"] <= c)
        cost = float(np.mean([min(r["cpu_seconds"], c) for r in records])) if n else math.nan
        lo, hi = wilson(k, n)
        out.append({"cap": float(c), "molecules": n, "converged": k, "share": k / n if n else math.nan, "low": lo,
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
            "torsions_passing": int(sum(bool(x) for x in tc)), "ess_min": d.get("ess_min"),
            "states": list(d.get("state_names") or []), "state_population": list(d.get("state_population") or []),
            "states_converged": bool(d.get("states_converged", True)), "sweeps_per_chain": d.get("sweeps_per_chain")}


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def report_lines(records: list[dict], cap: float, args_text: str) -> list[str]:
    caps = [c for c in CAPS if c <= cap] + ([cap] if cap not in CAPS else [])
    ok = [r for r in records if r["ok"]]
    with_states = [r for r in ok if r["states"]]
    lines = ["# Training references: converged share against the CPU budget (pilot)", "",
             f"`{args_text}`", "",
             f"{len(records)} molecules drawn at random from `data/conformers/smiles_train.csv`, each sampled once with "
             f"the training split's settings of sampler version {records[0].get('version', '?') if records else '?'} "
             f"(ESS >= 100, discrete-state moves on) up to {cap:g} CPU-s. Converged within c = converged at a check "
             f"at or before c CPU-s (a lower bound below the run's cap). 5,000 molecules: the CPU-hours at that cap "
             f"(mean cost x 5,000). {len(records) - len(ok)} failed.", "",
             "| cap (CPU-s) | converged | share (95 % Wilson) | mean CPU-s / molecule | converged / CPU-hour | "
             "CPU-hours for 5,000 |", "|---|---|---|---|---|---|"]
    for row in share_by_cap(records, caps):
        lines.append(f"| {row['cap']:g} | {row['converged']} of {row['molecules']} | {row['share']:.2f} "
                     f"({_fmt(row['low'], '.2f')}-{_fmt(row['high'], '.2f')}) | {row['mean_cpu_seconds']:.1f} | "
                     f"{_fmt(row['converged_per_cpu_hour'], '.1f')} | {row['mean_cpu_seconds'] * 5000 / 3600:.0f} |")
    n_t = sum(r["n_torsions"] for r in ok)
    n_pass = sum(r["torsions_passing"] for r in ok)
    lines += ["", f"Torsions passing the rule at the cap: {n_pass} of {n_t} ({n_pass / max(n_t, 1):.2f}); molecules "
              f"with discrete sites: {len(with_states)} of {len(ok)}, of them converged "
              f"{sum(r['converged'] for r in with_states)}, their states passing "
              f"{sum(r['states_converged'] for r in with_states)}.", "",
              "| molecule | torsions (passing) | sites: population of state 1 | converged | CPU-s | min ESS | SMILES |",
              "|---|---|---|---|---|---|---|"]
    for r in records:
        if not r["ok"]:
            lines.append(f"| {r['id']} | failed: {r['error']} | | | | | `{r['smiles']}` |")
            continue
        sites = ", ".join(f"{s} {p:.2f}" for s, p in zip(r["states"], r["state_population"])) or "-"
        lines.append(f"| {r['id']} | {r['n_torsions']} ({r['torsions_passing']}) | {sites} | "
                     f"{'yes' if r['converged'] else 'no'} | {r['cpu_seconds']:.0f} | {_fmt(r['ess_min'], '.0f')} | "
                     f"`{r['smiles']}` |")
    return lines


def plot(records: list[dict], cap: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    caps = np.linspace(0, cap, 200)
    rows = share_by_cap(records, caps)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(caps, [r["share"] for r in rows], drawstyle="steps-post", label="converged share")
    ax.fill_between(caps, [r["low"] for r in rows], [r["high"] for r in rows], step="post", alpha=0.2,
                    label="95 % Wilson")
    ax.axvline(10, color="grey", ls=":", label="today's training cap (10 s)")
    ax.set_xlabel("CPU-s per molecule (cap)")
    ax.set_ylabel("share of training molecules converged")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    from geomgen.atomic import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molecules", type=int, default=24, help="molecules drawn from the training split (default 24)")
    ap.add_argument("--cap", type=float, default=120.0, help="CPU seconds per molecule (default 120)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0); the sampler's seed is 0")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--report-only", action="store_true", help="sample nothing: report what the work folder holds")
    ap.add_argument("-o", "--out", default=str(ROOT / "evaluation" / "conformers" / "train_budget_pilot.md"))
    args = ap.parse_args(argv)
    if not args.cap > 0:
        raise SystemExit(f"--cap must be positive, got {args.cap}")

    from geomgen.conformers.reference.build import SAMPLER_VERSION, SPLIT_CONFIGS, build_reference_set
    from geomgen.conformers.reference.store import read_smiles_csv
    from geomgen.tables import publish

    items = draw_molecules(TRAIN_CSV, args.molecules, args.seed)
    work = ROOT / "data" / "conformers" / ".build" / f"train-pilot-v{SAMPLER_VERSION}-cap{args.cap:g}"
    if not args.report_only:
        config = dict(SPLIT_CONFIGS["train"], max_cpu_seconds=args.cap)
        wanted = {i for i, _ in items}
        build_reference_set(TRAIN_CSV, work, config, jobs=args.jobs, skip={i for i, _ in read_smiles_csv(TRAIN_CSV)} - wanted)
    records = [dict(molecule_record(i, s, work), version=SAMPLER_VERSION) for i, s in items
               if (work / f"{i}.npz").exists() or (work / f"{i}.fail.json").exists()]
    if not records:
        raise SystemExit(f"no results in {work} yet")
    text = "python -m evaluation.conformers.train_budget_pilot " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    publish(out, report_lines(records, args.cap, text))
    publish(out.with_suffix(".json"), json.dumps({"command": text, "cap": args.cap, "molecules": records,
                                                   "by_cap": share_by_cap(records, CAPS)}, indent=1), echo=False)
    plot(records, args.cap, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
