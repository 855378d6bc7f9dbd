"""How much of the empirical measure's W1 at 2,000 points is the evaluation's own resampling.

    python -m evaluation.singular.w1_resampling                      # 20 repeats, S^2 and S^4, n = 4000, m = 2000
    python -m evaluation.singular.w1_resampling --repeats 5 --out /tmp/w1r

The studies score every estimator by exact W1 between m = 2,000 of its samples and m fresh truth
samples (:func:`geomgen.singular.studies.run_cell`). A fitted model draws fresh points; the
``empirical`` estimator draws m points *with replacement* from its n training points
(:class:`geomgen.singular.kde.EmpiricalMeasure`), so it pays two sampling errors (the training
sample's and the resample's, with its ties) where a perfect model pays one. This script measures
that handicap on the studies' own laws, with no model at all: per repeat r, one training sample
X_n of the law, one truth sample T_m, and

* ``fresh`` -- W1(P'_m, T_m), P'_m a fresh truth sample: what a *perfect* estimate scores (the
  studies' ``oracle_w1`` floor);
* ``resample`` -- W1(X_n resampled m times with replacement, T_m): what ``empirical`` scores;
* ``subset`` -- W1(m of the n points without replacement, T_m): an i.i.d. truth sample, so the same
  law as ``fresh`` (a check of the script; NaN where m > n);
* ``atoms`` -- W1(X_n with weights 1/n, T_m): the empirical measure itself, all n atoms.

and reports each minus ``fresh``, paired by repeat (mean, standard error, 95 % t interval). Next to
it the studies' own excess over the floor at n = 4,000 (``w1 - oracle_w1``, ten seeds) for the
empirical measure and the perturbed estimator, read from ``rates_x4_confirm/runs.csv`` (S^2) and
``rates_x8_confirm/runs.csv`` (S^4). If ``resample - fresh`` matches the studies' empirical excess,
the empirical measure's W1 deficit is the evaluation's resampling and not a property of the
measure, and W1 at m points cannot say whether a model beats the sample it was fitted to.

Writes ``OUT/w1_resampling.md`` and ``.json`` (atomically).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: the studies' laws at their largest n, and the study whose ten seeds measured each
LAWS = {
    "sphere_d2": ({"type": "sphere", "dim": 2, "kappa": 2.0, "ambient_dim": 3}, "rates_x4_confirm", "perturbed_mle_x4"),
    "sphere_d4": ({"type": "sphere", "dim": 4, "kappa": 2.0, "ambient_dim": 5}, "rates_x8_confirm", "perturbed_mle_x8"),
}

VARIANTS = ("resample", "subset", "atoms")


def one_repeat(spec: dict, n: int, m: int, seed: int) -> dict:
    """W1 of ``fresh``, ``resample``, ``subset`` and ``atoms`` (module docstring) against one truth sample."""
    import torch

    from geomgen.metrics import wasserstein
    from geomgen.singular.manifolds import make_distribution

    law = make_distribution(spec["type"], **{k: v for k, v in spec.items() if k != "type"})
    g = torch.Generator().manual_seed(seed)
    x = law.sample(n, g, dtype=torch.float64)
    truth = law.sample(m, g, dtype=torch.float64)
    fresh = law.sample(m, g, dtype=torch.float64)
    boot = x[torch.randint(n, (m,), generator=g)]
    subset = x[torch.randperm(n, generator=g)[:m]] if m <= n else None
    return {"fresh": wasserstein(fresh, truth), "resample": wasserstein(boot, truth),
            "subset": wasserstein(subset, truth) if subset is not None else float("nan"),
            "atoms": wasserstein(x, truth)}  # all n atoms, uniform weights


def study_excess(study_dir: Path, n: int, estimators: tuple[str, ...]) -> dict:
    """Per estimator of a finished study: its ``w1 - oracle_w1`` at n over seeds, ``(mean, se, low, high, seeds)``."""
    from geomgen.grid import mean_t_interval

    path = study_dir / "runs.csv"
    if not path.is_file():
        return {}
    out = {}
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok" and int(r["n"]) == n]
    for est in estimators:
        vals = [float(r["w1"]) - float(r["oracle_w1"]) for r in rows if r["estimator"] == est]
        if len(vals) > 1:
            out[est] = (*mean_t_interval(vals), len(vals))
    return out


def measure(laws: dict, n: int, m: int, repeats: int, seed: int, progress: bool = True) -> dict:
    """Every law's repeats (:func:`one_repeat`) and each variant minus ``fresh``, paired by repeat."""
    from tqdm import tqdm

    from geomgen.grid import mean_t_interval

    result = {}
    for name, (spec, study, perturbed) in laws.items():
        reps = [one_repeat(spec, n, m, seed + 1000 * r) for r in tqdm(range(repeats), desc=name, disable=not progress)]
        diffs = {v: mean_t_interval(d) for v in VARIANTS
                 if all(map(math.isfinite, d := [r[v] - r["fresh"] for r in reps]))}  # no subset where m > n
        result[name] = {"spec": spec, "repeats": reps, "fresh": mean_t_interval([r["fresh"] for r in reps]),
                        "minus_fresh": diffs,
                        "study": study, "study_excess": study_excess(HERE / study, n, ("empirical", perturbed))}
    return result


def _pm(t, digits=4) -> str:
    if t is None:
        return "-"
    mean, se, lo, hi = t[:4]
    return f"{mean:+.{digits}f} +- {se:.{digits}f} ({lo:+.{digits}f} to {hi:+.{digits}f})"


def markdown(result: dict, n: int, m: int, repeats: int, command: str) -> str:
    lines = [f"# W1 at {m} points: the empirical measure's resampling handicap", "",
             f"`{command}`", "",
             f"Per law: {repeats} repeats, each a training sample of n = {n}, one truth sample of m = {m} and a fresh",
             "one; exact W1 (POT). Each variant minus `fresh` (a perfect estimate's score), paired by repeat: mean +-",
             "standard error (95 % t interval). Then the studies' own W1 excess over their floor at the same n and m",
             "(ten seeds, `w1 - oracle_w1`).", "",
             "| law | fresh (floor) | resample - fresh | subset - fresh | atoms - fresh |",
             "|---|---|---|---|---|"]
    for name, r in result.items():
        d = r["minus_fresh"]
        lines.append(f"| {name} | {r['fresh'][0]:.4f} | {_pm(d['resample'])} | {_pm(d.get('subset'))} | {_pm(d['atoms'])} |")
    lines += ["", "| law | study | estimator | W1 - floor in the study | seeds |", "|---|---|---|---|---|"]
    for name, r in result.items():
        for est, t in r["study_excess"].items():
            lines.append(f"| {name} | {r['study']} | {est} | {_pm(t)} | {t[4]} |")
    lines += ["", "`resample` is how the studies score `empirical`; `subset` is an i.i.d. truth sample (it should",
              "match `fresh`); `atoms` is the empirical measure itself. Where the studies' empirical excess lies",
              "inside the `resample - fresh` interval, the empirical measure's W1 deficit at this m is the evaluation's",
              "resampling, and a model's W1 lead over it does not show that the model beats the sample.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000, help="training sample size (default 4000, the studies' largest n)")
    p.add_argument("--m", type=int, default=2000, help="W1 sample size (default 2000, the studies' num_points)")
    p.add_argument("--repeats", type=int, default=20, help="independent repeats per law (default 20)")
    p.add_argument("--seed", type=int, default=0, help="first seed; repeat r uses seed + 1000 r (default 0)")
    p.add_argument("--laws", nargs="+", default=list(LAWS), choices=list(LAWS), help="laws (default both)")
    p.add_argument("--out", type=Path, default=HERE / "w1_resampling", help="output folder")
    args = p.parse_args(argv)
    if args.repeats < 2:
        p.error(f"--repeats must be at least 2, got {args.repeats}")
    from geomgen.atomic import atomic_write_text

    result = measure({k: LAWS[k] for k in args.laws}, args.n, args.m, args.repeats, args.seed)
    command = "python -m evaluation.singular.w1_resampling " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result, args.n, args.m, args.repeats, command.strip())
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "w1_resampling.md", text)
    atomic_write_text(args.out / "w1_resampling.json", json.dumps(
        {"n": args.n, "m": args.m, "repeats": args.repeats, "seed": args.seed, "laws": result}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
