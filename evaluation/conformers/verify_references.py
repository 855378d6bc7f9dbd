"""Does a rerun of the sampler confirm the references' "converged" label?

    python -m evaluation.conformers.verify_references --splits val test drugs --sample 30 --seed 1 --jobs 2 \\
        -o evaluation/conformers/verify_references.md

From the molecules of ``data/conformers/reference_<split>.npz`` (or ``--reference`` files) that
the convergence rule labels converged (``store.is_converged``) and that were built with the
current sampler version, a seeded random sample (``--sample`` molecules in all, or per split
with ``--per-split``) is sampled again with ``build.sample_molecule``: the stored settings with at
least the original CPU budget (``--budget-factor``, default 1), the seed ``stored seed + 1000 +
--seed``, the seed geometry embedded afresh with that seed and the chains started
over-dispersed, so start, seed geometry and random stream are all independent of the stored
run. Each stored ensemble is compared with its rerun by
``geomgen.conformers.reference.verification.compare``: every torsion's W1 within max(0.1 rad,
2 x the rerun's inter-half W1), every discrete state's population within 0.05; molecules whose
mirror image is the same stereoisomer are compared mirror-averaged (``verification.mirror_average``,
the exact Rao-Blackwellisation of the sampler's mirror coin). The label is trustworthy when at
least 90 % of at least 30 molecules agree.

What that bar can ask of a sampler depends on the effective sizes: next to each molecule, the
probability that two *exact* samplers at the two runs' effective sizes agree by the same rule
(``verification.exact_agreement``), and in the summary their sum (the count an exact sampler would
reach), its 90 % range and the probability that an exact sampler scores at most the observed count;
``--ess-factors`` asks the same at larger effective sizes (default 1 and 4).

Writes a markdown table (``-o``) and the same stem ``.json`` (a ``molecules`` list with a boolean
``agrees`` per molecule, and a ``summary``). Reruns are cached in ``--work`` (default
runs/verify/<split>/<id>.npz for ``--seed 1``, ``<split>-seed<K>/`` for another seed K), so a killed
run continues where it stopped.

Where stored and rerun disagree, two causes look alike: a stored ensemble from an older or
faulty sampler, or a convergence rule too loose for any run to reproduce. ``--against-seed K``
tells them apart: every molecule is also rerun with seed ``stored seed + 1000 + K`` (cached in
``<work>/<split>-seed<K>/``, or ``<work>/<split>/`` for K = 1) and the two reruns are compared by the same rule (``reruns_agree``),
so the current sampler and rule are judged against themselves. ``--ids-from PREVIOUS.json``
reruns the molecules of an earlier verification instead of drawing (whatever their sampler
version), so two runs of the check can be set side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.atomic import atomic_write_text  # noqa: E402
from geomgen.conformers.reference import verification as V  # noqa: E402
from geomgen.conformers.reference.build import SAMPLER_VERSION  # noqa: E402
from geomgen.conformers.reference.store import is_converged, load_reference_set  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def split_name(path: Path) -> str:
    """``reference_val.npz`` -> ``val``; any other file: its stem."""
    return path.stem.removeprefix("reference_")


def candidates(refs, any_version: bool = False, all_labels: bool = False, min_revision: int = 0,
               skip_outdated: bool = False) -> tuple[list, dict]:
    """The molecules to draw from (labelled converged, current sampler version, revision at least
    ``min_revision``; with ``skip_outdated``, none that
    :func:`~geomgen.conformers.reference.build.outdated_by` flags, whose rebuild is pending and
    which no report counts as verified) and the counts."""
    from geomgen.conformers.reference.build import outdated_by

    conv = [r for r in refs if all_labels or is_converged(r.diagnostics)]
    cur = [r for r in conv if any_version or r.diagnostics.get("sampler_version") == SAMPLER_VERSION]
    cur = [r for r in cur if r.diagnostics.get("sampler_revision", 0) >= min_revision]
    if skip_outdated:
        cur = [r for r in cur if outdated_by(r) is None]
    counts = {"molecules": len(refs), "converged": sum(is_converged(r.diagnostics) for r in refs),
              f"converged_sampler_v{SAMPLER_VERSION}": sum(is_converged(r.diagnostics) and r.diagnostics.get("sampler_version") == SAMPLER_VERSION
                                                          for r in refs),
              "eligible": len(cur)}
    return sorted(cur, key=lambda r: r.id), counts


def draw(pools: dict[str, list], sample: int, seed: int, per_split: bool = False) -> list[tuple[str, object]]:
    """A seeded random sample of ``(split, reference)``: ``sample`` in all (from the pooled
    candidates) or ``sample`` per split, in split then id order."""
    rng = np.random.default_rng(seed)
    if per_split:
        out = []
        for split, refs in pools.items():
            pick = rng.choice(len(refs), size=min(sample, len(refs)), replace=False) if refs else []
            out += [(split, refs[i]) for i in sorted(pick)]
        return out
    pooled = [(split, r) for split, refs in pools.items() for r in refs]
    pick = rng.choice(len(pooled), size=min(sample, len(pooled)), replace=False) if pooled else []
    return [pooled[i] for i in sorted(pick)]


def molecule_record(split: str, ref, rec: dict, ess_factors=(1.0,)) -> dict:
    """One molecule's JSON record: the comparison, the rerun's seed, label and cost, and the
    probability that two exact samplers at the two runs' effective sizes (times each of
    ``ess_factors``) agree (``exact_agreement``, keyed by the factor)."""
    base = {"split": split, "id": ref.id, "smiles": ref.smiles, "n_torsions": int(len(ref.torsion_atoms)),
            "stored_seed": ref.diagnostics.get("seed"), "rerun_seed": rec["seed"],
            "stored_cpu_seconds": ref.diagnostics.get("cpu_seconds"), "rerun_config": rec["config"]}
    if not rec["ok"]:
        return {**base, "error": rec["error"], "rerun_converged": None, "agrees": False}
    rerun = V.ensemble_from_result(rec)
    cmp = V.compare(ref, rerun, noise=True)
    exact = {f"{f:g}": V.exact_agreement(ref, rerun, ess_factor=f)["probability"] for f in ess_factors}
    d = rec["diagnostics"]
    return {**base, "error": None, "rerun_converged": bool(is_converged(d)), "rerun_cpu_seconds": d.get("cpu_seconds"),
            "rerun_sweeps": d.get("sweeps_per_chain"), **cmp, "exact_agreement": exact,
            "energy": energy_record(ref.energies, rec["arrays"]["energies"]), "basins": basin_record(ref.diagnostics, d)}


def basin_record(stored: dict, rerun: dict) -> dict:
    """The lowest minimum each run's lowest-energy samples relax into (diagnostics ``basin_sample_min``,
    revision 9) and how far the stored one lies above the rerun's (``basin_below``): what the raw
    lowest energies say, without their thermal noise; empty unless both runs recorded it."""
    a, b = stored.get("basin_sample_min"), rerun.get("basin_sample_min")
    if a is None or b is None:
        return {}
    return {"stored_sample_min": a, "rerun_sample_min": b, "basin_below": a - b}


def energy_record(stored, rerun) -> dict:
    """Mean and lowest MMFF94 energy (kcal/mol) of the two ensembles: a rerun whose lowest energy is
    well below every stored sample found a basin the stored run never visited, whatever the torsion
    rule says (``rerun_min_below``: stored minimum minus the rerun's)."""
    a, b = np.asarray(stored, dtype=np.float64), np.asarray(rerun, dtype=np.float64)
    if not (len(a) and len(b)):
        return {}
    return {"stored_mean": float(a.mean()), "rerun_mean": float(b.mean()), "stored_min": float(a.min()), "rerun_min": float(b.min()),
            "rerun_min_below": float(a.min() - b.min())}


def picked_from(path: Path, refs_by_split: dict[str, dict]) -> list[tuple[str, object]]:
    """The ``(split, reference)`` of the molecules of an earlier verification's JSON, in its
    order; names a molecule that the reference files no longer hold."""
    previous = json.loads(Path(path).read_text())
    out = []
    for m in previous.get("molecules", []):
        ref = refs_by_split.get(m["split"], {}).get(m["id"])
        if ref is None:
            raise SystemExit(f"--ids-from {path}: {m['split']} {m['id']} is not in the reference files")
        out.append((m["split"], ref))
    if not out:
        raise SystemExit(f"--ids-from {path}: it lists no molecules")
    return out


def _reports(paths) -> list[dict]:
    """The parsed verification reports at ``paths``."""
    return [json.loads(Path(p).read_text()) for p in paths]


def unjudged(pools: dict[str, list], refs_by_split: dict[str, dict], report_paths) -> dict[str, list]:
    """``pools`` without the molecules that a report in ``report_paths`` judged in the ensemble
    stored now (:func:`~geomgen.conformers.reference.verification.rerun_votes`: a molecule
    rebuilt since its rerun counts as not judged)."""
    judged = V.rerun_votes(_reports(report_paths), refs_by_split)  # the votes alone: no outdated check needed here
    return {split: [r for r in refs if (split, r.id) not in judged] for split, refs in pools.items()}


def tied(pools: dict[str, list], refs_by_split: dict[str, dict], report_paths) -> dict[str, list]:
    """``pools`` restricted to the molecules whose reruns in ``report_paths`` split evenly
    (:func:`~geomgen.conformers.reference.verification.tied_ids`): a rerun with an unused seed
    decides whether they count as verified."""
    ids = V.tied_ids(_reports(report_paths), refs_by_split)
    return {split: [r for r in refs if r.id in ids.get(split, set())] for split, refs in pools.items()}


def seed_folder(split: str, k: int) -> str:
    """The cache folder of the reruns with seed ``stored seed + 1000 + k``: ``<split>`` for the default
    ``k = 1``, ``<split>-seed<k>`` otherwise, so that runs of the check with other seeds never overwrite
    one another's reruns (a ``--seed 2`` run used to replace the ``--seed 1`` reruns in ``<split>``)."""
    return split if k == 1 else f"{split}-seed{k}"


def run(tasks, work: Path, executor: Executor, progress: bool = True) -> dict:
    """Rerun every ``(split, ref, seed, config[, folder])`` not cached in ``work / folder``
    (default folder: the split); return the records by ``(folder, id)``."""
    from tqdm import tqdm

    done, futs = {}, {}
    for split, ref, seed, cfg, *folder in tasks:
        where = folder[0] if folder else split
        rec = V.cached_rerun(work / where, ref.id, seed, cfg)
        if rec is not None:
            done[where, ref.id] = rec
        else:
            futs[executor.submit(V.rerun, ref.id, ref.mol, cfg, seed)] = (where, ref.id)
    bar = tqdm(total=len(tasks), initial=len(done), disable=not progress, desc="reruns")
    for fut in as_completed(futs):
        where, mol_id = futs[fut]
        rec = fut.result()
        V.write_rerun(work / where, rec)
        done[where, mol_id] = rec
        bar.update()
    bar.close()
    return done


def pair_record(first: dict, second: dict) -> dict:
    """Two reruns of one molecule compared by the same rule (the second's inter-half W1 sets the
    thresholds): ``reruns_agree`` (None when either failed), the worst torsion and state."""
    if not (first["ok"] and second["ok"]):
        return {"second_seed": second["seed"], "reruns_agree": None, "reruns_agree_within_noise": None, "pair_worst_w1": None, "pair_worst_threshold": None,
                "pair_worst_state_difference": None, "second_converged": None}
    cmp = V.compare(V.ensemble_from_result(first), V.ensemble_from_result(second), noise=True)
    return {"second_seed": second["seed"], "reruns_agree": bool(cmp["agrees"]),
            "reruns_agree_within_noise": bool(cmp["agrees_within_noise"]), "pair_worst_w1": cmp["worst_w1"],
            "pair_worst_threshold": cmp["worst_threshold"], "pair_worst_state_difference": cmp["worst_state_difference"],
            "second_converged": bool(is_converged(second["diagnostics"])), "pair_torsions": cmp["torsions"]}


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def markdown(result: dict) -> str:
    s, a = result["summary"], result["settings"]
    lines = [
        "# Verification of the reference convergence label",
        "",
        f"Command: `{a['command']}`",
        "",
        f"Each molecule was sampled again from fresh over-dispersed starts and its own seed geometry (seed = stored seed + "
        f"{V.SEED_OFFSET} + {a['seed']}), with the stored sampler settings and {a['budget_factor']:g} x the stored CPU budget. "
        f"A torsion agrees when W1(stored, rerun) <= max({V.W1_FLOOR}, {V.W1_FACTOR:g} x the rerun's inter-half W1) "
        f"(radians, modulo symmetry; mirror-averaged where both runs sampled mirror images, `verification.mirror_average`); "
        f"a discrete state when its populations differ by at most {V.STATE_TOLERANCE}. "
        f"The label is trustworthy when at least {V.MIN_SHARE:.0%} of at least {V.MIN_MOLECULES} molecules agree.",
        "",
    ]
    if a["budget_factor"] < 1:
        lines += [f"**Budget factor {a['budget_factor']:g} < 1: a smoke test, not a check of the label.**", ""]
    if a.get("ids_from"):
        lines += [f"**Molecules of an earlier verification (`{a['ids_from']}`), whatever their sampler version; not a fresh draw.**", ""]
    elif a["any_version"] or a["all_labels"]:
        lines += [f"**Drawn from {'every label' if a['all_labels'] else 'converged molecules'} of "
                  f"{'any sampler version' if a['any_version'] else f'sampler version {SAMPLER_VERSION}'}: not the check the rule defines.**", ""]
    if a.get("skip_outdated") and not a.get("ids_from"):
        lines += ["Drawn from the converged references that are not outdated (`--skip-outdated`: none whose rebuild "
                  "at the current revision is pending).", ""]
    if a.get("unjudged") and not a.get("ids_from"):
        lines += ["**Drawn only from molecules that no earlier report judged (`--unjudged`): the reruns that add verified "
                  "references, not a random draw from every converged molecule.**", ""]
    if a.get("ties") and not a.get("ids_from"):
        lines += ["**Drawn only from molecules whose earlier reruns split evenly (`--ties`): the reruns that decide them, "
                  "not a random draw from every converged molecule.**", ""]
    lines += [f"| split | molecules | labelled converged | of them sampler v{SAMPLER_VERSION} | drawn | agree | share | rerun converged |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for split, c in s["splits"].items():
        lines.append(f"| {split} | {c['molecules']} | {c['converged']} | {c[f'converged_sampler_v{SAMPLER_VERSION}']} | {c['drawn']} | "
                     f"{c['agree']} | {_fmt(c['share'], '.0%')} | {c['rerun_converged']} |")
    o = s["overall"]
    lines += [f"| all | | | | {o['molecules']} | {o['agree']} | {_fmt(o['share'], '.0%')} | {o['rerun_converged']} |", "",
              f"**Overall: {o['agree']} of {o['molecules']} agree ({_fmt(o['share'], '.0%')}): the label is "
              f"{'trustworthy' if o['trustworthy'] else 'not shown trustworthy'} (needs >= {V.MIN_SHARE:.0%} of >= {V.MIN_MOLECULES}).**", ""]
    wn = s.get("within_noise")
    if wn:
        lines += [f"**Within sampling noise:** {wn['agree']} of {wn['molecules']} agree when each torsion may also differ by "
                  f"the {V.NOISE_QUANTILE:.0%} quantile of W1 between two independent samples of the two ensembles' effective "
                  "sizes (`verification.noise_w1`): what the rule's 0.1 rad demands beyond the precision that ESS buys. "
                  "A diagnostic, not the rule.", ""]
    ex = s.get("exact")
    if ex:
        one = ex.get("1")
        if one:
            lines += [f"**What an exact sampler would score** (`verification.exact_agreement`: two exact runs at these effective "
                      f"sizes, bootstrapped from the pooled ensembles, judged by the same rule): {one['expected']:.1f} of "
                      f"{one['molecules']} expected to agree ({one['expected'] / one['molecules']:.0%}; 90 % range "
                      f"{one['low']}-{one['high']}); the probability that an exact sampler scores at most the observed "
                      f"{o['agree']} is {one['p_at_most_observed']:.3f}.", ""]
        for f, e in ex.items():
            if f != "1":
                lines += [f"At {f} x these effective sizes (and {f} x the stored samples) an exact sampler would score "
                          f"{e['expected']:.1f} of {e['molecules']} ({e['expected'] / e['molecules']:.0%}; 90 % range {e['low']}-{e['high']}).", ""]
    pairs = a.get("against_seed") is not None
    if pairs:
        p = s["pairs"]
        lines += [f"**Rerun against rerun** (second seed = stored seed + {V.SEED_OFFSET} + {a['against_seed']}, same rule): "
                  f"{p['agree']} of {p['molecules']} agree ({_fmt(p['share'], '.0%')}); of the molecules whose stored ensemble "
                  f"disagrees with the first rerun, the two reruns agree in {p['agree_where_stored_disagrees']} of "
                  f"{p['stored_disagrees']}; within sampling noise the two reruns agree in {p['agree_within_noise']} of "
                  f"{p['molecules']}.", ""]
    factors = list(ex) if ex else []
    head = ("| split | id | SMILES | torsions | worst W1 / threshold | worst state diff. | rerun converged | agrees | within noise |"
            + "".join(f" P(exact agrees), {f} x ESS |" for f in factors)
            + " mean energy stored / rerun | lowest: stored - rerun | lowest basin: stored - rerun |")
    rule = "|---|---|---|---:|---|---:|---|---|---|" + "---:|" * len(factors) + "---|---:|---:|"
    if pairs:
        head += " reruns: worst W1 / threshold | reruns agree |"
        rule += "---|---|"
    lines += ["Energies (MMFF94, kcal/mol): the mean of each ensemble, and how far the lowest stored sample lies above the "
              "lowest rerun sample; a rerun far below the stored minimum found a basin the stored run never visited. The "
              "lowest basin (revision 9 on): the lowest minimum that each run's lowest-energy samples relax into "
              "(`geomgen.conformers.reference.basins`), the same comparison without the thermal noise of single samples.", "",
              head, rule]
    for m in result["molecules"]:
        if m.get("error"):
            worst, state, why = "-", "-", f"rerun failed: {m['error']}"
        elif m.get("mismatch"):
            worst, state, why = "-", "-", f"mismatch: {m['mismatch']}"
        else:
            worst = "-" if m["worst_w1"] is None else f"{m['worst_w1']:.3f} / {m['worst_threshold']:.3f}"
            missing = [st["name"] for st in m["states"] if st["difference"] is None]
            state = f"missing: {', '.join(missing)}" if missing else _fmt(m["worst_state_difference"])
            why = "yes" if m["agrees"] else "**no**"
        conv = "-" if m["rerun_converged"] is None else ("yes" if m["rerun_converged"] else "no")
        nz = m.get("agrees_within_noise")
        row = (f"| {m['split']} | {m['id']} | `{m['smiles']}` | {m['n_torsions']} | {worst} | {state} | {conv} | {why} | "
               f"{'-' if nz is None else ('yes' if nz else 'no')} |"
               + "".join(f" {_fmt((m.get('exact_agreement') or {}).get(f), '.2f')} |" for f in factors))
        en = m.get("energy") or {}
        row += (f" {en['stored_mean']:.2f} / {en['rerun_mean']:.2f} | {en['rerun_min_below']:.2f} |" if en else " - | - |")
        bs = m.get("basins") or {}
        row += f" {bs['basin_below']:.2f} |" if bs else " - |"
        if pairs:
            pw = "-" if m.get("pair_worst_w1") is None else f"{m['pair_worst_w1']:.3f} / {m['pair_worst_threshold']:.3f}"
            ra = m.get("reruns_agree")
            row += f" {pw} | {'-' if ra is None else ('yes' if ra else '**no**')} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def summary(molecules: list[dict], counts: dict) -> dict:
    def block(ms):
        out = V.summarize([m["agrees"] for m in ms])
        out["rerun_converged"] = sum(bool(m["rerun_converged"]) for m in ms)
        out["failed_reruns"] = sum(bool(m.get("error")) for m in ms)
        out["mismatches"] = sum(bool(m.get("mismatch")) for m in ms)
        return out

    splits = {}
    for split, c in counts.items():
        ms = [m for m in molecules if m["split"] == split]
        b = block(ms)
        splits[split] = {**c, "drawn": b.pop("molecules"), **b}
    out = {"splits": splits, "overall": block(molecules)}
    out["within_noise"] = V.summarize([bool(m.get("agrees_within_noise")) for m in molecules])
    out["exact"] = exact_summary(molecules)
    if any("reruns_agree" in m for m in molecules):
        pairs = V.summarize([bool(m.get("reruns_agree")) for m in molecules])
        worse = [m for m in molecules if not m["agrees"]]
        pairs["stored_disagrees"] = len(worse)
        pairs["agree_where_stored_disagrees"] = sum(bool(m.get("reruns_agree")) for m in worse)
        pairs["agree_within_noise"] = sum(bool(m.get("reruns_agree_within_noise")) for m in molecules)
        out["pairs"] = pairs
    return out


def exact_summary(molecules: list[dict]) -> dict:
    """Per ESS factor: the agreement count an exact sampler would reach on these molecules (a
    failed or mismatched rerun counts as a certain disagreement, as it does in the rule), its
    90 % range and, at factor 1, the probability of scoring at most the observed count."""
    factors = {f for m in molecules for f in (m.get("exact_agreement") or {})}
    out = {}
    for f in sorted(factors, key=float):
        ps = [(m.get("exact_agreement") or {}).get(f) or 0.0 for m in molecules]
        lo, hi = V.count_interval(ps)
        law = V.count_distribution(ps)
        observed = sum(bool(m["agrees"]) for m in molecules)
        out[f] = {"molecules": len(ps), "expected": float(sum(ps)), "low": lo, "high": hi,
                  "p_at_most_observed": float(law[: observed + 1].sum())}
    return out


def make_executor(jobs: int, dask: str | None):
    """A process pool of ``jobs``, or the executor of a Dask scheduler at ``dask``; and how to close it."""
    if dask:
        from distributed import Client

        client = Client(dask)
        ex = client.get_executor()
        return ex, lambda: (ex.shutdown(), client.close())
    ex = ProcessPoolExecutor(max_workers=jobs)
    return ex, lambda: ex.shutdown(cancel_futures=True)


def main(argv=None, executor: Executor | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs"], help="splits of data/conformers (default val test drugs)")
    ap.add_argument("--reference", nargs="+", type=Path, default=None, help="reference .npz files instead of --splits")
    ap.add_argument("--sample", type=int, default=30, help="molecules to rerun in all (default 30)")
    ap.add_argument("--per-split", action="store_true", help="--sample molecules per split instead of in all")
    ap.add_argument("--seed", type=int, default=1, help="draw seed; reruns use stored seed + 1000 + this (default 1)")
    ap.add_argument("--budget-factor", type=float, default=1.0, help="rerun CPU budget / stored (default 1; below 1 only for smoke tests)")
    ap.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--dask", default=None, metavar="ADDRESS", help="run on a Dask scheduler instead of a process pool")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "verify", help="rerun cache (default runs/verify)")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "verify_references.md", help="markdown output; the .json goes beside it")
    ap.add_argument("--any-version", action="store_true", help="draw from every sampler version (smoke tests)")
    ap.add_argument("--all-labels", action="store_true", help="draw unconverged molecules too (smoke tests)")
    ap.add_argument("--min-revision", type=int, default=0, metavar="R",
                    help="draw only references of sampler revision R or later (default 0: every revision of the current version)")
    ap.add_argument("--skip-outdated", action="store_true",
                    help="draw no reference that the current sampler would sample otherwise (reference.build.outdated_by: "
                         "its rebuild is pending, and no report counts it as verified)")
    ap.add_argument("--ids-from", type=Path, default=None, metavar="JSON",
                    help="rerun the molecules of an earlier verification's JSON instead of drawing (any sampler version)")
    ap.add_argument("--against-seed", type=int, default=None, metavar="K",
                    help="also rerun every molecule with seed stored + 1000 + K and compare the two reruns (rule vs itself)")
    ap.add_argument("--ess-factors", type=float, nargs="+", default=[1.0, 4.0], metavar="F",
                    help="also report what an exact sampler at F x the runs' effective sizes would score (default 1 4)")
    ap.add_argument("--unjudged", action="store_true",
                    help="draw only molecules that no earlier report (evaluation/conformers/verify_references*.json other "
                         "than -o's) judged in their current stored ensemble: the reruns that add verified references")
    ap.add_argument("--ties", action="store_true",
                    help="draw only molecules whose reruns in earlier reports split evenly (as many agreed as disagreed): "
                         "a rerun with a --seed none of them used decides them")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.sample < 1 or args.jobs < 1:
        ap.error(f"--sample and --jobs must be at least 1, got {args.sample} and {args.jobs}")
    paths = args.reference or [ROOT / "data" / "conformers" / f"reference_{s}.npz" for s in args.splits]
    names = [split_name(p) for p in paths]
    if len(set(names)) != len(names):
        ap.error(f"two reference files with the same split name: {[str(p) for p in paths]}")

    if args.against_seed is not None and (args.against_seed < 0 or args.against_seed == args.seed):
        ap.error(f"--against-seed must be at least 0 and differ from --seed, got {args.against_seed}")
    pools, counts, every = {}, {}, {}
    for name, path in zip(names, paths):
        refs = load_reference_set(str(path))
        every[name] = {r.id: r for r in refs}
        pools[name], counts[name] = candidates(refs, args.any_version, args.all_labels, args.min_revision, args.skip_outdated)
    earlier = [p for p in HERE.glob("verify_references*.json") if p.resolve() != args.out.with_suffix(".json").resolve()]
    if args.unjudged and args.ties:
        ap.error("--unjudged and --ties draw from different molecules: give one")
    if args.unjudged:
        pools = unjudged(pools, every, earlier)
    if args.ties:
        pools = tied(pools, every, earlier)
    picked = picked_from(args.ids_from, every) if args.ids_from else draw(pools, args.sample, args.seed, args.per_split)
    tasks = [(split, ref, V.rerun_seed(int(ref.diagnostics.get("seed", 0)), args.seed),
              V.rerun_config(ref.diagnostics["config"], args.budget_factor), seed_folder(split, args.seed)) for split, ref in picked]
    if args.against_seed is not None:
        tasks += [(split, ref, V.rerun_seed(int(ref.diagnostics.get("seed", 0)), args.against_seed), cfg, seed_folder(split, args.against_seed))
                  for split, ref, _, cfg, _ in tasks]
    ex, close = make_executor(args.jobs, args.dask) if executor is None else (executor, lambda: None)
    try:
        recs = run(tasks, args.work, ex, progress=not args.no_progress)
    finally:
        close()
    molecules = [molecule_record(split, ref, recs[seed_folder(split, args.seed), ref.id], args.ess_factors) for split, ref in picked]
    if args.against_seed is not None:
        for m, (split, ref) in zip(molecules, picked):
            m.update(pair_record(recs[seed_folder(split, args.seed), ref.id], recs[seed_folder(split, args.against_seed), ref.id]))
    settings = {"command": " ".join(["python", "-m", "evaluation.conformers.verify_references", *map(str, argv if argv is not None else sys.argv[1:])]),
                "references": {n: str(p) for n, p in zip(names, paths)}, "sample": args.sample, "per_split": args.per_split,
                "seed": args.seed, "budget_factor": args.budget_factor, "any_version": args.any_version, "all_labels": args.all_labels,
                "min_revision": args.min_revision, "skip_outdated": args.skip_outdated,
                "ids_from": None if args.ids_from is None else str(args.ids_from), "against_seed": args.against_seed,
                "unjudged": args.unjudged, "ties": args.ties, "sampler_version": SAMPLER_VERSION, "w1_floor": V.W1_FLOOR, "w1_factor": V.W1_FACTOR,
                "state_tolerance": V.STATE_TOLERANCE, "min_share": V.MIN_SHARE, "min_molecules": V.MIN_MOLECULES,
                "ess_factors": args.ess_factors, "mirror_averaging": True}
    result = {"settings": settings, "summary": summary(molecules, counts), "molecules": molecules}
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(result, indent=1))
    atomic_write_text(args.out, markdown(result))
    o = result["summary"]["overall"]
    print(f"{o['agree']} of {o['molecules']} agree; rerun converged {o['rerun_converged']}; trustworthy: {o['trustworthy']} -> {args.out}")
    return result


if __name__ == "__main__":
    main()
