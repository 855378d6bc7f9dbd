"""Does an independent search for low-energy basins predict which references a verification
refutes?

For every molecule of one or more verification reports (``verify_references.py`` JSON), the
stored reference and, where the verification's work folder still holds it, the rerun are each
checked against an independent search (``geomgen.conformers.reference.basins``): MMFF94 minima
of many ETKDGv3 embeddings against the basins the lowest-energy samples relax into. The table
says per molecule whether the verification agreed and how far the search's lowest minimum lies
below each ensemble's (the *gap*); the summary cross-tabulates "the stored ensemble missed a
basin" (gap above the tolerance) with "the verification refuted the label".

The samples are rebuilt from what the store keeps (`ReferenceMolecule.conformers`) and minimised:
references stored before format 5 come back in their seed's amide-like and nitrogen states, so for
them the check sees only the seed's states (a run that sampled the other state well is not credited
with it); molecules rebuilt since the verification (another seed or CPU time) are skipped.

    python -m evaluation.conformers.basin_check --reports evaluation/conformers/verify_references_rev7.json \\
        --work runs/verify -o evaluation/conformers/basin_check.md
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def check_one(stored: dict, rerun: dict | None, n_starts: int, n_samples: int, seed: int) -> dict:
    """The gaps of one molecule's stored ensemble (and rerun) to one search (records as
    ``store.read_records`` / a rerun file hold them)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.reference import basins
    from geomgen.conformers.reference.store import molecule_from_record

    ref = molecule_from_record(stored)
    mmff = MMFF(ref.mol)
    found = basins.search_minima(ref.mol, n_starts=n_starts, seed=seed, mmff=mmff)
    out = {"search_min": found.lowest, "search_minima": int(len(found.energies)), "search_tried": found.tried}
    for name, rec in (("stored", ref), ("rerun", None if rerun is None else molecule_from_record(rerun))):
        if rec is None:
            out[f"{name}_gap"] = None
            continue
        confs = rec.conformers()
        pos = np.array([c.GetPositions() for c in confs.GetConformers()])
        mins = basins.sample_minima(pos, rec.energies, mmff, n=n_samples)
        out[f"{name}_min"] = mins.lowest
        out[f"{name}_gap"] = basins.basin_gap(mins, found)
    return out


def _records(work: Path | None, split: str, mol_id: str) -> dict | None:
    if work is None:
        return None
    path = work / split / f"{mol_id}.npz"
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def markdown(rows: list[dict], args, tolerance: float) -> str:
    def flag(gap):
        return "-" if gap is None else (f"**{gap:.2f}**" if gap > tolerance else f"{gap:.2f}")

    refuted = [r for r in rows if not r["agrees"]]
    confirmed = [r for r in rows if r["agrees"]]
    missed = lambda rs: sum(r["stored_gap"] is not None and r["stored_gap"] > tolerance for r in rs)  # noqa: E731
    lines = [
        "# An independent basin search against the verification's verdicts",
        "",
        f"Command: `python -m evaluation.conformers.basin_check {' '.join(args)}`",
        "",
        f"Per molecule: MMFF94 minima of {rows[0]['search_tried'] if rows else 0}-odd ETKDGv3 embeddings (`basins.search_minima`) "
        "against the basins the lowest-energy samples of each ensemble relax into (`basins.sample_minima`); the gap is how "
        f"far the search's lowest minimum lies below the ensemble's (kcal/mol), bold above the tolerance {tolerance:g} "
        "(`basins.gap_within`). Samples are rebuilt on the seed from their torsions (as `ReferenceMolecule.conformers`) before minimising.",
        "",
        "| | verification refuted | verification confirmed |",
        "|---|---:|---:|",
        f"| stored ensemble missed a basin (gap > {tolerance:g}) | {missed(refuted)} | {missed(confirmed)} |",
        f"| no basin missed | {len(refuted) - missed(refuted)} | {len(confirmed) - missed(confirmed)} |",
        "",
        "| split | id | SMILES | verification agrees | search minima | stored gap | rerun gap |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['split']} | {r['id']} | `{r['smiles']}` | {'yes' if r['agrees'] else '**no**'} | {r['search_minima']} | "
                     f"{flag(r['stored_gap'])} | {flag(r['rerun_gap'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None, executor: Executor | None = None) -> list[dict]:
    from geomgen.atomic import atomic_write_text
    from geomgen.conformers.reference.basins import GAP_TOLERANCE
    from geomgen.conformers.reference.store import read_records

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", nargs="+", required=True, help="verify_references.py JSON reports")
    ap.add_argument("--work", type=Path, default=None, help="the verification's work folder (its reruns are checked too)")
    ap.add_argument("--starts", type=int, default=64, help="embeddings per search (default 64)")
    ap.add_argument("--samples", type=int, default=32, help="lowest-energy samples minimised per ensemble (default 32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=GAP_TOLERANCE)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("-o", "--out", type=Path, default=HERE / "basin_check.md")
    args = ap.parse_args(argv)

    molecules, seen = [], set()
    for report in args.reports:
        for m in json.loads(Path(report).read_text())["molecules"]:
            if (m["split"], m["id"]) not in seen:
                seen.add((m["split"], m["id"]))
                molecules.append(m)
    records = {split: read_records(ROOT / "data" / "conformers" / f"reference_{split}.npz") for split in {m["split"] for m in molecules}}
    own = executor is None
    ex = executor or ProcessPoolExecutor(max_workers=args.jobs)
    rows = []
    try:
        futs = []
        for m in molecules:
            stored = records[m["split"]].get(m["id"])
            d = None if stored is None else json.loads(stored["diagnostics"])
            if d is None or (d.get("seed"), d.get("cpu_seconds")) != (m.get("stored_seed"), m.get("stored_cpu_seconds")):
                continue  # rebuilt since the verification: not the ensemble it judged
            rerun = _records(args.work, m["split"], m["id"])
            if rerun is not None and json.loads(str(rerun["diagnostics"])).get("seed") != m.get("rerun_seed"):
                rerun = None
            futs.append((m, ex.submit(check_one, stored, rerun, args.starts, args.samples, args.seed)))
        for m, fut in futs:
            rows.append({"split": m["split"], "id": m["id"], "smiles": m["smiles"], "agrees": bool(m["agrees"]), **fut.result()})
            print(f"{m['split']} {m['id']}: agrees {m['agrees']}, gaps stored {rows[-1]['stored_gap']}, rerun {rows[-1]['rerun_gap']}", flush=True)
    finally:
        if own:
            ex.shutdown()
    text = markdown(rows, argv if argv is not None else __import__("sys").argv[1:], args.tolerance)
    atomic_write_text(args.out, text)
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({"tolerance": args.tolerance, "molecules": rows}, indent=1))
    print(text)
    return rows


if __name__ == "__main__":
    main()
