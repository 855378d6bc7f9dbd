r"""How much could torsion coupling gain? The reference's own joint samples against the product of its exact marginals.

VonMisesNet predicts one distribution per torsion and draws the torsions of a conformer
independently (then rejects clashes). Issue 28 proposes coupling torsions (autoregressive
conditioning or a pairwise term). Before building that, this script measures what perfect
coupling could gain at best, with no network in the way: for each converged reference it builds
three sets of ``n`` conformers on the reference's own seed, from samples disjoint from the ``n``
reference conformers they are scored against:

- **joint**: stored samples as they are (torsions, ring puckers, discrete states and mirror
  image together): what a generator with the exact joint law would give;
- **independent**: each torsion's angle from its own random sample, the discrete part (ring
  puckers, states, mirror flag) from another: the exact marginals drawn independently, as
  VonMisesNet draws them;
- **independent + clash check**: the same with the generator's clash check
  (:class:`~geomgen.conformers.clashes.ClashGuard`), failed conformers drawn again (at most
  ``--max-tries`` rounds), as the generator does.

Scores: COV-R@0.75 and AMR-R against the reference conformers (:func:`geomgen.metrics.coverage`),
the share of independent draws the clash check rejects, and the share of the joint set (samples
of the reference itself) that it would reject. The headroom of coupling is
``joint - independent + clash check`` (paired over molecules, mean +- standard error). A small
headroom says that coupling cannot move the RMSD metrics much and the gap to ETKDGv3+MMFF lies
elsewhere (the marginals, the seed geometry, the discrete states).

Command: ``python -m evaluation.conformers.coupling_headroom --splits val test drugs -n 50 --seed 0``
(writes ``coupling_headroom.md`` and ``.json`` beside this script).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
THRESHOLD = 0.75


def disjoint_indices(n_samples: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``n`` reference conformers (evenly spaced, as
    :meth:`~geomgen.conformers.reference.store.ReferenceMolecule.conformers` takes them) and the
    remaining samples, from which the compared sets are drawn."""
    if n_samples < 2 * n:
        raise ValueError(f"need at least {2 * n} samples for {n} reference and {n} compared conformers, got {n_samples}")
    ref = np.linspace(0, n_samples - 1, n).round().astype(int)
    rest = np.setdiff1d(np.arange(n_samples), ref)
    return ref, rest


def subset(ref, rows: np.ndarray, angles: np.ndarray | None = None):
    """``ref`` restricted to the samples ``rows`` (their discrete parts), with torsion angles
    ``angles`` ``[len(rows), T]`` instead of those rows' own when given."""
    def pick(a):
        return None if a is None else np.asarray(a)[rows]
    return dataclasses.replace(ref, angles=np.asarray(ref.angles)[rows] if angles is None else angles,
                               energies=np.asarray(ref.energies)[rows], ring_flipped=pick(ref.ring_flipped),
                               mirrored=pick(ref.mirrored), states=pick(ref.states))


def independent_draw(ref, pool: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` conformers with each torsion's angle from its own random sample of ``pool`` and the
    discrete part from another (the product of the exact marginals). Returns the molecule."""
    t = np.asarray(ref.angles).shape[1]
    cols = rng.choice(pool, size=(n, t))
    angles = np.asarray(ref.angles)[cols, np.arange(t)[None, :]]
    return subset(ref, rng.choice(pool, size=n), angles).conformers()


def clash_checked_draw(ref, pool: np.ndarray, n: int, rng: np.random.Generator, max_tries: int, guard) -> tuple[object, float, int]:
    """Independent draws kept when they pass the clash check, in rounds of ``n`` until ``n`` pass
    (or ``max_tries`` rounds: then the molecule is scored on what passed). Returns the molecule
    (or None when nothing passed), the share rejected and the conformers kept. ``guard``: the
    molecule's :class:`~geomgen.conformers.clashes.ClashGuard`."""
    from geomgen.conformers.mmff import with_conformers

    kept, drawn = [], 0
    for _ in range(max_tries):
        mol = independent_draw(ref, pool, n, rng)
        pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
        drawn += len(pos)
        kept.extend(pos[guard.ok(pos)])
        if len(kept) >= n:
            break
    rejected = 1.0 - len(kept) / drawn
    if not kept:
        return None, rejected, 0
    return with_conformers(ref.mol, np.stack(kept[:n])), rejected, min(len(kept), n)


def molecule_scores(ref, n: int, rng: np.random.Generator, max_tries: int = 10) -> dict:
    """COV-R@0.75 and AMR-R of the joint, independent and clash-checked sets of one reference."""
    from geomgen.conformers.clashes import ClashGuard
    from geomgen.metrics import coverage

    ref_rows, pool = disjoint_indices(len(ref.angles), n)
    reference = subset(ref, ref_rows).conformers()
    sets = {"joint": subset(ref, rng.choice(pool, size=n, replace=False)).conformers(),
            "independent": independent_draw(ref, pool, n, rng)}
    guard = ClashGuard(ref.mol)  # built once: the clash-checked draws and the joint set's share
    checked, rejected, kept = clash_checked_draw(ref, pool, n, rng, max_tries, guard)
    joint_pos = np.stack([c.GetPositions() for c in sets["joint"].GetConformers()])
    out = {"id": ref.id, "torsions": int(np.asarray(ref.angles).shape[1]), "clash_rejected": rejected, "clash_kept": kept,
           "joint_clash_share": float(1.0 - guard.ok(joint_pos).mean())}
    if checked is not None:
        sets["independent + clash check"] = checked
    for name, mol in sets.items():
        cov = coverage(reference, mol, (THRESHOLD,))
        out[name] = {"COV-R": cov["COV-R"][THRESHOLD], "AMR-R": cov["AMR-R"]}
    return out


SETS = ("joint", "independent", "independent + clash check")


def summarize(records: list[dict]) -> dict:
    """Means per set and the paired differences joint - other (mean, standard error), over the
    molecules every set scored."""
    from geomgen.grid import mean_se

    full = [r for r in records if all(s in r for s in SETS)]
    out = {"molecules": len(full)}
    for key in ("clash_rejected", "joint_clash_share"):
        out[key] = float(np.mean([r[key] for r in records])) if records else float("nan")
    for metric in ("COV-R", "AMR-R"):
        for s in SETS:
            out[f"{s} {metric}"] = float(np.mean([r[s][metric] for r in full])) if full else float("nan")
        for s in SETS[1:]:
            diffs = [r["joint"][metric] - r[s][metric] for r in full]
            out[f"joint - {s} {metric}"] = mean_se(diffs) if len(diffs) > 1 else (float("nan"), float("nan"))
    return out


def to_markdown(summary: dict, args, seconds: float) -> str:
    lines = ["# Headroom of torsion coupling: the joint reference law against the product of its marginals", "",
             f"`python -m evaluation.conformers.coupling_headroom --splits {' '.join(args.splits)} -n {args.n} --seed {args.seed}"
             + (" --verified-only" if args.verified_only else "") + (f" --max-molecules {args.max_molecules}" if args.max_molecules else "")
             + f"` ({seconds:.0f} s). See the module docstring for the three sets. Every set: {args.n} conformers on the"
             f" reference's seed from samples disjoint from the {args.n} reference conformers they are scored against;"
             " COV-R at 0.75 A, AMR-R in A; headroom = joint minus the other set, paired over molecules, mean +- standard error.", "",
             "| split | molecules | COV-R joint | COV-R independent | COV-R independent + clash check | AMR-R joint | AMR-R independent |"
             " AMR-R independent + clash check | clash-rejected share (independent) | clash share of the joint set |"
             " headroom COV-R (vs clash-checked) | headroom AMR-R (vs clash-checked) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for split, s in summary.items():
        hc = s["joint - independent + clash check COV-R"]
        ha = s["joint - independent + clash check AMR-R"]
        lines.append(f"| {split} | {s['molecules']} | {s['joint COV-R']:.3f} | {s['independent COV-R']:.3f} | "
                     f"{s['independent + clash check COV-R']:.3f} | {s['joint AMR-R']:.3f} | {s['independent AMR-R']:.3f} | "
                     f"{s['independent + clash check AMR-R']:.3f} | {s['clash_rejected']:.3f} | {s['joint_clash_share']:.3f} | {hc[0]:+.3f} +- {hc[1]:.3f} | "
                     f"{ha[0]:+.3f} +- {ha[1]:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs"])
    ap.add_argument("-n", type=int, default=50, help="conformers per set (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-molecules", type=int, default=None, help="per split")
    ap.add_argument("--max-tries", type=int, default=10, help="rounds of clash-checked draws (default 10)")
    ap.add_argument("--verified-only", action="store_true", help="only references an independent rerun confirmed")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "coupling_headroom.md")
    args = ap.parse_args(argv)

    from geomgen.atomic import atomic_write_text
    from geomgen.conformers.reference.store import load_reference_set

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    records, summary = {}, {}
    for split in args.splits:
        every = load_reference_set(split)
        if args.verified_only:
            from evaluation.conformers.evaluate import verified_references

            refs = verified_references(split, every)
        else:
            refs = [r for r in every if r.converged]
        refs = [r for r in refs if len(r.angles) >= 2 * args.n and np.asarray(r.angles).shape[1] > 0][: args.max_molecules]
        records[split] = [molecule_scores(r, args.n, rng, args.max_tries) for r in refs]
        summary[split] = summarize(records[split])
        print(split, json.dumps(summary[split]), flush=True)
    seconds = time.perf_counter() - t0
    atomic_write_text(args.out, to_markdown(summary, args, seconds))
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                                "summary": summary, "molecules": records}, indent=1))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
