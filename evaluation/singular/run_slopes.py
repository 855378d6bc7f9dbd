"""Why are the fitted W1-against-n slopes of the default study flat? One hard cell, one change at a time.

    python -m evaluation.singular.run_slopes             # runs (or resumes) the `slopes` study
    python -m evaluation.singular.run_slopes --workers 1

Runs the shipped study ``geomgen/singular/configs/slopes.yaml`` (the vMF law on S^2, d = 2, at
n = 250, 1000, 4000, three seeds; the default study's perturbed estimator and three variants)
into ``evaluation/singular/slopes/``, then writes there

* ``findings.md`` -- per variant: mean W1 ± standard error at each n, the fitted sigma against
  the instance-noise level s, the slope with its 95 % interval, the evaluation floor; and
* ``training_curves.png`` -- training loss and sigma against the step for every variant and n
  (seed 0), from the ``history`` the cells record.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _fmt(m, se=None):
    if m != m:
        return "-"
    return f"{m:.4f}" + (f" ± {se:.4f}" if se is not None and se == se else "")


def findings(report: dict, cfg, rows: list[dict]) -> list[str]:
    summary, slopes = report["summary"], report["slopes"]
    ns = sorted({r["n"] for r in summary})
    ests = list(cfg.estimators)
    lines = [f"# Flat slopes: study `{cfg.name}`", "", cfg.description.strip(), "",
             "Command: `python -m evaluation.singular.run_slopes`. W1 as in every study: exact, 2000 samples of the "
             "estimate against 2000 fresh truth samples; the floor is two truth samples against each other.", "",
             "| variant | " + " | ".join(f"W1 at n = {n}" for n in ns) + " | sigma (s = 0.1) | slope | 95 % CI | CPU s / fit |",
             "|---|" + "---|" * len(ns) + "---|---|---|---|"]
    for e in ests:
        at = {r["n"]: r for r in summary if r["estimator"] == e}
        sl = next((s for s in slopes if s["estimator"] == e), None)
        sig = [at[n]["sigma_mean"] for n in ns if n in at]
        cpu = [at[n]["cpu_seconds_mean"] for n in ns if n in at]
        w1 = " | ".join(_fmt(at[n]["w1_mean"], at[n]["w1_se"]) if n in at else "" for n in ns)
        sig_txt = ", ".join(f"{v:.3f}" for v in sig) if e != "empirical" else "-"
        sl_txt = f"{sl['slope']:.3f} | [{sl['slope_lo']:.2f}, {sl['slope_hi']:.2f}]" if sl else "- | -"
        cpu_txt = f"{sum(cpu) / len(cpu):.0f}" if cpu else "-"
        lines.append(f"| {e} | {w1} | {sig_txt} | {sl_txt} | {cpu_txt} |")
    floor = {r["n"]: (r["oracle_w1_mean"], r["oracle_w1_sd"]) for r in summary}
    lines.append("| oracle floor (sd) | " + " | ".join(f"{floor[n][0]:.4f} ({floor[n][1]:.4f})" for n in ns)
                 + " | | | | |")
    theory = slopes[0]["theory_slope"] if slopes else float("nan")
    lines += ["", f"Theory slope: {theory:.2f} (alpha = {cfg.evaluation.alpha:g}, d = 2)."]
    return lines


def plot_curves(rows: list[dict], cfg, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ests = [e for e in cfg.estimators if any(r.get("history") for r in rows if r["estimator"] == e)]
    ns = sorted({int(r["n"]) for r in rows})
    fig, axes = plt.subplots(2, len(ns), figsize=(4.2 * len(ns), 6.2), squeeze=False, sharex="col")
    for j, n in enumerate(ns):
        for i, e in enumerate(ests):
            r = next((r for r in rows if r["estimator"] == e and int(r["n"]) == n and int(r["seed"]) == 0
                      and r.get("history")), None)
            if r is None:
                continue
            steps, loss, sigma = zip(*r["history"])
            axes[0, j].plot(steps, loss, color=f"C{i}", lw=0.8, label=e)
            axes[1, j].plot(steps, sigma, color=f"C{i}", lw=0.8, label=e)
        axes[1, j].axhline(0.1, color="k", ls=":", lw=1, label="s")
        axes[0, j].set_title(f"S^2 vMF, n = {n}, seed 0")
        axes[0, j].set_ylabel("training loss (-log-lik, nats)")
        axes[0, j].set_ylim(top=min(axes[0, j].get_ylim()[1], 5.0))
        axes[1, j].set_ylabel("sigma")
        axes[1, j].set_xlabel("step")
        axes[1, j].set_yscale("log")
        axes[0, j].legend(fontsize=6)
        axes[1, j].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", default=str(HERE / "slopes"))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from geomgen.singular.cli import resolve_study
    from geomgen.singular.studies import load_study, run_study
    from geomgen.singular.studies.report import write_report
    from geomgen.tables import publish

    cfg = load_study(resolve_study("slopes"))
    res = run_study(cfg, args.outdir, workers=args.workers)
    out = Path(args.outdir)
    report = write_report(res.rows, cfg, out)
    lines = findings(report, cfg, res.rows)
    publish(out / "findings.md", lines)
    plot_curves(res.rows, cfg, out / "training_curves.png")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
