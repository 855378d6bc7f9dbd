"""How should ``--boltzmann`` spend its sampler sweeps: how many chains, how many sweeps?

    python -m evaluation.conformers.boltzmann_refine [--split val] [--molecules 30] [-n 50]
        [--configs 50x20 10x20 2x20 2x10 2x40 ...]

``--boltzmann`` runs M chains of the exact MMFF94 Boltzmann sampler
(``geomgen.conformers.reference.sampler.refine``), each started at a plain geomgen sample, and
records a conformer every K sweeps (n / M per chain), at a cost of n K sweeps per molecule. A
config ``MxK`` is one such setting; ``MxK`` with M = n is n independent chains whose end states
are the conformers. On the first ``--molecules`` converged references of the split, in one run
on one core, this script scores plain geomgen, each config and ETKDGv3+MMFF (the peer of the
accurate mode) and, with ``--seed-control``, the last config's chains started at the seed geometry
instead of network samples (does the network help the sampler?), with the metrics of ``evaluate.py``: mean torsion W1 (angles modulo graph
symmetry), COV-R@0.75, AMR-R and conformers per second. Writes ``boltzmann_refine.md`` and
``boltzmann_refine.png`` (W1 against speed) next to this script.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from evaluation.conformers._args import sample_parser
from geomgen.tables import publish

HERE = Path(__file__).resolve().parent


def parse_config(text: str) -> tuple[int, int, float, float]:
    """``MxK[sR][+L]``: M chains, K sweeps per conformer; ``sR``: R amide flips per sweep and R / 2
    nitrogen inversions (``boltzmann_state_moves``; ``s`` alone: the builds' rate); ``+L``: L torsion
    moves per sweep proposed from the network's law (``boltzmann_law_moves``)."""
    from geomgen.conformers.generator import BUILD_STATE_MOVES

    head, _, law = text.partition("+")
    head, s, rate = head.partition("s")
    try:
        m, k = (int(x) for x in head.split("x"))
        return m, k, float(law) if law else 0.0, (float(rate) if rate else BUILD_STATE_MOVES) if s else 0.0
    except ValueError:
        raise ValueError(f"a config is MxK[sR][+L] (e.g. 2x20, 1x20s, 2x20s0.5 or 1x20+4), got {text!r}") from None


def main(argv=None):
    ap = sample_parser(__doc__.splitlines()[0], molecules=30, n=50, n_help="conformers per molecule (default 50)")
    ap.add_argument("--configs", nargs="+", default=["50x20", "10x20", "2x20", "2x10", "2x40"],
                    help="chains x sweeps per conformer, sR: R amide flips and R / 2 nitrogen inversions per sweep, +L: L law "
                         "moves per sweep (MxK[sR][+L]; default: 50x20 10x20 2x20 2x10 2x40)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seed-control", action="store_true",
                    help="also run the last config's chains from the seed geometry, without the network")
    ap.add_argument("-o", "--output", default=str(HERE / "boltzmann_refine.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from rdkit import Chem

    from evaluation.conformers.evaluate import etkdg, score
    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.reference.store import load_reference_set

    torch.set_num_threads(1)
    every = load_reference_set(args.split)
    refs = [r for r in every if r.converged][: args.molecules]
    gen = ConformerGenerator.from_checkpoint()

    def geomgen(chains=None, sweeps=None, law_moves=0.0, states=0.0):
        def run(rs, n, seed):
            if chains:
                gen.boltzmann_chains, gen.boltzmann_sweeps, gen.boltzmann_law_moves = chains, sweeps, law_moves
                gen.boltzmann_state_moves = states
            return gen.generate_many([(r.id, Chem.Mol(r.mol)) for r in rs], n, seed=seed, boltzmann=bool(chains))[0]
        return run

    def seed_chains(chains, sweeps):
        """Control: the same chains started at the seed geometry instead of network samples."""
        from geomgen.conformers.embedding import embed_seed
        from geomgen.conformers.generator import molecule_seed
        from geomgen.conformers.mmff import set_positions
        from geomgen.conformers.molecule import canonical_isomeric_smiles
        from geomgen.conformers.reference.sampler import refine

        def run(rs, n, seed):
            out = []
            for r in rs:
                mol = Chem.Mol(r.mol)
                s = embed_seed(mol, seed=molecule_seed(seed, canonical_isomeric_smiles(mol)) % 2**31, n_candidates=1, max_iters=2000)
                start = np.repeat(s.GetConformer().GetPositions()[None], chains, 0)
                res = refine(s, start, sweeps=sweeps, samples_per_chain=-(-n // chains), seed=seed)
                m = Chem.Mol(s)
                m.RemoveAllConformers()
                for p in res.positions[:n]:
                    conf = Chem.Conformer(m.GetNumAtoms())
                    set_positions(conf, p)
                    m.AddConformer(conf, assignId=True)
                out.append(m)
            return out
        return run

    configs = [parse_config(c) for c in args.configs]
    methods = {"etkdg+mmff": lambda rs, n, seed: [etkdg(r, n, seed, relax=True) for r in rs], "geomgen": geomgen()}
    methods.update({f"geomgen --boltzmann, {m} chains x {k} sweeps" + (f", {law:g} law moves / sweep" if law else "")
                    + (f", {states:g} amide flips and {states / 2:g} nitrogen inversions / sweep" if states else ""):
                    geomgen(m, k, law, states)
                    for m, k, law, states in configs})
    for m, k, _, _ in configs[-1:] if args.seed_control else []:
        methods[f"control: {m} chains x {k} sweeps from the seed geometry"] = seed_chains(m, k)
    rows = []
    for name, fn in methods.items():
        fn(refs[:1], 2, args.seed)  # warm-up outside the timed call
        t0 = time.perf_counter()
        mols = fn(refs, args.n, args.seed)
        secs = time.perf_counter() - t0
        scores = [score(r, m, args.n) for r, m in zip(refs, mols)]
        ok = [s for s in scores if s is not None]
        rows.append({"method": name,
                     "failed": len(scores) - len(ok), "w1": float(np.mean([s["w1"] for s in ok])),
                     "cov": float(np.mean([s["cov"]["COV-R"][0.75] for s in ok])), "amr": float(np.mean([s["cov"]["AMR-R"] for s in ok])),
                     "conf_s": sum(m.GetNumConformers() for m in mols if m is not None) / secs})
        print(name, {k: round(v, 3) for k, v in rows[-1].items() if isinstance(v, float)}, flush=True)

    base = {r["method"]: r for r in rows}
    plain, peer = base["geomgen"], base["etkdg+mmff"]
    lines = [
        "# `--boltzmann`: chains and sampler sweeps per conformer",
        "",
        f"`python -m evaluation.conformers.boltzmann_refine --split {args.split} --molecules {args.molecules} -n {args.n} "
        f"--configs {' '.join(args.configs)}`: the first {len(refs)} converged references of the split "
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
    publish(args.output, lines)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for r in rows:
        speed = r["conf_s"] / peer["conf_s"]
        ax.scatter(speed, r["w1"], color="C2" if r is peer else "C1" if r is plain else "C0")
        ax.annotate(r["method"].replace("geomgen --boltzmann, ", ""), (speed, r["w1"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set(xscale="log", xlabel="conformers/s relative to ETKDGv3+MMFF", ylabel="mean torsion W1 (rad)")
    fig.suptitle(f"--boltzmann refinement, {len(refs)} converged {args.split} molecules, n = {args.n}")
    fig.tight_layout()
    fig.savefig(Path(args.output).with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()
