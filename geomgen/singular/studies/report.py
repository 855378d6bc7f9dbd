r"""Tables and plots of a finished study.

* ``runs.csv`` -- one row per cell (:data:`RUN_COLUMNS`).
* ``summary.csv`` / ``summary.md`` -- mean and standard error over seeds per
  (distribution, n, noise, estimator), the fitted log-log slopes of W1 against n next to
  the theory's rate, and the comparison of the estimators at ``compare_n``.
* ``slopes.csv`` -- least-squares slope of :math:`\log \overline{W_1}` on :math:`\log n`
  per (distribution, estimator, noise), with the minimax exponent
  :math:`-\min(1/2, (\alpha+1)/(2\alpha+d))` of the rate
  :math:`\max(n^{-1/2}, n^{-(\alpha+1)/(2\alpha+d)})`.
* ``floors.csv`` and a section of ``summary.md`` -- the evaluation floors next to the smallest
  estimator error per (distribution, n) (:func:`floor_table`).
* With the W1-floor evaluation (``w1_repeats``, ``energy_points``): slopes and plots of W1 - floor
  and of the energy distance too (``slopes_by_metric.csv``, ``w1_debiased_vs_n.png``, ``energy_vs_n.png``).
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

__all__ = ["RUN_COLUMNS", "METRICS", "write_report", "summarize", "fit_slopes", "theory_exponent", "compare", "families",
           "ambient_sensitivity", "floor_table", "noise_key"]

RUN_COLUMNS = ["distribution", "d", "D", "n", "noise", "estimator", "estimator_type", "seed", "w1", "oracle_w1",
               "loglik", "sigma", "seconds", "cpu_seconds", "fit_seconds", "steps", "w1_points", "status", "error",
               # added with the W1-floor evaluation (blank in the rows of older studies)
               "noise_used", "w1_se", "oracle_w1_se", "w1_debiased", "w1_debiased_se", "w1_repeats", "energy", "energy_se",
               "oracle_energy", "oracle_energy_se", "energy_points", "energy_directions", "eval_seconds"]

#: the error metrics a report fits slopes to, with their floors: column -> (name, floor column of the summary)
METRICS = {"w1": "W1", "w1_debiased": "W1 - floor", "energy": "energy distance^2"}


def noise_key(v):
    """A row's noise entry as a grouping key: a float, or the rule's name (``"auto"``, ``"schedule"``)."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return float(v)


def _noise_order(v):
    return (1, 0.0, v) if isinstance(v, str) else (0, float(v), "")


def _noise_text(v) -> str:
    return v if isinstance(v, str) else f"{v:g}"


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
            groups[(r["distribution"], int(r["n"]), noise_key(r["noise"]), r["estimator"])].append(r)
    out = []
    for (dist, n, s, est), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _noise_order(kv[0][2]), kv[0][3])):
        row = {"distribution": dist, "d": rs[0].get("d"), "D": rs[0].get("D"), "n": n, "noise": s, "estimator": est,
               "runs": len(rs)}
        for col in ("w1", "oracle_w1", "loglik", "sigma", "seconds", "cpu_seconds", "noise_used", "w1_debiased",
                    "w1_debiased_se", "energy", "oracle_energy", "oracle_energy_se"):
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
    return min(have, key=_noise_order) if have else None


def fit_slopes(summary: list[dict], alpha: float, rows: list[dict] | None = None, metric: str = "w1") -> list[dict]:
    r"""Least-squares slope of log mean W1 on log n, per (distribution, estimator, noise).

    ``metric`` picks the error: ``"w1"`` (default), ``"w1_debiased"`` (W1 - floor) or ``"energy"``
    (the squared energy distance; its slope is halved, the slope of the energy distance itself,
    comparable in scale with a W1 slope but not the same rate). Values <= 0 (an estimate within
    the floor) are left out of the fit.

    With the per-seed ``rows``, also the slope fitted to every run's :math:`(\log n, \log W_1)`
    and its 95 % confidence interval (Student t on the residual scatter, which includes the
    seed-to-seed spread): ``slope_lo``, ``slope_hi``. Where the W1 of an estimate approaches the
    evaluation floor (``oracle_w1``), the fitted slope is biased towards 0.
    """
    from scipy import stats

    groups = defaultdict(list)
    for r in summary:
        groups[(r["distribution"], r["estimator"], r["noise"])].append(r)
    scale = 0.5 if metric == "energy" else 1.0
    runs = defaultdict(list)
    for r in rows or []:
        w = _f(r.get(metric))
        if r.get("status") == "ok" and math.isfinite(w) and w > 0:
            runs[(r["distribution"], r["estimator"], noise_key(r["noise"]))].append((math.log(int(r["n"])), scale * math.log(w)))
    out = []
    for (dist, est, s), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _noise_order(kv[0][2]))):
        rs = [r for r in rs if math.isfinite(r.get(f"{metric}_mean", math.nan)) and r[f"{metric}_mean"] > 0]
        ns = sorted({r["n"] for r in rs})
        if len(ns) < 2:
            continue
        x = np.log([r["n"] for r in rs])
        y = scale * np.log([r[f"{metric}_mean"] for r in rs])
        slope, intercept = np.polyfit(x, y, 1)
        lo = hi = float("nan")
        pts = runs.get((dist, est, s), [])
        if len(pts) > 2 and len({p[0] for p in pts}) > 1:
            fit = stats.linregress(*zip(*pts))
            t = stats.t.ppf(0.975, len(pts) - 2)
            lo, hi = fit.slope - t * fit.stderr, fit.slope + t * fit.stderr
        d = int(rs[0]["d"]) if rs[0].get("d") is not None else None
        out.append({"metric": metric, "distribution": dist, "estimator": est, "noise": s, "n_min": ns[0], "n_max": ns[-1],
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
            per_seed[(x["distribution"], x["estimator"], int(x["n"]), noise_key(x["noise"]))][int(x["seed"])] = _f(x.get("w1"))
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
                    w_lo, w_hi = (per_seed[(r["distribution"], est, n, noise_key(r["noise"]))] for r in (lo, hi))
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


def compare(summary: list[dict], config, n: int, metric: str = "w1") -> dict:
    """Estimators at sample size n: mean error (``metric``, default W1) over the distributions (perturbed
    estimators at the first main-grid noise level) and the ratio of each perturbed estimator to each other one."""
    types = {k: v["type"] for k, v in config.estimators.items()}
    noises = config.grids[0]["noise"]
    dists = sorted({r["distribution"] for r in summary if r["n"] == n})
    per = defaultdict(dict)
    for dist in dists:
        for est, kind in types.items():
            s = primary_noise(summary, est, dist, noises) if kind == "perturbed_mle" else 0.0
            for r in summary:
                if r["distribution"] == dist and r["estimator"] == est and r["n"] == n and r["noise"] == s:
                    per[est][dist] = r.get(f"{metric}_mean", float("nan"))
    common = [d for d in dists if all(d in per[e] for e in per)]
    means = {e: float(np.mean([per[e][d] for d in common])) if common else float("nan") for e in per}
    ratios = {}
    for p, kind in types.items():
        if kind != "perturbed_mle":
            continue
        for e in per:
            if e != p and common:
                ratios[f"{p}/{e}"] = means[p] / means[e] if means[e] > 0 else float("nan")
    return {"metric": metric, "n": n, "distributions": common, "per_distribution": {e: dict(v) for e, v in per.items()},
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


def _se_floor(rs: list[dict], metric: str, se_column: str) -> dict:
    """``<metric>_floor`` (twice the mean of ``se_column``), ``<metric>_min`` and its estimator, and
    ``<metric>_ratio`` (floor / smallest mean; NaN unless that is above 0) for a metric that is 0
    in expectation for a perfect estimate."""
    vals = [r for r in rs if math.isfinite(r.get(f"{metric}_mean", math.nan))]
    ses = [r[se_column] for r in rs if math.isfinite(r.get(se_column, math.nan))]
    floor = 2 * float(np.mean(ses)) if ses else float("nan")
    best = min(vals, key=lambda r: r[f"{metric}_mean"]) if vals else None
    low = best[f"{metric}_mean"] if best else float("nan")
    return {f"{metric}_floor": floor, f"{metric}_min": low, f"{metric}_min_estimator": best["estimator"] if best else "",
            f"{metric}_ratio": floor / low if best and ses and low > 0 else float("nan")}


def floor_table(summary: list[dict]) -> list[dict]:
    """Per (distribution, n): the evaluation floors next to the smallest estimator error.

    W1: the floor is the mean truth-vs-truth W1 (``oracle_w1``) and the error the smallest mean W1
    of an estimator. Energy distance (unbiased, so its floor is 0): the floor is twice the mean
    standard error of the truth-vs-truth estimate, how far from 0 a perfect estimate lands, and the
    error the smallest mean energy distance. W1 - floor (``w1_debiased``, 0 in expectation for a
    perfect estimate, since both of its terms then have the same law): the floor is twice the mean
    standard error of the paired difference over the repeats of a cell, the error the smallest
    mean of an estimator. ``ratio`` = floor / error (target: at most 1/3). A floor is only as far
    below the errors as the best estimator is from the truth: where an estimator is within that
    standard error of the truth, no evaluation of this size can put the floor at a third of its error."""
    groups = defaultdict(list)
    for r in summary:
        groups[(r["distribution"], r["n"])].append(r)
    out = []
    for (dist, n), rs in sorted(groups.items()):
        row = {"distribution": dist, "d": rs[0].get("d"), "D": rs[0].get("D"), "n": n}
        w = [r["w1_mean"] for r in rs if math.isfinite(r["w1_mean"])]
        f = [r["oracle_w1_mean"] for r in rs if math.isfinite(r["oracle_w1_mean"])]
        row["w1_floor"] = float(np.mean(f)) if f else float("nan")
        row["w1_min"] = min(w) if w else float("nan")
        row["w1_min_estimator"] = min(rs, key=lambda r: r["w1_mean"] if math.isfinite(r["w1_mean"]) else math.inf)["estimator"]
        row["w1_ratio"] = row["w1_floor"] / row["w1_min"] if w and f and row["w1_min"] > 0 else float("nan")
        row.update(_se_floor(rs, "energy", "oracle_energy_se_mean"))  # floor: the truth-vs-truth estimate's noise
        row.update(_se_floor(rs, "w1_debiased", "w1_debiased_se_mean"))  # floor: the estimate's own noise
        out.append(row)
    return out


def _markdown(summary, slopes, cmp, config, rows, sens=(), floors=(), extra_slopes=(), cmp_energy=None) -> str:
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
    if getattr(ev, "w1_repeats", 1) > 1 or getattr(ev, "energy_points", 0):
        lines += [f"W1 and its floor are means over {ev.w1_repeats} independent repeat(s); `W1 - floor` is their paired "
                  "difference (it removes the sampling bias of a perfect estimate; it is not unbiased for W1 in general). "
                  + ("energy: the squared energy distance, an unbiased U-statistic"
                     + (f" sliced over {ev.energy_directions} directions" if getattr(ev, "energy_directions", 0) else "")
                     + f", between {ev.energy_points} samples of "
                     "the estimate and of the truth (0 in expectation for a perfect estimate; `oracle energy` is two truth "
                     "samples)." if ev.energy_points else ""), ""]
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
    if cmp_energy and cmp_energy["distributions"] and any(math.isfinite(v) for v in cmp_energy["mean_w1"].values()):
        ests = list(cmp_energy["mean_w1"])
        lines += [f"Energy distance^2 at n = {cmp_energy['n']}:", "", "| distribution | " + " | ".join(ests) + " |",
                  "|---" * (len(ests) + 1) + "|"]
        for d in cmp_energy["distributions"]:
            lines.append(f"| {d} | " + " | ".join(_fmt(cmp_energy["per_distribution"][e][d], digits=5) for e in ests) + " |")
        lines.append("")
    if floors:
        lines += ["## Evaluation floor against the smallest estimator error", "",
                  "W1 floor: mean truth-vs-truth W1; W1 - floor and energy: twice the standard error of the "
                  "estimate (both are 0 in expectation for a perfect estimate). ratio = floor / smallest mean error of an "
                  "estimator; target <= 1/3.", "",
                  "| distribution | n | W1 floor | smallest W1 (estimator) | ratio | W1 - floor: floor | smallest (estimator) | ratio "
                  "| energy floor | smallest energy (estimator) | ratio |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for f in floors:
            lines.append(f"| {f['distribution']} | {f['n']} | {_fmt(f['w1_floor'])} | {_fmt(f['w1_min'])} ({f['w1_min_estimator']}) "
                         f"| {_fmt(f['w1_ratio'], digits=2)} | {_fmt(f.get('w1_debiased_floor', math.nan))} | "
                         f"{_fmt(f.get('w1_debiased_min', math.nan))} ({f.get('w1_debiased_min_estimator') or '-'}) | "
                         f"{_fmt(f.get('w1_debiased_ratio', math.nan), digits=2)} | {_fmt(f['energy_floor'], digits=5)} | "
                         f"{_fmt(f['energy_min'], digits=5)} ({f['energy_min_estimator'] or '-'}) | {_fmt(f['energy_ratio'], digits=2)} |")
        lines.append("")
    lines += ["## Fitted slopes of W1 against n (log-log)", "",
              f"Theory: W1 rate max(n^-1/2, n^-(alpha+1)/(2 alpha+d)) with alpha = {ev.alpha}.", "",
              "Slope: of log mean W1 on log n; 95 % CI: of the slope fitted to every run (seed-to-seed "
              "spread included). Near the oracle floor the slope is biased towards 0.", "",
              "| distribution | d | estimator | noise | n range | slope | 95 % CI | theory |",
              "|---|---|---|---|---|---|---|---|"]
    for s in slopes:
        ci = f"[{s['slope_lo']:.2f}, {s['slope_hi']:.2f}]" if math.isfinite(s.get("slope_lo", float("nan"))) else "-"
        lines.append(f"| {s['distribution']} | {s['d']} | {s['estimator']} | {_noise_text(s['noise'])} | {s['n_min']}-{s['n_max']} "
                     f"| {s['slope']:.3f} | {ci} | {s['theory_slope']:.3f} |")
    for metric, ss in extra_slopes:
        if not ss:
            continue
        lines += ["", f"Slopes of {METRICS[metric]} against n" + (" (halved: the slope of the energy distance itself)"
                                                                    if metric == "energy" else ""), "",
                  "| distribution | d | estimator | noise | n range | slope | 95 % CI | theory (W1) |", "|---|---|---|---|---|---|---|---|"]
        for s in ss:
            ci = f"[{s['slope_lo']:.2f}, {s['slope_hi']:.2f}]" if math.isfinite(s.get("slope_lo", float("nan"))) else "-"
            lines.append(f"| {s['distribution']} | {s['d']} | {s['estimator']} | {_noise_text(s['noise'])} | "
                         f"{s['n_min']}-{s['n_max']} | {s['slope']:.3f} | {ci} | {s['theory_slope']:.3f} |")
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
              "| distribution | d | D | n | noise (used) | estimator | runs | W1 | oracle W1 (sd) | W1 - floor | energy | "
              "oracle energy | loglik | sigma | seconds |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        used = f" ({r['noise_used_mean']:.3g})" if isinstance(r["noise"], str) and math.isfinite(r["noise_used_mean"]) else ""
        lines.append(f"| {r['distribution']} | {r['d']} | {r['D']} | {r['n']} | {_noise_text(r['noise'])}{used} | {r['estimator']} | "
                     f"{r['runs']} | {_fmt(r['w1_mean'], r['w1_se'])} | {_fmt(r['oracle_w1_mean'])} ({_fmt(r['oracle_w1_sd'])}) | "
                     f"{_fmt(r['w1_debiased_mean'], r['w1_debiased_se'])} | {_fmt(r['energy_mean'], r['energy_se'], 5)} | "
                     f"{_fmt(r['oracle_energy_mean'], digits=5)} | "
                     f"{_fmt(r['loglik_mean'], r['loglik_se'], 3)} | {_fmt(r['sigma_mean'], digits=3)} | "
                     f"{_fmt(r['seconds_mean'], digits=1)} |")
    if bad:
        lines += ["", "## Failed cells", ""] + [f"- {r.get('key', '?')}: {r.get('error')}" for r in bad]
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(plt, dists: list[str]):
    """A figure with one panel per distribution, up to three a row."""
    cols = min(3, len(dists))
    rows_ = math.ceil(len(dists) / cols)
    return plt.subplots(rows_, cols, figsize=(4.2 * cols, 3.4 * rows_), squeeze=False)


def _save_panels(plt, fig, axes, n_used: int, path: Path) -> None:
    """Blank the unused panels, save the figure to ``path`` and close it."""
    for ax in list(axes.flat)[n_used:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: draws of a law for its empirical-measure line (the line's standard error is then below 0.5 % of it)
EMPIRICAL_LINE_DRAWS = 200_000


def empirical_energy_line(spec: dict, ns: list[int], directions: int = 0, draws: int = EMPIRICAL_LINE_DRAWS) -> list:
    """The empirical measure's exact expected squared energy distance to the law ``spec`` (a study's
    ``{"type": ..., **arguments}``) at each n: E||X - X'|| / n from ``draws`` draws of the law, over the
    sliced statistic's own ``directions`` when it has any; one
    :func:`~geomgen.metrics.empirical_energy_expectation` ``(value, se)`` per n."""
    import torch

    from geomgen.metrics import empirical_energy_expectation
    from geomgen.singular.manifolds import make_distribution

    args = dict(spec)
    law = make_distribution(args.pop("type"), **args)
    x = law.sample(draws, torch.Generator().manual_seed(20261205), dtype=torch.float64)
    return [empirical_energy_expectation(x, int(n), directions=directions) for n in ns]


def _panel_vs_n(ax, dist: str, summary, slope_of: dict, config, types: dict, noises, metric: str) -> None:
    """One distribution's panel of ``{metric}_vs_n.png``: the metric against n per estimator (the
    perturbed ones at their primary noise), the oracle floor and the theory's rate."""
    d = None
    for est, kind in types.items():
        s = primary_noise(summary, est, dist, noises) if kind == "perturbed_mle" else 0.0
        rs = sorted((r for r in summary if r["distribution"] == dist and r["estimator"] == est and r["noise"] == s),
                    key=lambda r: r["n"])
        if not rs:
            continue
        d = rs[0]["d"]
        sl = slope_of.get((dist, est, s))
        label = est + (f" (s={_noise_text(s)})" if kind == "perturbed_mle" else "") + (
            f", slope {sl['slope']:.2f}" + (" (of the distance)" if metric == "energy" else "") if sl else "")
        rs = [r for r in rs if math.isfinite(r.get(f"{metric}_mean", math.nan)) and r[f"{metric}_mean"] > 0]
        ns = [r["n"] for r in rs]
        ax.errorbar(ns, [r[f"{metric}_mean"] for r in rs], yerr=[0 if not math.isfinite(r[f"{metric}_se"]) else
                                                                 r[f"{metric}_se"] for r in rs],
                    marker="o", capsize=2, label=label)
    floor_of = {"w1": lambda r: r["oracle_w1_mean"], "energy": lambda r: 2 * r["oracle_energy_se_mean"]}.get(metric)
    oracle = sorted({(r["n"], floor_of(r)) for r in summary if r["distribution"] == dist}) if floor_of else []
    if oracle:
        ax.plot([o[0] for o in oracle], [o[1] for o in oracle], "k:", lw=1, label="oracle floor")
    ns_all = sorted({r["n"] for r in summary if r["distribution"] == dist})
    if metric == "energy" and ns_all and dist in config.distributions:  # the empirical measure's exact expectation
        line = empirical_energy_line(config.distributions[dist], ns_all, int(getattr(config.evaluation, "energy_directions", 0) or 0))
        ax.plot(ns_all, [v.value for v in line], color="grey", ls="--", lw=1, label="E||X-X'||/n (empirical, exact)")
    if d is not None and len(ns_all) > 1 and metric != "energy":  # the theory's rate is a W1 rate
        e = theory_exponent(int(d), config.evaluation.alpha)
        ref = [r[f"{metric}_mean"] for r in summary if r["distribution"] == dist and r["n"] == ns_all[0]
               and math.isfinite(r.get(f"{metric}_mean", math.nan)) and r[f"{metric}_mean"] > 0]
        y0 = max(ref) if ref else 1.0
        ax.plot(ns_all, [y0 * (n / ns_all[0]) ** e for n in ns_all], "k--", lw=1, label=f"theory slope {e:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if ns_all:  # label the sample sizes themselves, not log-scale minor ticks that overlap
        from matplotlib.ticker import NullFormatter

        ax.set_xticks(ns_all, [str(n) for n in ns_all])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(f"{dist} (d={d})")
    ax.set_xlabel("n")
    ax.set_ylabel(f"{METRICS[metric]} to the truth")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def _plot_vs_n(summary, slopes, config, types: dict, noises, dists: list[str], path: Path, metric: str = "w1") -> None:
    """``{metric}_vs_n.png`` at ``path``: one log-log panel per distribution (:func:`_panel_vs_n`)."""
    plt = _pyplot()
    slope_of = {(s["distribution"], s["estimator"], s["noise"]): s for s in slopes}
    fig, axes = _panels(plt, dists)
    for ax, dist in zip(axes.flat, dists):
        _panel_vs_n(ax, dist, summary, slope_of, config, types, noises, metric)
    _save_panels(plt, fig, axes, len(dists), path)


def _panel_vs_noise(ax, dist: str, summary, config, types: dict, colour: dict) -> None:
    """One distribution's panel of ``w1_vs_noise.png``: W1 against the instance noise at
    ``compare_n`` per perturbed estimator, the other estimators and the oracle floor as lines."""
    pert = [e for e, k in types.items() if k == "perturbed_mle"]
    n_cmp = int(config.evaluation.compare_n)
    ns = sorted({r["n"] for r in summary if r["distribution"] == dist and r["estimator"] in pert})
    n_plot = n_cmp if n_cmp in ns else (ns[-1] if ns else None)
    for est in pert:
        rs = sorted((r for r in summary if r["distribution"] == dist and r["estimator"] == est and r["n"] == n_plot
                     and not isinstance(r["noise"], str)), key=lambda r: r["noise"])
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


def _plot_vs_noise(summary, config, types: dict, dists: list[str], path: Path) -> None:
    """``w1_vs_noise.png`` at ``path``: one panel per distribution (:func:`_panel_vs_noise`)."""
    plt = _pyplot()
    colour = {e: f"C{i % 10}" for i, e in enumerate(types)}  # the same colours as in w1_vs_n.png
    fig, axes = _panels(plt, dists)
    for ax, dist in zip(axes.flat, dists):
        _panel_vs_noise(ax, dist, summary, config, types, colour)
    _save_panels(plt, fig, axes, len(dists), path)


def _plots(summary, slopes, config, outdir: Path, metric: str = "w1") -> None:
    """``{metric}_vs_n.png`` (:func:`_plot_vs_n`) and, for W1, ``w1_vs_noise.png`` (:func:`_plot_vs_noise`)."""
    _pyplot()
    types = {k: v["type"] for k, v in config.estimators.items()}
    noises = config.grids[0]["noise"]
    dists = list(dict.fromkeys(r["distribution"] for r in summary))
    if not dists:
        return
    _plot_vs_n(summary, slopes, config, types, noises, dists, outdir / f"{metric}_vs_n.png", metric)
    if metric == "w1":
        _plot_vs_noise(summary, config, types, dists, outdir / "w1_vs_noise.png")


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
    rows = sorted(rows, key=lambda r: (str(r.get("distribution")), int(r.get("n", 0)), _noise_order(noise_key(r.get("noise", 0))),
                                       str(r.get("estimator")), int(r.get("seed", 0))))
    _write_csv(outdir / "runs.csv", rows, RUN_COLUMNS)
    summary = summarize(rows)
    if summary:
        _write_csv(outdir / "summary.csv", summary)
    alpha = float(config.evaluation.alpha)
    slopes = fit_slopes(summary, alpha, rows)
    columns = ["distribution", "d", "estimator", "noise", "n_min", "n_max", "points", "slope", "slope_lo", "slope_hi",
               "theory_slope", "intercept"]
    _write_csv(outdir / "slopes.csv", slopes, columns)
    extra = [(m, fit_slopes(summary, alpha, rows, metric=m)) for m in ("w1_debiased", "energy")]
    extra = [(m, ss) for m, ss in extra if ss]
    if extra:
        _write_csv(outdir / "slopes_by_metric.csv", slopes + [s for _, ss in extra for s in ss], ["metric"] + columns)
    cmp = compare(summary, config, int(config.evaluation.compare_n))
    cmp_energy = compare(summary, config, int(config.evaluation.compare_n), metric="energy")
    sens = ambient_sensitivity(summary, config, rows)
    floors = floor_table(summary)
    if floors:
        _write_csv(outdir / "floors.csv", floors)
    (outdir / "summary.md").write_text(_markdown(summary, slopes, cmp, config, rows, sens, floors, extra, cmp_energy))
    _plots(summary, slopes, config, outdir)
    for m, ss in extra:
        _plots(summary, ss, config, outdir, metric=m)
    if sens:
        _plot_ambient(sens, config, outdir)
    return {"summary": summary, "slopes": slopes, "comparison": cmp, "ambient": sens, "floors": floors,
            "slopes_by_metric": dict([("w1", slopes), *extra]), "comparison_energy": cmp_energy}
