"""Amide E/Z populations: the fragment library and the generator against references that sample them.

    python -m evaluation.conformers.amide_states --splits val test drugs -n 50 --seed 1 \\
        -o evaluation/conformers/amide_states_seed1.md

Two questions, each side by side in one run:

1. **Does a site's fragment carry its state preference?** For every molecule of the splits with a
   partial double bond that has a fragment (:func:`geomgen.conformers.statelib.site_fragments`),
   the library's probability of state 1 (:class:`~geomgen.conformers.statelib.StateLibrary`:
   shipped library, then built) against the same probability from the whole molecule: the
   Boltzmann weights of the MMFF94 minima of every combination of its states, the lowest over
   three ETKDGv3 embeddings minimised in each combination (:func:`whole_molecule_p`), summed over the combinations
   with the site in state 1. Reported: mean absolute difference, share of sites within 0.1, and the
   time per molecule of each (library: every lookup of the split, including builds on first use).
2. **Do the conformers carry the reference's populations?** On the references that sample the
   states (converged, with every site's population recorded by the sampler: sampler versions 3
   and 4, whose chains start in random states and flip amides), the share of conformers in state 1
   per site for geomgen with the states drawn from the library (``amide_states="library"``), geomgen
   with every site in the assembler's usual state (``amide_states="usual"``, the default), ETKDGv3 and
   ETKDGv3+MMFF, and the two probabilities of (1), against the reference's. Reported per split:
   mean absolute difference over sites and the share of molecules with every site within 0.1 (the
   discrete-states issue's target), and the molecules side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from geomgen.tables import markdown_table, publish  # noqa: E402

HERE = Path(__file__).resolve().parent


def whole_molecule_p(smiles: str, n_sites: int, embeddings: int = 3) -> list[float]:
    """Probability of state 1 of each site from the whole molecule's state minima (module
    docstring): per combination of states the lowest MMFF94 minimum over ``embeddings`` ETKDGv3
    seeds, each minimised in every combination within 20 kcal/mol
    (:func:`~geomgen.conformers.embedding.state_seeds`; a seed whose other states are all
    outside the window counts with its own states)."""
    from geomgen.conformers import MMFF, embed_seed, parse_molecule
    from geomgen.conformers.discrete_states import partial_double_bonds, site_states
    from geomgen.conformers.embedding import state_seeds
    from geomgen.metrics.boltzmann import boltzmann_weights

    best: dict[str, float] = {}
    for k in range(embeddings):
        seed = embed_seed(parse_molecule(smiles), seed=k, max_iters=2000)
        for x in state_seeds(seed, max_seeds=16, energy_window=20.0, nitrogens=False, min_weight=0.0):
            if x.HasProp("discrete_states"):
                key, e = x.GetProp("discrete_states"), x.GetDoubleProp("MMFF94_energy_kcal_mol")
            else:
                pos = x.GetConformer().GetPositions()
                key = "".join(str(int(v)) for v in site_states(partial_double_bonds(x), pos)[0])
                e = float(MMFF(x).energy(pos))
            best[key] = min(best.get(key, float("inf")), e)
    combos = list(best)
    w = boltzmann_weights(np.array([best[c] for c in combos]))
    return [float(sum(wi for c, wi in zip(combos, w) if len(c) > k and c[k] == "1")) if k < 12 else float("nan")
            for k in range(n_sites)]


def library_agreement(split: str, lib, max_molecules: int | None = None) -> dict:
    """Question 1 on one split: per site (molecule id, site, library p, whole-molecule p)."""
    import csv

    from rdkit import RDLogger

    from geomgen.conformers.discrete_states import partial_double_bonds
    from geomgen.conformers.molecule import MoleculeError, parse_molecule

    RDLogger.DisableLog("rdApp.*")
    rows, t_lib, t_full, mols = [], 0.0, 0.0, 0
    with open(Path(__file__).resolve().parents[2] / "data" / "conformers" / f"smiles_{split}.csv", newline="") as f:
        for rec in csv.DictReader(f):
            try:
                mol = parse_molecule(rec["smiles"], name=rec["id"])
            except MoleculeError:
                continue
            t0 = time.perf_counter()
            p = lib.site_probabilities(mol)
            t_lib += time.perf_counter() - t0
            if not p:
                continue
            if max_molecules is not None and mols >= max_molecules:
                break
            mols += 1
            t0 = time.perf_counter()
            full = whole_molecule_p(rec["smiles"], len(partial_double_bonds(mol)))
            t_full += time.perf_counter() - t0
            rows += [[rec["id"], k, p[k], full[k]] for k in sorted(p)]
    d = np.array([abs(a - b) for _, _, a, b in rows if np.isfinite(b)])
    return {"split": split, "molecules": mols, "sites": len(rows), "mad": float(d.mean()) if len(d) else float("nan"),
            "within_0.1": float((d <= 0.1).mean()) if len(d) else float("nan"),
            "library_ms": 1000 * t_lib / max(mols, 1), "whole_molecule_ms": 1000 * t_full / max(mols, 1), "rows": rows}


def sampled_references(split: str) -> list:
    """The split's converged references whose sampler recorded every partial double bond's population."""
    from geomgen.conformers.discrete_states import partial_double_bonds
    from geomgen.conformers.reference.store import load_reference_set

    out = []
    for r in load_reference_set(split, converged_only=True):
        sites = partial_double_bonds(r.mol)
        names = set(r.diagnostics.get("state_names") or [])
        if sites and all(f"amide-{k}" in names for k in range(len(sites))):
            out.append(r)
    return out


def generated_populations(refs, method: str, n: int, seed: int) -> list:
    from rdkit import Chem

    from evaluation.conformers.evaluate import etkdg
    from geomgen.conformers.discrete_states import amide_states

    if method.startswith("etkdg"):
        mols = [etkdg(r, n, seed, relax=method == "etkdg+mmff") for r in refs]
    else:
        from geomgen.conformers import ConformerGenerator

        opts = {"amide_states": "usual" if method == "geomgen+usual-amides" else "library"}
        gen = ConformerGenerator.from_checkpoint(**opts)
        mols, _ = gen.generate_many([(r.id, Chem.Mol(r.mol)) for r in refs], n, seed=seed)
    out = []
    for m in mols:
        if m is None or m.GetNumConformers() == 0:
            out.append(None)
        else:
            out.append(amide_states(m, np.stack([c.GetPositions() for c in m.GetConformers()])).mean(0).tolist())
    return out


#: "geomgen": the library states (``amide_states="library"``; the generator's default when
#: amide_states_seed1.md was measured), "geomgen+usual-amides": the assembler's usual states
METHODS = ("geomgen", "geomgen+usual-amides", "etkdg", "etkdg+mmff")


def population_comparison(split: str, n: int, seed: int, lib, max_molecules: int | None = None) -> dict:
    from evaluation.conformers.evaluate import reference_amide_population
    from geomgen.conformers.discrete_states import partial_double_bonds

    refs = sampled_references(split)[:max_molecules]
    per = {m: generated_populations(refs, m, n, seed) for m in METHODS}
    lib_p, full_p = [], []
    for r in refs:
        k = len(partial_double_bonds(r.mol))
        p = lib.site_probabilities(r.mol)
        lib_p.append([p.get(s, float("nan")) for s in range(k)])
        full_p.append(whole_molecule_p(r.smiles, k))
    per["library p"], per["whole-molecule p"] = lib_p, full_p
    ref_pop = [reference_amide_population(r) for r in refs]
    summary = {}
    for m, pops in per.items():
        diffs, ok = [], []
        for p, q in zip(pops, ref_pop):
            if p is None or q is None:  # q: a reference without stored per-sample states
                continue
            d = [abs(a - b) for a, b in zip(p, q) if np.isfinite(a)]
            diffs += d
            ok.append(all(x <= 0.1 for x in d))
        summary[m] = {"sites": len(diffs), "molecules": len(ok), "mad": float(np.mean(diffs)) if diffs else float("nan"),
                      "within_0.1": float(np.mean(ok)) if ok else float("nan")}
    molecules = [[r.id, q, {m: per[m][i] for m in per}] for i, (r, q) in enumerate(zip(refs, ref_pop))]
    return {"split": split, "references": len(refs), "summary": summary, "molecules": molecules}


def _f(v, digits=3) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def to_markdown(agreement, comparison, header) -> str:
    lines = [header, "", "## 1. The fragment library against the whole molecule", "",
             "Probability of state 1 per site (cis by canonical rank): the library's against the whole molecule's "
             "MMFF94 state minima; time per molecule with sites (library: lookups of the split including first-use "
             "builds; the shipped library holds the training, validation and test fragments, not the drugs').", ""]
    lines += markdown_table(["split", "molecules", "sites", "MAD", "within 0.1", "library ms/molecule", "whole molecule ms/molecule"],
                            [[a["split"], a["molecules"], a["sites"], _f(a["mad"]), _f(a["within_0.1"], 2),
                              f"{a['library_ms']:.1f}", f"{a['whole_molecule_ms']:.0f}"] for a in agreement])
    lines += ["", "## 2. Populations against references that sample the states", "",
              "Converged references whose sampler recorded every site's population; share of conformers (or probability) "
              "in state 1 against the reference's: mean absolute difference over sites, and the share of molecules with "
              "every site within 0.1.", ""]
    names = list(comparison[0]["summary"]) if comparison else []
    lines += markdown_table(["split", "references", *[f"{m} MAD / within 0.1" for m in names]],
                            [[c["split"], c["references"], *[f"{_f(c['summary'][m]['mad'])} / {_f(c['summary'][m]['within_0.1'], 2)}"
                                                            for m in names]] for c in comparison])
    for c in comparison:
        lines += ["", f"{c['split']}: per site, reference and each method", ""]
        rows = []
        for mid, q, pops in c["molecules"]:
            for k, qk in enumerate(q):
                rows.append([mid, f"amide-{k}", _f(qk, 2)] + [_f(pops[m][k], 2) if pops[m] is not None else "failed" for m in names])
        lines += markdown_table(["molecule", "site", "reference", *names], rows)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import torch

    from geomgen.conformers.statelib import StateLibrary

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs"])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-molecules", type=int, default=None, help="at most this many molecules per split and question")
    ap.add_argument("-o", "--output", default=str(HERE / "amide_states.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    lib = StateLibrary(folder=False)  # no disk cache: the drugs' fragments are built in the run
    agreement = [library_agreement(s, lib, args.max_molecules) for s in args.splits]
    comparison = [population_comparison(s, args.n, args.seed, lib, args.max_molecules) for s in args.splits]
    header = (f"# Amide E/Z populations: the fragment library and the generator\n\n"
              f"`python -m evaluation.conformers.amide_states --splits {' '.join(args.splits)} -n {args.n} --seed {args.seed}"
              + (f" --max-molecules {args.max_molecules}" if args.max_molecules else "") + "` "
              f"({os.cpu_count()} cores, wall time {time.time() - t0:.0f} s)")
    out = Path(args.output)
    publish(out, to_markdown(agreement, comparison, header))
    from geomgen.atomic import atomic_write_text

    atomic_write_text(out.with_suffix(".json"), json.dumps({"agreement": agreement, "populations": comparison}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
