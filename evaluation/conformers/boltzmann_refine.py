"""How many sampler sweeps should ``--boltzmann`` give each conformer?

    python evaluation/conformers/boltzmann_refine.py [--split val] [--molecules 30] [-n 50]
        [--sweeps 10 20 40 80]

``--boltzmann`` moves each plain geomgen conformer by K sweeps of the exact MMFF94 Boltzmann
sampler (``geomgen.conformers.reference.sampler.refine``). On the first ``--molecules``
converged references of the split, in one run on one core, this script scores plain geomgen,
geomgen ``--boltzmann`` at each K and ETKDGv3+MMFF (the peer of the accurate mode) with the
metrics of ``evaluate.py``: mean torsion W1 (angles modulo graph symmetry), COV-R@0.75, AMR-R
and conformers per second. Writes ``boltzmann_refine.md`` and ``boltzmann_refine.png`` (W1 and
speed against K) next to this script.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write_text

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="val")
    ap.add_argument("--molecules", type=int, default=30)
    ap.add_argument("-n", type=int, default=50, help="conformers per molecule (default 50)")
    ap.add_argument("--sweeps", type=int, nargs="+", default=[10, 20, 40, 80])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=str(HERE / "boltzmann_refine.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.reference.store import load_reference_set

    sys.path.insert(0, str(HERE))
    from evaluate import etkdg, score

    torch.set_num_threads(1)
    every = load_reference_set(args.split)
    refs = [r for r in every if r.converged][: args.molecules]
    gen = ConformerGenerator.from_checkpoint()

    def geomgen(sweeps):
        def run(rs, n, seed):
            gen.boltzmann_sweeps = sweeps or 1
            return gen.generate_many([(r.id, Chem.Mol(r.mol)) for r in rs], n, seed=seed, boltzmann=bool(sweeps))[0]
        return run

    methods = {"etkdg+mmff": lambda rs, n, seed: [etkdg(r, n, seed, relax=True) for r in rs], "geomgen": geomgen(0)}
    methods.update({f"geomgen --boltzmann, K = {k}": geomgen(k) for k in args.sweeps})
    rows = []
    for name, fn in methods.items():
        fn(refs[:1], 2, args.seed)  # warm-up outside the timed call
        t0 = time.perf_counter()
        mols = fn(refs, args.n, args.seed)
        secs = time.perf_counter() - t0
        scores = [score(r, m, args.n) for r, m in zip(refs, mols)]
        ok = [s for s in scores if s is not None]
        rows.append({"method": name, "sweeps": 0 if "K =" not in name else int(name.rsplit("= ", 1)[1]),
                     "failed": len(scores) - len(ok), "w1": float(np.mean([s["w1"] for s in ok])),
                     "cov": float(np.mean([s["cov"]["COV-R"][0.75] for s in ok])), "amr": float(np.mean([s["cov"]["AMR-R"] for s in ok])),
                     "conf_s": sum(m.GetNumConformers() for m in mols if m is not None) / secs})
        print(name, {k: round(v, 3) for k, v in rows[-1].items() if isinstance(v, float)}, flush=True)

    base = {r["method"]: r for r in rows}
    plain, peer = base["geomgen"], base["etkdg+mmff"]
    lines = [
        "# `--boltzmann`: sampler sweeps per conformer",
        "",
        f"`python evaluation/conformers/boltzmann_refine.py --split {args.split} --molecules {args.molecules} -n {args.n} "
        f"--sweeps {' '.join(map(str, args.sweeps))}`: the first {len(refs)} converged references of the split "
        f"({sum(r.converged for r in every)} of {len(every)} converged), {args.n} conformers each, seed {args.seed}, one run on one "
        "core. W1: mean torsion W1 against the reference (rad, angles modulo graph symmetry); speed relative to "
        "ETKDGv3+MMFF in this run.",
        "",
        "| method | failed | W1 torsions | W1 / plain geomgen | COV-R@0.75 | AMR-R | conf/s relative to ETKDG+MMFF |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['failed']} | {r['w1']:.3f} | {r['w1'] / plain['w1']:.2f} | {r['cov']:.3f} | {r['amr']:.3f} | "
                     f"{r['conf_s'] / peer['conf_s']:.2f}x |")
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [r["sweeps"] for r in rows if r["sweeps"]]
    refined = [r for r in rows if r["sweeps"]]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    ax[0].plot(ks, [r["w1"] for r in refined], "o-", label="geomgen --boltzmann")
    ax[0].axhline(plain["w1"], color="C1", ls="--", label="geomgen (plain)")
    ax[0].axhline(peer["w1"], color="C2", ls=":", label="ETKDGv3+MMFF")
    ax[0].set(xscale="log", xlabel="sweeps per conformer K", ylabel="mean torsion W1 (rad)")
    ax[0].legend(fontsize=8)
    ax[1].plot(ks, [r["conf_s"] / peer["conf_s"] for r in refined], "o-")
    ax[1].axhline(1.0, color="C2", ls=":", label="ETKDGv3+MMFF")
    ax[1].set(xscale="log", yscale="log", xlabel="sweeps per conformer K", ylabel="conformers/s relative to ETKDGv3+MMFF")
    ax[1].legend(fontsize=8)
    fig.suptitle(f"--boltzmann refinement, {len(refs)} converged {args.split} molecules, n = {args.n}")
    fig.tight_layout()
    fig.savefig(Path(args.output).with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()
