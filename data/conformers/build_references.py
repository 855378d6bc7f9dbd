"""Build the MMFF94 Boltzmann reference sets (resumable, parallel, with a progress bar).

    python data/conformers/build_references.py --splits val test drugs train --jobs 2
    python data/conformers/build_references.py --splits train --dask tcp://scheduler:8786   # on a cluster

Each molecule is sampled with the replica-ladder + NCMC sampler
(``geomgen.conformers.reference.sampler``) under its split's settings
(``geomgen.conformers.reference.build.SPLIT_CONFIGS``). Per-molecule results go to
data/conformers/.build/<split>/ (a rerun skips them; failures are recorded with their reason in
<id>.fail.json). Every ``--assemble-every`` minutes, and when a split ends, the split is assembled
into data/conformers/reference_<split>.npz: molecules rebuilt so far replace their earlier
references, the others are kept, flagged by their diagnostics. Molecules already rebuilt in
that file (the current sampler version) are not sampled again, so committing the .npz files is enough to
continue a build in a fresh checkout. build_summary.json records counts and core-seconds.
``--retry-unconverged`` and ``--retry-rings`` sample again the rebuilt molecules that failed the
convergence rule, or that have a flippable ring but were sampled without ring flips (their
references are conditional on the seed's pucker); the earlier result stays until the new one is in.
``--max-cpu-seconds S`` runs a first pass at a lower cap than the split's, so that a lane does not
spend the whole cap on each hard molecule before reaching the easy ones; ``--retry-unconverged``
then samples what it left unconverged at the split's cap:

    python data/conformers/build_references.py --splits test --jobs 2 --order simple-first --max-cpu-seconds 300
    python data/conformers/build_references.py --splits test --jobs 2 --retry-unconverged
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.atomic import atomic_write_text  # noqa: E402
from geomgen.conformers.reference.build import BUILD_ORDERS, SAMPLER_VERSION, SPLIT_CONFIGS, build_reference_set, should_resample  # noqa: E402
from geomgen.conformers.reference.store import assemble, read_records, read_smiles_csv  # noqa: E402

HERE = Path(__file__).resolve().parent


def rebuilt_ids(npz: Path, keep=None) -> set[str]:
    """Ids whose record in an assembled file comes from the current sampler (and, given
    ``keep(diagnostics, smiles)``, for which it is true)."""
    if not npz.exists():
        return set()
    out = set()
    for i, r in read_records(npz).items():
        d = json.loads(r["diagnostics"])
        if d.get("sampler_version") == SAMPLER_VERSION and (keep is None or keep(d, r["smiles"])):
            out.add(i)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs", "train"], choices=list(SPLIT_CONFIGS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dask", default=None, metavar="ADDRESS",
                    help="sample on a dask.distributed scheduler instead of --jobs local processes (results are written here)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N molecules of each split")
    ap.add_argument("--assemble-every", type=float, default=10.0, help="minutes between assemblies (default 10)")
    ap.add_argument("--retry-unconverged", action="store_true",
                    help="sample again the rebuilt molecules that did not converge under other settings than the split's current ones")
    ap.add_argument("--max-cpu-seconds", type=float, default=None, metavar="S",
                    help="a first pass at a lower CPU cap per molecule than the split's: what it converges is done, and a "
                         "later --retry-unconverged samples the rest again at the split's cap (at the current revision most "
                         "evaluation molecules converge in a minute or two, while one that does not holds a lane for the "
                         "whole cap)")
    ap.add_argument("--retry-rings", action="store_true",
                    help="sample again the rebuilt molecules with a flippable ring that were sampled without ring flips")
    ap.add_argument("--order", choices=BUILD_ORDERS, default="list",
                    help="which molecules to sample first: the csv's order (default), those with amides, invertible "
                         "nitrogens or flippable rings first (discrete-first), or those without, fewest torsions first "
                         "(simple-first)")
    ap.add_argument("--discrete-first", action="store_const", dest="order", const="discrete-first",
                    help="the same as --order discrete-first")
    ap.add_argument("--ids", nargs="+", default=None,
                    help="sample only these molecules, again, with the split's current settings (their earlier result stays "
                         "in the assembled file until the new one is assembled)")
    ap.add_argument("--assemble-only", action="store_true",
                    help="sample nothing: assemble what .build/ holds into the .npz files (after a build was stopped)")
    args = ap.parse_args(argv)
    client = executor = None
    if args.dask and not args.assemble_only:
        from distributed import Client

        client = Client(args.dask)
        executor = client.get_executor()
    try:
        _build(args, executor)
    finally:
        if client is not None:
            client.close()


def _build(args, executor) -> None:
    summary_path = HERE / "build_summary.json"
    for split in args.splits:
        t0 = time.time()
        csv_path = HERE / f"smiles_{split}.csv"
        out = HERE / f"reference_{split}.npz"
        work = HERE / ".build" / f"{split}-v{SAMPLER_VERSION}"
        state = {"last": time.time(), "core_seconds": 0.0}
        config = dict(SPLIT_CONFIGS[split])
        if args.max_cpu_seconds is not None:
            if not args.max_cpu_seconds > 0:
                raise SystemExit(f"--max-cpu-seconds must be positive, got {args.max_cpu_seconds}")
            config["max_cpu_seconds"] = args.max_cpu_seconds

        def save(info=None, split=split, csv_path=csv_path, out=out, work=work, t0=t0, state=state):
            info = info or assemble(csv_path, work, out)
            # read afresh: builds of other splits may run at the same time and write their entries
            summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
            prev = summary.get(split, {})
            summary[split] = {
                "molecules": info["molecules"],
                f"rebuilt_with_sampler_v{SAMPLER_VERSION}": len(rebuilt_ids(out)),
                "converged": info["converged"],
                "failures": [{"id": f["id"], "smiles": f.get("smiles", ""), "error": f["error"]} for f in info["failures"]],
                "missing": info["missing"],
                "config": SPLIT_CONFIGS[split],
                "sampler_version": SAMPLER_VERSION,
                f"core_seconds_v{SAMPLER_VERSION}": prev.get(f"core_seconds_v{SAMPLER_VERSION}", 0.0) + state["core_seconds"],
                f"wall_seconds_v{SAMPLER_VERSION}": prev.get(f"wall_seconds_v{SAMPLER_VERSION}", 0.0) + time.time() - state.get("since", t0),
            }
            state["core_seconds"], state["since"] = 0.0, time.time()
            atomic_write_text(summary_path, json.dumps(summary, indent=1))
            return info

        def on_result(rec, state=state, save=save):
            state["core_seconds"] += rec.get("diagnostics", {}).get("total_seconds", 0.0)
            if time.time() - state["last"] > 60 * args.assemble_every:
                save()
                state["last"] = time.time()

        def keep(diag, smiles, config=config):
            return not should_resample(diag, smiles, unconverged=args.retry_unconverged, rings=args.retry_rings,
                                       config=config)

        if (args.retry_unconverged or args.retry_rings) and work.exists() and not args.assemble_only:  # drop results to sample again
            for f in work.glob("*.npz"):
                with np.load(f) as z:
                    diag, smiles = json.loads(str(z["diagnostics"])), str(z["smiles"])
                if not keep(diag, smiles):
                    f.unlink()
        if args.assemble_only:
            if work.exists():
                info = save()
                print(f"{split}: assembled {info['molecules']} molecules, {info['converged']} converged")
            continue
        skip = rebuilt_ids(out, keep=keep)
        if args.ids is not None:  # only these, sampled afresh
            ids = {i for i, _ in read_smiles_csv(csv_path)}
            skip = ids - set(args.ids)
            for i in set(args.ids) & ids:
                for f in (work / f"{i}.npz", work / f"{i}.fail.json"):
                    f.unlink(missing_ok=True)
        build_reference_set(csv_path, work, config, executor=executor, jobs=args.jobs, limit=args.limit, skip=skip,
                            on_result=on_result, order=args.order)
        info = save()
        print(f"{split}: {info['molecules']} molecules ({info['rebuilt']} rebuilt this build), {info['converged']} converged, "
              f"{len(info['failures'])} failures, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
