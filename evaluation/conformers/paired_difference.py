"""Paired differences between two methods of ``evaluate.py`` runs, molecule by molecule.

    python -m evaluation.conformers.paired_difference evaluation/conformers/assembly_iters0_seed1.json \\
        evaluation/conformers/assembly_iters0_seed2.json --base geomgen --other geomgen+assembly+mmff0 \\
        -o evaluation/conformers/assembly_iters0_paired.md

A split's means hide whether a small gap between two methods is more than the molecules' spread.
This reads the ``per molecule`` entries (torsion W1, COV-R@0.75, AMR-R, and in files written since
2026-12-05 also COV-P@0.75, AMR-P and the mean MMFF94 energy above the reference's, dE) of one or more
``evaluate.py`` JSON files (one per random seed, the same references), averages each molecule's
score over the files where both methods scored it, and reports per split the mean of ``other -
base`` over molecules with its standard error (molecules are the unit: a seed's draws of one
molecule are not independent of another seed's), a 95 % interval (Student t) and the number of
molecules on which ``other`` is better. A difference is *resolved* when the interval excludes 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

#: the per-molecule scores of ``evaluate.py`` (position in a ``per molecule`` entry, and whether lower is better)
METRICS = {"W1 torsions": (1, True), "COV-R@0.75": (2, False), "AMR-R": (3, True),
           "COV-P@0.75": (4, False), "AMR-P": (5, True), "dE": (6, True)}


def per_molecule(rows: list[dict], method: str) -> dict:
    """``{(split, molecule id): [W1, COV-R@0.75, AMR-R, ...]}`` of ``method`` in one file's rows (failed molecules left out)."""
    out = {}
    for r in rows:
        if r["method"] != method:
            continue
        for entry in r.get("per molecule", []):
            if entry[1] is not None:
                out[(r["split"], entry[0])] = entry[1:]
    return out


def paired(files_rows: list[list[dict]], base: str, other: str) -> list[dict]:
    """Per split and metric: molecules, mean of ``other - base`` (each molecule's difference
    averaged over the files that scored it with both methods), its standard error, the 95 %
    t interval and how many molecules ``other`` did better on; with several splits, a last
    split ``"all"`` pools their molecules."""
    from scipy import stats

    diffs: dict = {}
    for rows in files_rows:
        a, b = per_molecule(rows, base), per_molecule(rows, other)
        for key in a.keys() & b.keys():
            k = min(len(a[key]), len(b[key]))  # older files have the first three scores only
            diffs.setdefault(key, []).append(np.asarray(b[key][:k], dtype=float) - np.asarray(a[key][:k], dtype=float))
    width = min(len(x) for v in diffs.values() for x in v) if diffs else 0
    if not diffs:
        raise ValueError(f"no molecule scored by both {base!r} and {other!r} in the files")
    out = []
    splits = list(dict.fromkeys(k[0] for k in sorted(diffs)))
    for split in splits + (["all"] if len(splits) > 1 else []):
        d = np.array([np.mean([x[:width] for x in v], axis=0) for k, v in sorted(diffs.items())
                      if split in (k[0], "all")])  # [molecules, scores]
        m = len(d)
        for name, (col, lower_better) in METRICS.items():
            if col > width:
                continue
            x = d[:, col - 1]
            mean = float(x.mean())
            se = float(x.std(ddof=1) / np.sqrt(m)) if m > 1 else float("nan")
            half = float(stats.t.ppf(0.975, m - 1) * se) if m > 1 else float("nan")
            better = int((x < 0).sum() if lower_better else (x > 0).sum())
            out.append({"split": split, "metric": name, "molecules": m, "mean": mean, "se": se,
                        "low": mean - half, "high": mean + half, "other better": better,
                        "resolved": bool(m > 1 and (mean - half > 0 or mean + half < 0))})
    return out


def to_markdown(res: list[dict], base: str, other: str, files: list[str]) -> str:
    lines = [f"# Paired differences, {other} - {base}", "",
             "`python -m evaluation.conformers.paired_difference " + " ".join(files) + f" --base {base} --other {other}`: "
             "per molecule, averaged over the files (seeds) that scored it with both methods; mean over molecules, "
             "standard error, 95 % t interval; resolved when the interval excludes 0 (see the module docstring).", "",
             "| split | metric | molecules | mean difference | SE | 95 % interval | other better on | resolved |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res:
        lines.append(f"| {r['split']} | {r['metric']} | {r['molecules']} | {r['mean']:+.4f} | {r['se']:.4f} | "
                     f"[{r['low']:+.4f}, {r['high']:+.4f}] | {r['other better']} | {'yes' if r['resolved'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="evaluate.py JSON files (one per seed)")
    ap.add_argument("--base", required=True, help="the method subtracted")
    ap.add_argument("--other", required=True, help="the method compared with it")
    ap.add_argument("-o", "--output", default=None, help="markdown file (default: print only)")
    args = ap.parse_args(argv)
    files_rows = [json.loads(Path(f).read_text()) for f in args.files]
    text = to_markdown(paired(files_rows, args.base, args.other), args.base, args.other, args.files)
    print(text)
    if args.output:
        from geomgen.atomic import atomic_write_text

        atomic_write_text(args.output, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
