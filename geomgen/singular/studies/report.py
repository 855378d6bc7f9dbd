r"""Tables and plots of a finished study.

* ``runs.csv`` -- one row per cell (:data:`RUN_COLUMNS`).
* ``summary.csv`` / ``summary.md`` -- mean and standard error over seeds per
  (distribution, n, noise, estimator), the fitted log-log slopes of W1 against n next to
  the theory's rate, and the comparison of the estimators at ``compare_n``.
* ``slopes.csv`` -- least-squares slope of :math:`\log \overline{W_1}` on :math:`\log n`
  per (distribution, estimator, noise), with the minimax exponent
  :math:`-\min(1/2, (\alpha+1)/(2\alpha+d))` of the rate
  :math:`\max(n^{-1/2}, n^{-(\alpha+1)/(2\alpha+d)})`.
* ``w1_vs_n.png`` (log-log, slope in the legend) and ``w1_vs_noise.png``; where laws differ
  only in their ambient dimension (:func:`families`), ``w1_vs_D.png`` and a table of W1
  against D (:func:`ambient_sensitivity`).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

__all__ = ["RUN_COLUMNS", "write_report", "summarize", "fit_slopes", "theory_exponent", "compare", "families",
           "ambient_sensitivity"]

RUN_COLUMNS = ["distribution", "d", "D", "n", "noise", "estimator", "estimator_type", "seed", "w1", "oracle_w1",
               "loglik", "sigma", "seconds", "cpu_seconds", "fit_seconds", "steps", "w1_points", "status", "error"]


def theory_exponent(d: int, alpha: float) -> float:
    r"""Exponent of the minimax W1 rate :math:`\max(n^{-1/2}, n^{-(\alpha+1)/(2\alpha+d)})` (negative)."""
    return -min(0.5, (alpha + 1) / (2 * alpha + d))


def _f(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _mean_se(vals):
    v = np.array([x for x in vals if math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), se, len(v)


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and standard error over seeds per (distribution, n, noise, estimator)."""
    groups = defaultdict(list)
    for r in rows:
        if r.get("status") == "ok":
            groups[(r["distribution"], int(r["n"]), float(r["noise"]), r["estimator"])].append(r)
    out = []
    for (dist, n, s, est), rs in sorted(groups.items()):
        row = {"distribution": dist, "d": rs[0].get("d"), "D": rs[0].get("D"), "n": n, "noise": s, "estimator": est,
               "runs": len(rs)}
        for col in ("w1", "oracle_w1", "loglik", "sigma", "seconds", "cpu_seconds"):
            m, se, _ = _mean_se([_f(r.get(col)) for r in rs])
            row[f"{col}_mean"], row[f"{col}_se"] = m, se
        floor = [_f(r.get("oracle_w1")) for r in rs]
        floor = [v for v in floor if math.isfinite(v)]
        row["oracle_w1_sd"] = float(np.std(floor, ddof=1)) if len(floor) > 1 else float("nan")
        out.append(row)
    return out


def primary_noise(summary: list[dict], estimator: str, dist: str, noises: list[float]) -> float | None:
    """The noise level of the main grid that the perturbed estimator's curves are drawn at."""
    have = {r["noise"] for r in summary if r["estimator"] == estimator and r["distribution"] == dist}
    for s in noises:
        if s in have:
            return s
    return min(have) if have else None


def fit_slopes(summary: list[dict], alpha: float, rows: list[dict] | None = None) -> list[dict]:
    r"""Least-squares slope of log mean W1 on log n, per (distribution, estimator, noise).

    With the per-seed ``rows``, also the slope fitted to every run's :math:`(\log n, \log W_1)`
    and its 95 % confidence interval (Student t on the residual scatter, which includes the
    seed-to-seed spread): ``slope_lo``, ``slope_hi``. Where the W1 of an estimate approaches the
    evaluation floor (``oracle_w1``), the fitted slope is biased towards 0.
    """
    from scipy import stats

    groups = defaultdict(list)
    for r in summary:
        groups[(r["distribution"], r["estimator"], r["noise"])].append(r)
    runs = defaultdict(list)
    for r in rows or []:
        w = _f(r.get("w1"))
        if r.get("status") == "ok" and math.isfinite(w) and w > 0:
            runs[(r["distribution"], r["estimator"], float(r["noise"]))].append((math.log(int(r["n"])), math.log(w)))
    out = []
    for (dist, est, s), rs in sorted(groups.items()):
        rs = [r for r in rs if math.isfinite(r["w1_mean"]) and r["w1_mean"] > 0]
        ns = sorted({r["n"] for r in rs})
        if len(ns) < 2:
            continue
        x = np.log([r["n"] for r in rs])
        y = np.log([r["w1_mean"] for r in rs])
        slope, intercept = np.polyfit(x, y, 1)
        lo = hi = float("nan")
        pts = runs.get((dist, est, s), [])
        if len(pts) > 2 and len({p[0] for p in pts}) > 1:
            fit = stats.linregress(*zip(*pts))
            t = stats.t.ppf(0.975, len(pts) - 2)
            lo, hi = fit.slope - t * fit.stderr, fit.slope + t * fit.stderr
        d = int(rs[0]["d"]) if rs[0].get("d") is not None else None
        out.append({"distribution": dist, "estimator": est, "noise": s, "n_min": ns[0], "n_max": ns[-1],
                    "points": len(ns), "slope": float(slope), "slope_lo": float(lo), "slope_hi": float(hi),
                    "intercept": float(intercept), "d": d,
                    "theory_slope": theory_exponent(d, alpha) if d is not None else float("nan")})
    return out


def families(config) -> dict[str, list[str]]:
    """Distributions that differ only in their ambient dimension D (and isometry), grouped:
    family name (the label's common part) -> labels, for the W1-against-D view. Only families
    with more than one member are returned."""
    from geomgen.singular.studies.cell import ambient_free_key

    groups = defaultdict(list)
    for label, spec in config.distributions.items():
        groups[ambient_free_key(spec)].append(label)
    out = {}
    for labels in groups.values():
        if len(labels) > 1:
            common = labels[0]
            for lab in labels[1:]:
                common = common[: next((i for i, (a, b) in enumerate(zip(common, lab)) if a != b), min(len(common), len(lab)))]
            out[common.rstrip("_D") or labels[0]] = labels
    return out


def ambient_sensitivity(summary: list[dict], config, rows: list[dict] | None = None) -> list[dict]:
    """Per family, estimator and n: mean W1 at the smallest and the largest D and their ratio.

    With the per-seed ``rows``, the ratio (``ratio``, ``ratio_seeds``) is taken over the seeds
    finished at both D, so a partly run study compares like with like."""
    types = {k: v["type"] for k, v in config.estimators.items()}
    noises = config.grids[0]["noise"]
    # per-seed W1 of the finished runs, indexed once: (distribution, estimator, n, noise) -> {seed: w1}
    per_seed = defaultdict(dict)
    for x in rows or ():
        if x.get("status") == "ok":
            per_seed[(x["distribution"], x["estimator"], int(x["n"]), float(x["noise"]))][int(x["seed"])] = _f(x.get("w1"))
    out = []
    for fam, labels in families(config).items():
        for est, kind in types.items():
            for n in sorted({r["n"] for r in summary}):
                at = {}
                for lab in labels:
                    s = primary_noise(summary, est, lab, noises) if kind == "perturbed_mle" else 0.0
                    for r in summary:
                        if r["distribution"] == lab and r["estimator"] == est and r["n"] == n and r["noise"] == s:
                            at[int(r["D"])] = r
                if len(at) < 2:
                    continue
                lo, hi = at[min(at)], at[max(at)]
                ratio = hi["w1_mean"] / lo["w1_mean"] if lo["w1_mean"] > 0 else float("nan")
                seeds_used = None
                if rows is not None:
                    w_lo, w_hi = (per_seed[(r["distribution"], est, n, float(r["noise"]))] for r in (lo, hi))
                    common = sorted(set(w_lo) & set(w_hi))
                    if common:
                        a = np.mean([w_lo[k] for k in common])
                        ratio = float(np.mean([w_hi[k] for k in common]) / a) if a > 0 else float("nan")
                        seeds_used = len(common)
                out.append({"family": fam, "d": lo["d"], "estimator": est, "n": n, "D_min": min(at), "D_max": max(at),
                            "w1_D_min": lo["w1_mean"], "w1_D_max": hi["w1_mean"],
                            "ratio": ratio, "ratio_seeds": seeds_used,
                            "w1_by_D": {D: at[D]["w1_mean"] for D in sorted(at)},
                            "se_by_D": {D: at[D]["w1_se"] for D in sorted(at)},
                            "floor_by_D": {D: at[D]["oracle_w1_mean"] for D in sorted(at)}})
    return out


def compare(summary: list[dict], config, n: int) -> dict:
    """Estimators at sample size n: mean W1 over the distributions (perturbed estimators at the
    first main-grid noise level) and the ratio of each perturbed estimator to each other one."""
    types = {k: v["type"] for k, v in config.estimators.items()}
    noises = config.grids[0]["noise"]
    dists = sorted({r["distribution"] for r in summary if r["n"] == n})
    per = defaultdict(dict)
    for dist in dists:
        for est, kind in types.items():
            s = primary_noise(summary, est, dist, noises) if kind == "perturbed_mle" else 0.0
            for r in summary:
                if r["distribution"] == dist and r["estimator"] == est and r["n"] == n and r["noise"] == s:
                    per[est][dist] = r["w1_mean"]
    common = [d for d in dists if all(d in per[e] for e in per)]
    means = {e: float(np.mean([per[e][d] for d in common])) if common else float("nan") for e in per}
    ratios = {}
    for p, kind in types.items():
        if kind != "perturbed_mle":
            continue
        for e in per:
            if e != p and common:
                ratios[f"{p}/{e}"] = means[p] / means[e] if means[e] > 0 else float("nan")
    return {"n": n, "distributions": common, "per_distribution": {e: dict(v) for e, v in per.items()},
            "mean_w1": means, "ratios": ratios}


def _write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    columns = columns or (list(rows[0]) if rows else [])
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})


def _fmt(v, se=None, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    s = f"{v:.{digits}f}"
    if se is not None and math.isfinite(se):
        s += f" ± {se:.{digits}f}"
    return s


def _markdown(summary, slopes, cmp, config, rows, sens=()) -> str:
    ok = [r for r in rows if r.get("status") == "ok"]
    bad = [r for r in rows if r.get("status") != "ok"]
    lines = [f"# Study `{config.name}`", ""]
    if config.description:
        lines += [config.description.strip(), ""]
    ev = config.evaluation
    lines += [f"{len(ok)} finished runs, {len(bad)} failed. W1: exact (POT) between {ev.num_points} samples of the "
              f"estimate and {ev.num_points} fresh samples of the truth; `oracle` is W1 between two independent "
              f"truth samples of that size (the evaluation floor). loglik: mean log-density of {ev.test_points} "
              "held-out clean points (nats per point). Mean ± standard error over seeds.", ""]
    lines += [f"## Comparison at n = {cmp['n']}", ""]
    if cmp["distributions"]:
        ests = list(cmp["mean_w1"])
        lines += ["| distribution | " + " | ".join(ests) + " |", "|---" * (len(ests) + 1) + "|"]
        for d in cmp["distributions"]:
            lines.append(f"| {d} | " + " | ".join(_fmt(cmp["per_distribution"][e][d]) for e in ests) + " |")
        lines.append("| **mean** | " + " | ".join(f"**{_fmt(cmp['mean_w1'][e])}**" for e in ests) + " |")
        lines.append("")
        for k, v in cmp["ratios"].items():
            lines.append(f"- W1 ratio {k} (mean over distributions): {_fmt(v, digits=3)}")
        lines.append("")
    else:
        lines += ["(no sample size with every estimator finished)", ""]
    lines += ["## Fitted slopes of W1 against n (log-log)", "",
              f"Theory: W1 rate max(n^-1/2, n^-(alpha+1)/(2 alpha+d)) with alpha = {ev.alpha}.", "",
              "Slope: of log mean W1 on log n; 95 % CI: of the slope fitted to every run (seed-to-seed "
              "spread included). Near the oracle floor the slope is biased towards 0.", "",
              "| distribution | d | estimator | noise | n range | slope | 95 % CI | theory |",
              "|---|---|---|---|---|---|---|---|"]
    for s in slopes:
        ci = f"[{s['slope_lo']:.2f}, {s['slope_hi']:.2f}]" if math.isfinite(s.get("slope_lo", float("nan"))) else "-"
        lines.append(f"| {s['distribution']} | {s['d']} | {s['estimator']} | {s['noise']:g} | {s['n_min']}-{s['n_max']} "
                     f"| {s['slope']:.3f} | {ci} | {s['theory_slope']:.3f} |")
    if sens:
        Ds = sorted({D for r in sens for D in r["w1_by_D"]})
        lines += ["", "## W1 against the ambient dimension D", "",
                  "Mean W1 ± standard error over seeds, per family of laws that differ only in D; ratio = W1 at the "
                  "largest D over W1 at the smallest, over the seeds finished at both.", "",
                  "| family | d | n | estimator | " + " | ".join(f"D = {D}" for D in Ds) + " | ratio |",
                  "|---|---|---|---|" + "---|" * len(Ds) + "---|"]
        for r in sorted(sens, key=lambda r: (r["family"], r["n"], r["estimator"])):
            cells = [_fmt(r["w1_by_D"][D], r["se_by_D"][D]) if D in r["w1_by_D"] else "" for D in Ds]
            lines.append(f"| {r['family']} | {r['d']} | {r['n']} | {r['estimator']} | " + " | ".join(cells)
                         + f" | {_fmt(r['ratio'], digits=2)} |")
    lines += ["", "## All cells", "", "oracle W1: mean (sd over seeds) of the evaluation floor; estimators whose mean "
              "W1 differ by more than a few floor sds are resolved.", "",
              "| distribution | d | D | n | noise | estimator | runs | W1 | oracle W1 (sd) | loglik | sigma | seconds |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        lines.append(f"| {r['distribution']} | {r['d']} | {r['D']} | {r['n']} | {r['noise']:g} | {r['estimator']} | "
                     f"{r['runs']} | {_fmt(r['w1_mean'], r['w1_se'])} | {_fmt(r['oracle_w1_mean'])} ({_fmt(r['oracle_w1_sd'])}) | "
                     f"{_fmt(r['loglik_mean'], r['loglik_se'], 3)} | {_fmt(r['sigma_mean'], digits=3)} | "
                     f"{_fmt(r['seconds_mean'], digits=1)} |")
    if bad:
        lines += ["", "## Failed cells", ""] + [f"- {r.get('key', '?')}: {r.get('error')}" for r in bad]
    return "\n".join(lines) + "\n"


def _plots(summary, slopes, config, outdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = {k: v["type"] for k, v in config.estimators.items()}
    noises = config.grids[0]["noise"]
    dists = list(dict.fromkeys(r["distribution"] for r in summary))
    if not dists:
        return
    slope_of = {(s["distribution"], s["estimator"], s["noise"]): s for s in slopes}
    cols = min(3, len(dists))
    rows_ = math.ceil(len(dists) / cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(4.2 * cols, 3.4 * rows_), squeeze=False)
    for ax, dist in zip(axes.flat, dists):
        d = None
        for est, kind in types.items():
            s = primary_noise(summary, est, dist, noises) if kind == "perturbed_mle" else 0.0
            rs = sorted((r for r in summary if r["distribution"] == dist and r["estimator"] == est and r["noise"] == s),
                        key=lambda r: r["n"])
            if not rs:
                continue
            d = rs[0]["d"]
            sl = slope_of.get((dist, est, s))
            label = est + (f" (s={s:g})" if kind == "perturbed_mle" else "") + (f", slope {sl['slope']:.2f}" if sl else "")
            ns = [r["n"] for r in rs]
            ax.errorbar(ns, [r["w1_mean"] for r in rs], yerr=[0 if not math.isfinite(r["w1_se"]) else r["w1_se"]
                                                             for r in rs], marker="o", capsize=2, label=label)
        oracle = sorted({(r["n"], r["oracle_w1_mean"]) for r in summary if r["distribution"] == dist})
        if oracle:
            ax.plot([o[0] for o in oracle], [o[1] for o in oracle], "k:", lw=1, label="oracle floor")
        ns_all = sorted({r["n"] for r in summary if r["distribution"] == dist})
        if d is not None and len(ns_all) > 1:
            e = theory_exponent(int(d), config.evaluation.alpha)
            ref = [r["w1_mean"] for r in summary if r["distribution"] == dist and r["n"] == ns_all[0]]
            y0 = max(ref) if ref else 1.0
            ax.plot(ns_all, [y0 * (n / ns_all[0]) ** e for n in ns_all], "k--", lw=1, label=f"theory slope {e:.2f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{dist} (d={d})")
        ax.set_xlabel("n")
        ax.set_ylabel("W1 to the truth")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(dists):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(outdir / "w1_vs_n.png", dpi=120)
    plt.close(fig)

    pert = [e for e, k in types.items() if k == "perturbed_mle"]
    colour = {e: f"C{i % 10}" for i, e in enumerate(types)}  # the same colours as in w1_vs_n.png
    fig, axes = plt.subplots(rows_, cols, figsize=(4.2 * cols, 3.4 * rows_), squeeze=False)
    n_cmp = int(config.evaluation.compare_n)
    for ax, dist in zip(axes.flat, dists):
        ns = sorted({r["n"] for r in summary if r["distribution"] == dist and r["estimator"] in pert})
        n_plot = n_cmp if n_cmp in ns else (ns[-1] if ns else None)
        for est in pert:
            rs = sorted((r for r in summary if r["distribution"] == dist and r["estimator"] == est and r["n"] == n_plot),
                        key=lambda r: r["noise"])
            if rs:
                ax.errorbar([r["noise"] for r in rs], [r["w1_mean"] for r in rs],
                            yerr=[0 if not math.isfinite(r["w1_se"]) else r["w1_se"] for r in rs], marker="o",
                            capsize=2, color=colour[est], label=est)
        for est, kind in types.items():
            if kind == "perturbed_mle":
                continue
            rs = [r for r in summary if r["distribution"] == dist and r["estimator"] == est and r["n"] == n_plot]
            if rs:
                ax.axhline(rs[0]["w1_mean"], ls="--", lw=1, color=colour[est], label=f"{est} (s=0)")
        floor = [r["oracle_w1_mean"] for r in summary if r["distribution"] == dist and r["n"] == n_plot]
        if floor:
            ax.axhline(floor[0], ls=":", lw=1, color="k", label="oracle floor")
        ax.set_title(f"{dist}, n={n_plot}")
        ax.set_xlabel("instance noise s")
        ax.set_ylabel("W1 to the truth")
        ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(dists):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(outdir / "w1_vs_noise.png", dpi=120)
    plt.close(fig)


def _plot_ambient(sens: list[dict], config, outdir: Path) -> None:
    """``w1_vs_D.png``: W1 against D at ``compare_n``, one panel per family, one line per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_cmp = int(config.evaluation.compare_n)
    fams = list(dict.fromkeys(r["family"] for r in sens))
    colour = {e: f"C{i % 10}" for i, e in enumerate(config.estimators)}
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams), 3.4), squeeze=False)
    for ax, fam in zip(axes.flat, fams):
        rs = [r for r in sens if r["family"] == fam]
        ns = sorted({r["n"] for r in rs})
        n_plot = n_cmp if n_cmp in ns else ns[-1]
        for r in rs:
            if r["n"] != n_plot:
                continue
            Ds = sorted(r["w1_by_D"])
            ax.errorbar(Ds, [r["w1_by_D"][D] for D in Ds], marker="o", capsize=2, color=colour[r["estimator"]],
                        yerr=[0 if not math.isfinite(r["se_by_D"][D]) else r["se_by_D"][D] for D in Ds],
                        label=f"{r['estimator']} (x{r['ratio']:.2f})")
        floor = rs[0]["floor_by_D"]
        ax.plot(sorted(floor), [floor[D] for D in sorted(floor)], "k:", lw=1, label="oracle floor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{fam} (d={rs[0]['d']}), n={n_plot}")
        ax.set_xlabel("ambient dimension D")
        ax.set_ylabel("W1 to the truth")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(outdir / "w1_vs_D.png", dpi=120)
    plt.close(fig)


def write_report(rows: list[dict], config, outdir: str | Path) -> dict:
    """Write ``runs.csv``, ``summary.csv``, ``summary.md``, ``slopes.csv`` and the two plots.

    Returns:
        dict with ``summary``, ``slopes`` and ``comparison``.
    """
    outdir = Path(outdir)
    rows = sorted(rows, key=lambda r: (str(r.get("distribution")), int(r.get("n", 0)), float(r.get("noise", 0)),
                                       str(r.get("estimator")), int(r.get("seed", 0))))
    _write_csv(outdir / "runs.csv", rows, RUN_COLUMNS)
    summary = summarize(rows)
    if summary:
        _write_csv(outdir / "summary.csv", summary)
    slopes = fit_slopes(summary, float(config.evaluation.alpha), rows)
    _write_csv(outdir / "slopes.csv", slopes, ["distribution", "d", "estimator", "noise", "n_min", "n_max", "points",
                                               "slope", "slope_lo", "slope_hi", "theory_slope", "intercept"])
    cmp = compare(summary, config, int(config.evaluation.compare_n))
    sens = ambient_sensitivity(summary, config, rows)
    (outdir / "summary.md").write_text(_markdown(summary, slopes, cmp, config, rows, sens))
    _plots(summary, slopes, config, outdir)
    if sens:
        _plot_ambient(sens, config, outdir)
    return {"summary": summary, "slopes": slopes, "comparison": cmp, "ambient": sens}
