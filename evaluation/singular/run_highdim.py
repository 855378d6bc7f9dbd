"""Run the `highdim` singular-distribution study and check issue 11's claims from its numbers.

    python -m evaluation.singular.run_highdim                 # runs or resumes into evaluation/singular/highdim/
    python -m evaluation.singular.run_highdim --report-only   # tables, plots and targets from the finished cells
    python -m evaluation.singular.run_highdim --dask tcp://scheduler:8786
    python -m evaluation.singular.run_highdim --study highdim_v2 --outdir evaluation/singular/highdim_v2   # issue 30

The study (``geomgen/singular/configs/highdim.yaml``): vMF laws on S^d, d = 1, 2, 4, embedded
in R^D, D = d + 1, 10, 30; n = 250, 1000, 4000; six estimators; three seeds. Besides the
study's own ``summary.md``, ``slopes.csv``, ``w1_vs_n.png`` and ``w1_vs_D.png``, writes
``targets.md``:

* **ambient dimension** -- per d and n, the perturbed estimator's mean W1 at D = 30 over its
  mean W1 at D = d + 1 (target: within 25 %), with Scott's KDE and the others beside it;
* **resolution** -- whether the evaluation separates the estimators: every estimator of a
  (law, seed) is measured against the same truth sample, so the paired difference of two
  estimators' W1 cancels most of the floor's noise; a pair is resolved when the mean paired
  difference over seeds exceeds twice its standard error. Reported per d, with the floor
  (oracle W1) and its spread over seeds;
* **slopes** of W1 against n with 95 % intervals next to the theory's, per (d, D).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

from geomgen.singular.studies.report import noise_key

HERE = Path(__file__).resolve().parent


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def ambient_lines(report: dict, cfg) -> list[str]:
    sens = report["ambient"]
    types = {k: v["type"] for k, v in cfg.estimators.items()}
    pert = next(e for e, t in types.items() if t == "perturbed_mle")
    lines = ["## W1 at D = 30 over W1 at D = d + 1 (mean over the seeds finished at both)", "",
             "Target: the perturbed estimator's ratio within [0.8, 1.25] (changes by at most 25 %) for every d.", "",
             "| d | n | " + " | ".join(types) + " | seeds (perturbed) | target |",
             "|---|---|" + "---|" * len(types) + "---|---|"]
    by = {(r["d"], r["n"], r["estimator"]): r for r in sens}
    for d in sorted({r["d"] for r in sens}):
        for n in sorted({r["n"] for r in sens}):
            if (d, n, pert) not in by:
                continue
            ratio = by[(d, n, pert)]["ratio"]
            cells = [f"{by[(d, n, e)]['ratio']:.2f}" if (d, n, e) in by else "" for e in types]
            seeds = by[(d, n, pert)].get("ratio_seeds")
            lines.append(f"| {d} | {n} | " + " | ".join(cells) + f" | {seeds} | {_verdict(0.8 <= ratio <= 1.25)} |")
    return lines


def resolution_lines(rows: list[dict], summary: list[dict], primary=0.1) -> list[str]:
    w1 = defaultdict(dict)  # (distribution, n, estimator) -> seed -> W1, the primary noise level only
    d_of = {}
    for r in rows:
        if r.get("status") == "ok" and (r["estimator_type"] != "perturbed_mle" or noise_key(r["noise"]) == primary):
            w1[(r["distribution"], int(r["n"]), r["estimator"])][int(r["seed"])] = float(r["w1"])
            d_of[r["distribution"]] = int(r["d"])
    pairs = defaultdict(lambda: [0, 0])
    for (dist, n) in {(k[0], k[1]) for k in w1}:
        ests = sorted(e for (dd, nn, e) in w1 if (dd, nn) == (dist, n))
        for a, b in combinations(ests, 2):
            seeds = sorted(set(w1[(dist, n, a)]) & set(w1[(dist, n, b)]))
            if len(seeds) < 2:
                continue
            diff = np.array([w1[(dist, n, a)][s] - w1[(dist, n, b)][s] for s in seeds])
            se = diff.std(ddof=1) / math.sqrt(len(diff))
            pairs[d_of[dist]][1] += 1
            pairs[d_of[dist]][0] += int(abs(diff.mean()) > 2 * se)
    floor = defaultdict(list)
    for r in summary:
        if math.isfinite(r.get("oracle_w1_sd", float("nan"))):
            floor[int(r["d"])].append((r["oracle_w1_mean"], r["oracle_w1_sd"]))
    lines = ["## Does the evaluation resolve the estimators?", "",
             "Pairs of estimators at the same (law, n), paired over seeds (same truth sample): resolved when the mean "
             "paired W1 difference exceeds twice its standard error.", "",
             "| d | oracle floor (mean) | floor sd over seeds (mean) | pairs resolved |", "|---|---|---|---|"]
    for d in sorted(pairs):
        f = np.array(floor[d]) if floor[d] else np.full((1, 2), np.nan)
        ok, tot = pairs[d]
        lines.append(f"| {d} | {f[:, 0].mean():.4f} | {f[:, 1].mean():.4f} | {ok} / {tot} |")
    return lines


def slope_lines(report: dict, cfg) -> list[str]:
    lines = ["## Slopes of W1 against n (95 % interval) next to the theory", "",
             "| law | d | D | " + " | ".join(cfg.estimators) + " | theory |", "|---|---|---|" + "---|" * len(cfg.estimators) + "---|"]
    primary = cfg.grids[0]["noise"][0]
    by = {(s["distribution"], s["estimator"]): s for s in report["slopes"] if s["noise"] in (0.0, primary)}
    D_of = {r["distribution"]: r["D"] for r in report["summary"]}
    for dist in cfg.distributions:
        got = [by.get((dist, e)) for e in cfg.estimators]
        if not any(got):
            continue
        cells = [f"{s['slope']:.2f} [{s['slope_lo']:.2f}, {s['slope_hi']:.2f}]" if s else "" for s in got]
        theory = next(s for s in got if s)["theory_slope"]
        lines.append(f"| {dist} | {next(s for s in got if s)['d']} | {D_of.get(dist)} | " + " | ".join(cells)
                     + f" | {theory:.3f} |")
    return lines


def study_parser(description: str, study: str, dask: bool = True) -> argparse.ArgumentParser:
    """Options of a study script (also used by ``run_rates.py``): ``--study``, ``--outdir``,
    ``--workers``, ``--dask`` (with ``dask``) and ``--report-only``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--study", default=study, help=f"shipped study name or YAML path (default {study})")
    ap.add_argument("--outdir", default=None, help="output folder (default evaluation/singular/<study name>)")
    ap.add_argument("--workers", type=int, default=2)
    if dask:
        ap.add_argument("--dask", default=None, help="dask.distributed scheduler address")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--reuse", nargs="+", default=[], metavar="DIR",
                    help="other studies' output folders: a finished cell there whose key (law, n, noise, estimator, "
                         "seed and a hash of their specs and of the evaluation) is one of this study's is copied, "
                         "not rerun")
    return ap


def reuse_cells(cfg, out: Path, others) -> int:
    """Copy into ``out/cells`` every finished cell (status ``ok``) of the studies in ``others``
    whose key is one of ``cfg``'s cells and not finished in ``out``. A key carries a hash of the
    law's, the estimator's and the evaluation's specs, so a copied cell is the cell this study
    would run (the same fit on the same draws). Returns the number copied."""
    from geomgen.grid import write_cell
    from geomgen.singular.studies import load_cells

    done = load_cells(out)
    wanted = {c.key for c in cfg.cells()} - {k for k, r in done.items() if r.get("status") == "ok"}
    copied = 0
    for other in others:
        for key, row in load_cells(other).items():
            if key in wanted and row.get("status") == "ok":
                write_cell(out / "cells", key, row)
                wanted.discard(key)
                copied += 1
    return copied


def study_rows(args) -> tuple:
    """``(cfg, out, rows)`` of the study in ``args`` (from :func:`study_parser`): with
    ``--report-only`` the finished cells' rows, otherwise those of a run that resumes the rest
    (on a Dask scheduler with ``--dask``); the study's own report is left to the caller."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from geomgen.singular.cli import resolve_study
    from geomgen.singular.studies import load_cells, load_study, run_study

    cfg = load_study(resolve_study(args.study))
    out = Path(args.outdir or HERE / cfg.name)
    if args.report_only:
        done = load_cells(out)
        return cfg, out, [done[c.key] for c in cfg.cells() if c.key in done]
    if getattr(args, "reuse", None):
        (out / "cells").mkdir(parents=True, exist_ok=True)
        print(f"reused {reuse_cells(cfg, out, args.reuse)} finished cells of {', '.join(map(str, args.reuse))}")
    client = None
    if getattr(args, "dask", None):
        from distributed import Client

        client = Client(args.dask)
    try:
        res = run_study(cfg, out, executor=client.get_executor() if client else None, workers=args.workers,
                        report=False)
    finally:
        if client is not None:
            client.close()
    return cfg, out, res.rows


def main(argv=None) -> int:
    args = study_parser(__doc__.splitlines()[0], "highdim").parse_args(argv)
    cfg, out, rows = study_rows(args)

    from geomgen.singular.studies.report import write_report
    from geomgen.tables import publish

    report = write_report(rows, cfg, out)
    ok = [r for r in rows if r.get("status") == "ok"]
    seeds = sorted({int(r["seed"]) for r in ok})
    cpu = sum(float(r.get("cpu_seconds") or 0) for r in ok)
    lines = [f"# Study `{cfg.name}`: targets of issue 11", "",
             f"- {len(ok)} of {len(cfg.cells())} cells finished (seeds {seeds}); CPU time of the finished cells "
             f"{cpu / 3600:.2f} core-hours. Rerun the command to resume the rest.", ""]
    lines += ambient_lines(report, cfg) + [""] + resolution_lines(rows, report["summary"], cfg.grids[0]["noise"][0]) + [""]
    lines += slope_lines(report, cfg)
    publish(out / "targets.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
