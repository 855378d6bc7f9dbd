"""Where one method loses to another: the molecules behind a coverage gap in an ``evaluate.py`` run.

    python -m evaluation.conformers.per_molecule_gap evaluation/conformers/per_molecule_test_seed2.json \\
        --worse geomgen --better etkdg+mmff --split test -o evaluation/conformers/per_molecule_gap.md

Reads the ``per molecule`` entries of an ``evaluate.py`` JSON and lists the molecules with the
largest COV-R@0.75 loss of ``--worse`` against ``--better``, with the means over all molecules
and without the ``--top`` worst (a description of where the gap sits, not a result: leaving
molecules out after looking is not an evaluation). For those molecules it also gives the share of
conformers in state 1 of each partial double bond (amide, urea, ester...: ``amide_states``) in
the reference and in geomgen's default generation (seed ``--seed``), and the MMFF94 energy of each
combination of those states above the lowest (the minimum over three ETKDGv3 embeddings, each
minimised in every combination: ``embedding.state_seeds``): a reference sitting in a state several
kcal/mol above the other has not sampled it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.tables import markdown_table, publish  # noqa: E402

HERE = Path(__file__).resolve().parent


def state_energies(smiles: str, embeddings: int = 3) -> dict[str, float]:
    """MMFF94 energy (kcal/mol) of each combination of the molecule's partial-double-bond states
    above the lowest: the minimum over ``embeddings`` ETKDGv3 seeds, each minimised in every
    combination (``state_seeds`` within 20 kcal/mol)."""
    from geomgen.conformers import embed_seed, parse_molecule
    from geomgen.conformers.embedding import state_seeds

    best: dict[str, float] = {}
    for k in range(embeddings):
        seed = embed_seed(parse_molecule(smiles), seed=k, max_iters=2000)
        for x in state_seeds(seed, max_seeds=16, energy_window=20.0, nitrogens=False):
            key = x.GetProp("discrete_states") if x.HasProp("discrete_states") else "-"
            best[key] = min(best.get(key, float("inf")), x.GetDoubleProp("MMFF94_energy_kcal_mol"))
    low = min(best.values())
    return {k: round(v - low, 2) for k, v in sorted(best.items())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="an evaluate.py JSON with per-molecule entries")
    ap.add_argument("--worse", default="geomgen")
    ap.add_argument("--better", default="etkdg+mmff")
    ap.add_argument("--split", default="test")
    ap.add_argument("--top", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=HERE / "per_molecule_gap.md")
    args = ap.parse_args(argv)
    import numpy as np
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.discrete_states import amide_states, partial_double_bonds
    from geomgen.conformers.reference.store import load_reference_set

    rows = json.loads(args.results.read_text())
    per = {r["method"]: {m[0]: m[1:] for m in r["per molecule"]} for r in rows if r["split"] == args.split}
    a, b = per[args.worse], per[args.better]
    ids = [k for k in a if k in b and a[k][0] is not None and b[k][0] is not None]
    gap = sorted(ids, key=lambda k: a[k][1] - b[k][1])
    worst = gap[: args.top]

    def means(keys):
        return [len(keys), *(f"{np.mean([m[k][j] for k in keys]):.3f}" for j in (1, 2) for m in (b, a))]

    summary = [["all", *means(ids)], [f"without the {args.top} worst", *means([k for k in ids if k not in worst])]]
    refs = {r.id: r for r in load_reference_set(args.split) if r.id in worst}
    gen = ConformerGenerator.from_checkpoint()
    detail = []
    for k in worst:
        r = refs[k]
        smiles = Chem.MolToSmiles(Chem.RemoveHs(r.mol))
        states = "-"
        if partial_double_bonds(r.mol):
            ref_pos = np.stack([c.GetPositions() for c in r.conformers(50).GetConformers()])
            mols, _ = gen.generate_many([(k, Chem.Mol(r.mol))], 50, seed=args.seed)
            ours = "failed" if mols[0] is None else amide_states(r.mol, np.stack([c.GetPositions() for c in mols[0].GetConformers()])).mean(0).round(2).tolist()
            states = f"reference {amide_states(r.mol, ref_pos).mean(0).round(2).tolist()}, geomgen {ours}; energies {state_energies(smiles)}"
        detail.append([k, f"`{smiles}`", f"{a[k][1] - b[k][1]:+.2f}", f"{a[k][2] - b[k][2]:+.2f}", states])
        print(*detail[-1], flush=True)
    lines = [f"# Where {args.worse} loses to {args.better} ({args.split})", "",
             f"`python -m evaluation.conformers.per_molecule_gap {args.results} --worse {args.worse} --better {args.better} "
             f"--split {args.split} --top {args.top} --seed {args.seed}` (see the module docstring: leaving molecules out "
             "after looking describes the gap, it is not an evaluation).", "",
             *markdown_table(["molecules", "n", f"COV-R@0.75 {args.better}", f"COV-R@0.75 {args.worse}",
                              f"AMR-R {args.better}", f"AMR-R {args.worse}"], summary), "",
             "The molecules with the largest coverage loss; partial-double-bond states: share in state 1 per site "
             "(reference, geomgen default), and the MMFF94 energy of each state combination above the lowest (kcal/mol):", "",
             *markdown_table(["molecule", "SMILES", "dCOV-R@0.75", "dAMR-R", "states"], detail)]
    publish(args.out, lines)


if __name__ == "__main__":
    main()
