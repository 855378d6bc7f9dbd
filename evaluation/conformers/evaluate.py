"""Conformer generators against the MMFF94 Boltzmann references, side by side in one run.

    python -m evaluation.conformers.evaluate --splits val test drugs -n 50 [--max-molecules M]
        [--methods etkdg etkdg+mmff geomgen geomgen+relax geomgen+boltzmann geomgen+states geomgen+assembly
                   geomgen+assembly+mmff20 geomgen+assembly+mmff50 geomgen+assembly+mmff100 geomgen+restrained]

For every molecule of each split, every method generates ``n`` conformers of the reference's
own molecule (same atom order; stereo from the reference's isomeric SMILES) and is scored:

* W1 torsions -- circular Wasserstein-1 between the generated and reference marginals of each
  rotatable torsion (all reference samples), each taken modulo its graph symmetry (a phenyl flip
  has period pi), averaged over torsions then molecules (rad);

Only references that pass the convergence rule (``geomgen.conformers.reference.convergence``)
are scored unless ``--all-molecules`` is given (``--verified-only``: only those whose stored
ensemble an independent rerun confirmed); the counts are printed and recorded.
* COV-R / AMR-R / COV-P / AMR-P -- symmetric heavy-atom RMSD against ``n`` reference
  conformers rebuilt from evenly spaced samples (thresholds 0.5, 0.75, 1.25 A);
* dE -- mean MMFF94 energy of the generated conformers minus the mean reference energy
  (kcal/mol), averaged over molecules;
* conf/s -- generated conformers per second of wall time (generation only, including
  geomgen's seed embedding; every method on one core: ETKDG/MMFF numThreads=1, torch 1 thread).
* amide E/Z populations -- for each molecule with a partial double bond
  (:func:`geomgen.conformers.discrete_states.partial_double_bonds`: amides, carbamates, ureas,
  esters), the share of conformers with each site in state 1 (*cis* by canonical rank) for every
  method next to the reference's (the indicator on its rebuilt conformers, which carry each
  sample's stored states; references without stored per-sample states, format < 5, are left out:
  their conformers carry the seed's states and their recorded populations may use older labels);
  per split and method, the mean absolute difference over sites and the share of molecules whose
  every site is within 0.1, and the same per kind of site (amide, ester, acid, ...:
  :func:`geomgen.conformers.discrete_states.site_class`);
* nitrogen configurations -- the same for every invertible sp3 nitrogen whose pyramid is a
  configuration (:func:`geomgen.conformers.discrete_states.configurational_nitrogens`: three
  neighbours distinct by rank, not a stereocentre the input fixes), state 1 = positive signed
  volume (:func:`~geomgen.conformers.discrete_states.nitrogen_states`); the reference's from its
  stored states, as for the amides.

Writes evaluation/conformers/results.md (markdown table) and results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write_text
from geomgen.conformers.discrete_states import (
    SITE_CLASSES,
    amide_states,
    configurational_nitrogens,
    invertible_nitrogens,
    nitrogen_states,
    partial_double_bonds,
    site_class,
)
from geomgen.tables import publish

HERE = Path(__file__).resolve().parent
THRESHOLDS = (0.5, 0.75, 1.25)


def etkdg(ref, n, seed, relax=False):
    """The baseline on a reference's molecule: ETKDGv3, with ``relax`` 200 MMFF94 iterations.

    The minimisation keeps the molecule's aromaticity flags (RDKit's MMFF typing on the molecule
    itself would rewrite them, and a fused thiadiazole would stop matching the reference graph)."""
    from geomgen.conformers.embedding import etkdg_conformers

    return etkdg_conformers(ref.mol, n, seed, mmff_iters=200 if relax else 0)


def make_methods(model_path=None, seed_iters=None, candidates=()):
    """The methods by name. ``candidates`` ((name, checkpoint) pairs) add a plain-mode method
    ``geomgen[name]`` each, to compare checkpoints with the default one in the same run."""
    methods = {
        "etkdg": lambda refs, n, seed: [etkdg(r, n, seed) for r in refs],
        "etkdg+mmff": lambda refs, n, seed: [etkdg(r, n, seed, relax=True) for r in refs],
    }
    try:
        from geomgen.conformers import ConformerGenerator
    except ImportError:  # the generator is not part of this checkout
        return methods
    gens = {}

    def run(refs, n, seed, path=model_path, state_seeds=None, gen_opts=(), **kw):
        from rdkit import Chem

        opts = {} if seed_iters is None else {"seed_iters": seed_iters}
        if state_seeds is not None:
            opts["state_seeds"] = state_seeds
        opts.update(gen_opts)
        key = (path, state_seeds, tuple(gen_opts))
        if key not in gens:
            gens[key] = ConformerGenerator.from_checkpoint(path, **opts)
        # from the molecule alone: the generator embeds its own seed (timed), same atom order
        mols, _ = gens[key].generate_many([(r.id, Chem.Mol(r.mol)) for r in refs], n, seed=seed, **kw)
        return mols

    methods["geomgen"] = lambda refs, n, seed: run(refs, n, seed)
    methods["geomgen+relax"] = lambda refs, n, seed: run(refs, n, seed, relax=True)
    methods["geomgen+boltzmann"] = lambda refs, n, seed: run(refs, n, seed, boltzmann=True)
    # seeds in each amide E/Z state weighted by their Boltzmann weights (off by default)
    methods["geomgen+states"] = lambda refs, n, seed: run(refs, n, seed, state_seeds=8)
    # seeds assembled from the ring library (issue 27), with and without MMFF94 iterations on them
    methods["geomgen+assembly"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("seed_method", "assembly"),))
    # mixture components drawn systematically across each round's draws (the default since
    # 2026-12-03) or independently (before)
    methods["geomgen+stratified"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("stratify", True),))
    methods["geomgen+independent"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("stratify", False),))
    # achiral molecules: half of each seed's conformers on its mirror image (the default since
    # 2026-12-04), or none (before)
    methods["geomgen+mirror"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("mirror_images", True),))
    methods["geomgen+no-mirror"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("mirror_images", False),))
    # assembled seeds with every amide E/Z site in the assembler's usual state (the default), or
    # each site's state drawn from the amide state library (the default from 2026-12-03 16:25 to
    # 17:58: the "geomgen" rows of amide_library_seed1.md / seed2.md and amide_states_seed1.md)
    methods["geomgen+usual-amides"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("amide_states", "usual"),))
    methods["geomgen+library-amides"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("amide_states", "library"),))
    # both: the library places the sites it has fragments for, state seeds the others (acid O-H)
    methods["geomgen+library-amides+states"] = lambda refs, n, seed: run(refs, n, seed, state_seeds=8,
                                                                           gen_opts=(("amide_states", "library"),))
    # a carboxylic acid's O-H syn on every conformer (the default before 2026-12-06); since then its
    # states are seeded from their MMFF94 minima (acid_states="minima")
    methods["geomgen+usual-acids"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("acid_states", "usual"),))
    # issue 28's candidate for the RMSD gap: each conformer relaxed with its rotatable torsions held
    # (relax_bonds, geomgen conformers --relax-bonds ITERS), 200 iterations or the number given
    methods["geomgen+restrained"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("relax_bonds", 200),))
    for iters in (10, 30, 100, 500, 1000):
        methods[f"geomgen+restrained{iters}"] = lambda refs, n, seed, iters=iters: run(refs, n, seed,
                                                                                        gen_opts=(("relax_bonds", iters),))
    # the previous default: one ETKDGv3 seed per molecule
    methods["geomgen+etkdg-seeds"] = lambda refs, n, seed: run(refs, n, seed, gen_opts=(("seed_method", "etkdg"),))
    for iters in (0, 10, 20, 50, 100, 300, 1000):
        methods[f"geomgen+assembly+mmff{iters}"] = lambda refs, n, seed, iters=iters: run(
            refs, n, seed, gen_opts=(("seed_method", "assembly"), ("assembly_iters", iters)))
    # assembled seeds relaxed with their rotatable torsions held (seed_relaxation="held"), at a
    # number of MMFF94 iterations, against the default's free 100
    for iters in (10, 20, 30, 50, 100):
        methods[f"geomgen+held-seeds{iters}"] = lambda refs, n, seed, iters=iters: run(
            refs, n, seed, gen_opts=(("seed_relaxation", "held"), ("assembly_iters", iters)))
    for name, path in candidates:
        methods[f"geomgen[{name}]"] = lambda refs, n, seed, path=path: run(refs, n, seed, path=path)
    return methods


def score(ref, gen, n):
    from geomgen.conformers import MMFF, dihedral_angles, torsion_class
    from geomgen.conformers.reference.convergence import torsion_w1
    from geomgen.metrics import coverage

    if gen is None or gen.GetNumConformers() == 0:
        return None
    pos = np.stack([c.GetPositions() for c in gen.GetConformers()])
    ang = dihedral_angles(pos, ref.torsion_atoms)
    per_torsion = torsion_w1(ang, ref.angles, ref.symmetry)
    w1 = float(np.mean(per_torsion))
    cov = coverage(ref.conformers(n), gen, THRESHOLDS)
    mm = MMFF(ref.mol)
    de = float(mm.energies(pos).mean() - ref.energies.mean())
    classes = [torsion_class(ref.mol, int(q[1]), int(q[2])) for q in ref.torsion_atoms]
    amide = amide_states(ref.mol, pos).mean(0).tolist() if partial_double_bonds(ref.mol) else None
    nsites = nitrogen_sites(ref.mol)
    nitrogen = nitrogen_states(nsites, pos).mean(0).tolist() if nsites else None
    return {"w1": w1, "cov": cov, "de": de, "w1_by_class": list(zip(classes, per_torsion.tolist())), "amide": amide,
            "nitrogen": nitrogen}


def nitrogen_sites(mol) -> list:
    """The invertible nitrogens of ``mol`` whose pyramid is a configuration (entries of
    :func:`~geomgen.conformers.discrete_states.invertible_nitrogens`)."""
    sites = invertible_nitrogens(mol)
    return [sites[k] for k in configurational_nitrogens(mol, sites)]


def _stored_state_conformers(ref, n: int):
    """``[S, N, 3]``: ``n`` rebuilt reference conformers, which carry each sample's stored discrete
    states, or None for a record without them (format < 5: every conformer in the seed's states)."""
    if getattr(ref, "states", None) is None:
        return None
    conf = ref.conformers(min(n, len(ref.angles)))
    return np.stack([c.GetPositions() for c in conf.GetConformers()])


def reference_nitrogen_population(ref, n: int = 200) -> list[float] | None:
    """Share of the reference's samples with each nitrogen of :func:`nitrogen_sites` in state 1, on
    ``n`` rebuilt conformers with their stored states; ``None`` without sites or stored states."""
    sites = nitrogen_sites(ref.mol)
    pos = _stored_state_conformers(ref, n) if sites else None
    return None if pos is None else nitrogen_states(sites, pos).mean(0).tolist()


def reference_amide_population(ref, n: int = 200) -> list[float] | None:
    """Share of the reference's samples with each amide site of
    :func:`~geomgen.conformers.discrete_states.partial_double_bonds` in state 1, on ``n`` rebuilt
    conformers with their stored states; ``None`` without sites or stored states. The recorded
    ``state_population`` of older records is not used: it need not follow today's labels
    (drugs-00066, revision 5, records 0.98 for its acid's state 1, whose MMFF94 minimum is
    6.6 kcal/mol above state 0's)."""
    pos = _stored_state_conformers(ref, n) if partial_double_bonds(ref.mol) else None
    return None if pos is None else amide_states(ref.mol, pos).mean(0).tolist()


#: the reference's population of each kind of discrete state
REFERENCE_POPULATION = {"amide": reference_amide_population, "nitrogen": reference_nitrogen_population}


def state_summary(refs, scores, kind: str = "amide", reference: list | None = None) -> dict:
    """Per-molecule discrete-state populations (``kind``: ``"amide"`` or ``"nitrogen"``) of one
    method against the references (see the module docstring): ``molecules`` ([id, method,
    reference] per molecule with sites, both lists over its sites), ``MAD`` over sites and the
    share ``within 0.1`` of molecules. ``reference``: the references' populations, one per
    reference (default: :data:`REFERENCE_POPULATION` of each, computed here). For amide sites also
    ``by class``: per kind of partial double bond
    (:func:`~geomgen.conformers.discrete_states.site_class`: amide, ester, acid, ...) its number
    of ``sites``, their ``MAD`` and the share of sites ``within 0.1``."""
    if reference is None:
        reference = [REFERENCE_POPULATION[kind](r) for r in refs]
    kept = [(r, s, q) for r, s, q in zip(refs, scores, reference) if s is not None and s.get(kind) is not None and q is not None]
    per = [[r.id, s[kind], q] for r, s, q in kept]
    diffs = [np.abs(np.subtract(p, q)) for _, p, q in per]
    out = {"molecules": per,
           "MAD": float(np.mean(np.concatenate(diffs))) if diffs else float("nan"),
           "within 0.1": float(np.mean([d.max() <= 0.1 for d in diffs])) if diffs else float("nan")}
    if kind == "amide":
        by = {}
        for (r, _, _), d in zip(kept, diffs):
            for c, x in zip([site_class(r.mol, site) for site in partial_double_bonds(r.mol)], d):
                by.setdefault(c, []).append(float(x))
        out["by class"] = {c: {"sites": len(v), "MAD": float(np.mean(v)), "within 0.1": float(np.mean(np.array(v) <= 0.1))}
                           for c, v in sorted(by.items(), key=lambda kv: SITE_CLASSES.index(kv[0]))}
    return out


def verified_references(split: str, refs) -> list:
    """The converged references of ``split`` whose stored ensemble more independent reruns agreed
    with than disagreed, in the verification reports beside this script (``verify_references*.json``;
    :func:`~geomgen.conformers.reference.verification.verified_ids`)."""
    from geomgen.conformers.reference.verification import verified_ids

    reports = [json.loads(p.read_text()) for p in sorted(HERE.glob("verify_references*.json"))]
    _, agreed = verified_ids(reports, {split: {r.id: r for r in refs if r.converged}})
    return [r for r in refs if r.id in agreed.get(split, set())]


#: ``--with-sites``: which discrete-state sites a reference must have to be scored
SITE_KINDS = {"amide": lambda mol: len(partial_double_bonds(mol)) > 0, "nitrogen": lambda mol: len(nitrogen_sites(mol)) > 0}


def with_sites(refs, kinds) -> list:
    """The references whose molecule has a site of every kind in ``kinds`` (:data:`SITE_KINDS`), and,
    where the populations are compared, stored per-sample states to compare them with."""
    return [r for r in refs if getattr(r, "states", None) is not None and all(SITE_KINDS[k](r.mol) for k in kinds)]


def evaluate(split, methods, n, seed, max_molecules=None, all_molecules=False, verified_only=False, sites=()):
    from geomgen.conformers.reference.store import load_reference_set

    every = load_reference_set(split)
    if verified_only:
        refs = verified_references(split, every)
        which = "verified"
    else:
        refs = every if all_molecules else [r for r in every if r.converged]
        which = "all" if all_molecules else "converged"
    if sites:
        refs = with_sites(refs, sites)
        which += f", with {' and '.join(sites)} sites and stored states"
    refs = refs[:max_molecules]
    print(f"{split}: {sum(r.converged for r in every)} of {len(every)} references converged; scoring {len(refs)} ({which})", flush=True)
    if not refs:
        return []
    rows = []
    # the references' state populations rebuild their conformers: once, not once per method
    ref_pops = {kind: [f(r) for r in refs] for kind, f in REFERENCE_POPULATION.items()}
    for name, fn in methods.items():
        fn(refs[:1], 2, seed)  # warm-up (model loading, imports) outside the timed call
        t0 = time.perf_counter()
        gens = fn(refs, n, seed)
        secs = time.perf_counter() - t0
        n_conf = sum(g.GetNumConformers() for g in gens if g is not None)
        scores = [score(r, g, n) for r, g in zip(refs, gens)]
        ok = [s for s in scores if s is not None]
        row = {
            "split": split,
            "method": name,
            "molecules": len(refs),
            "references": which,
            "failed": len(refs) - len(ok),
            "W1 torsions": float(np.mean([s["w1"] for s in ok])),
            "dE": float(np.mean([s["de"] for s in ok])),
            "conf/s": n_conf / secs,
            "AMR-R": float(np.mean([s["cov"]["AMR-R"] for s in ok])),
            "AMR-P": float(np.mean([s["cov"]["AMR-P"] for s in ok])),
        }
        for t in THRESHOLDS:
            row[f"COV-R@{t}"] = float(np.mean([s["cov"]["COV-R"][t] for s in ok]))
            row[f"COV-P@{t}"] = float(np.mean([s["cov"]["COV-P"][t] for s in ok]))
        by_class = {}
        for s in ok:
            for cls, w in s["w1_by_class"]:
                by_class.setdefault(cls, []).append(w)
        row["W1 by torsion class"] = {cls: [float(np.mean(ws)), len(ws)] for cls, ws in by_class.items()}
        row["amide populations"] = state_summary(refs, scores, "amide", ref_pops["amide"])
        row["nitrogen populations"] = state_summary(refs, scores, "nitrogen", ref_pops["nitrogen"])
        # per molecule (JSON only): id, torsion W1, COV-R@0.75, AMR-R, COV-P@0.75, AMR-P, dE; null where generation failed
        row["per molecule"] = [[r.id, *((None,) * 6 if s is None else
                                        (round(s["w1"], 4), round(s["cov"]["COV-R"][0.75], 4), round(s["cov"]["AMR-R"], 4),
                                         round(s["cov"]["COV-P"][0.75], 4), round(s["cov"]["AMR-P"], 4), round(s["de"], 3)))]
                               for r, s in zip(refs, scores)]
        rows.append(row)
        print(f"{split} {name}: W1 {row['W1 torsions']:.3f}, COV-R@0.75 {row['COV-R@0.75']:.3f}, {row['conf/s']:.1f} conf/s", flush=True)
    return rows


def by_class_markdown(rows) -> list[str]:
    """Mean torsion W1 per torsion class (``geomgen.conformers.torsion_class``), methods side by
    side, with geomgen minus ETKDG+MMFF where both ran."""
    from geomgen.conformers import TORSION_CLASSES

    out = []
    for split in dict.fromkeys(r["split"] for r in rows):
        sub = [r for r in rows if r["split"] == split]
        classes = [c for c in TORSION_CLASSES if any(c in r["W1 by torsion class"] for r in sub)]
        if not classes:
            continue
        methods = [r["method"] for r in sub]
        diff = "geomgen" in methods and "etkdg+mmff" in methods
        out += ["", f"Mean torsion W1 (rad) by torsion class, {split} (torsions of the scored molecules; "
                    "`geomgen.conformers.torsion_class`):", "",
                "| class | torsions | " + " | ".join(methods) + (" | geomgen - ETKDG+MMFF |" if diff else " |"),
                "|" + "---|" * (2 + len(methods) + diff)]
        for c in classes:
            cells = [r["W1 by torsion class"].get(c) for r in sub]
            n = next(x[1] for x in cells if x is not None)
            line = f"| {c} | {n} | " + " | ".join("" if x is None else f"{x[0]:.3f}" for x in cells)
            if diff:
                g = sub[methods.index("geomgen")]["W1 by torsion class"].get(c)
                e = sub[methods.index("etkdg+mmff")]["W1 by torsion class"].get(c)
                line += f" | {g[0] - e[0]:+.3f}" if g and e else " | "
            out.append(line + " |")
    return out


#: the discrete states evaluate.py reports: row key, site label, what state 1 is
STATE_KINDS = {
    "amide": ("amide populations", "Amide E/Z populations", "each partial double bond in state 1 (cis by canonical rank, "
                                                             "`geomgen.conformers.discrete_states.amide_states`)"),
    "nitrogen": ("nitrogen populations", "Nitrogen configurations", "each configurational sp3 nitrogen in state 1 "
                                                                    "(positive signed volume, "
                                                                    "`geomgen.conformers.discrete_states.nitrogen_states`)"),
}


def state_markdown(rows, kind: str = "amide") -> list[str]:
    """Discrete-state populations per split (``kind`` of :data:`STATE_KINDS`): a summary per method
    and the molecules side by side."""
    key, title, what = STATE_KINDS[kind]
    out = []
    for split in dict.fromkeys(r["split"] for r in rows):
        sub = [r for r in rows if r["split"] == split and r.get(key, {}).get("molecules")]
        if not sub:
            continue
        out += ["", f"{title}, {split}: share of conformers with {what} against the reference's; "
                    "MAD over sites, share of molecules with every site within 0.1:", "",
                "| method | molecules | sites | MAD | within 0.1 |", "|---|---|---|---|---|"]
        for r in sub:
            a = r[key]
            sites = sum(len(q) for _, _, q in a["molecules"])
            out.append(f"| {r['method']} | {len(a['molecules'])} | {sites} | {a['MAD']:.3f} | {a['within 0.1']:.2f} |")
        mols = {}
        for r in sub:
            for mid, p, q in r[key]["molecules"]:
                mols.setdefault(mid, {"reference": q})[r["method"]] = p
        methods = [r["method"] for r in sub]
        classes = list(dict.fromkeys(c for r in sub for c in r[key].get("by class", {})))
        if classes:
            out += ["", "By kind of partial double bond (`geomgen.conformers.discrete_states.site_class`): MAD over "
                        "its sites (sites within 0.1 of the reference's population / sites):", "",
                    "| method | " + " | ".join(classes) + " |", "|" + "---|" * (1 + len(classes))]
            for r in sub:
                by = r[key].get("by class", {})
                cells = [f"{by[c]['MAD']:.3f} ({round(by[c]['within 0.1'] * by[c]['sites'])}/{by[c]['sites']})" if c in by else ""
                         for c in classes]
                out.append(f"| {r['method']} | " + " | ".join(cells) + " |")
        out += ["", "| molecule | site | reference | " + " | ".join(methods) + " |", "|" + "---|" * (3 + len(methods))]
        for mid, d in mols.items():
            for k, q in enumerate(d["reference"]):
                cells = ["" if m not in d else f"{d[m][k]:.2f}" for m in methods]
                out.append(f"| {mid} | {kind}-{k} | {q:.2f} | " + " | ".join(cells) + " |")
    return out


def to_markdown(rows, header):
    cols = ["split", "method", "molecules", "failed", "W1 torsions", "COV-R@0.5", "COV-R@0.75", "COV-R@1.25", "AMR-R",
            "COV-P@0.5", "COV-P@0.75", "COV-P@1.25", "AMR-P", "dE", "conf/s"]
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{r[c]:.3f}" if isinstance(r[c], float) and c not in ("conf/s", "dE") else
                 (f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c])) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += by_class_markdown(rows)
    lines += state_markdown(rows) + state_markdown(rows, "nitrogen")
    # ratios against ETKDG per split (when ETKDG was run)
    if not any(r["method"] == "etkdg" for r in rows):
        return "\n".join(lines) + "\n"
    lines += ["", "Ratios against ETKDG (plain) on the same molecules in this run:", "",
              "| split | method | W1 / W1(ETKDG) | COV-R@0.75 - ETKDG | speed / ETKDG |", "|---|---|---|---|---|"]
    for r in rows:
        base = next((b for b in rows if b["split"] == r["split"] and b["method"] == "etkdg"), None)
        if base is None:
            continue
        lines.append(f"| {r['split']} | {r['method']} | {r['W1 torsions'] / base['W1 torsions']:.2f} | "
                     f"{r['COV-R@0.75'] - base['COV-R@0.75']:+.3f} | {r['conf/s'] / base['conf/s']:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test", "drugs"])
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("-n", type=int, default=50, help="conformers per molecule (default 50)")
    ap.add_argument("--max-molecules", type=int, default=None)
    ap.add_argument("--all-molecules", action="store_true",
                    help="score against every reference, converged or not (default: converged references only)")
    ap.add_argument("--verified-only", action="store_true",
                    help="score only converged references that an independent rerun confirmed (verify_references*.json here)")
    ap.add_argument("--with-sites", nargs="+", choices=sorted(SITE_KINDS), default=[], metavar="KIND",
                    help="score only references with discrete-state sites of these kinds (amide, nitrogen) and stored "
                         "per-sample states: the molecules the population comparison is about")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="VonMisesNet checkpoint (default: shipped)")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=CHECKPOINT",
                    help="also run plain geomgen with this checkpoint, as method geomgen[NAME] (repeatable)")
    ap.add_argument("--seed-iters", type=int, default=None,
                    help="MMFF94 iterations on geomgen's seed geometry (default: the generator's own default)")
    ap.add_argument("-o", "--output", default=str(HERE / "results.md"))
    args = ap.parse_args(argv)
    if args.all_molecules and args.verified_only:
        ap.error("--all-molecules and --verified-only exclude each other")
    import torch

    torch.set_num_threads(1)
    candidates = []
    for c in args.candidate:
        name, sep, path = c.partition("=")
        if not sep or not name or not Path(path).is_file():
            ap.error(f"--candidate {c!r}: expected NAME=CHECKPOINT with an existing checkpoint file")
        candidates.append((name, path))
    methods = make_methods(args.model, args.seed_iters, candidates)
    if args.methods:
        unknown = set(args.methods) - set(methods)
        if unknown:
            raise SystemExit(f"unknown method(s) {sorted(unknown)}; available: {sorted(methods)}")
        methods = {k: methods[k] for k in [*args.methods, *(f"geomgen[{n}]" for n, _ in candidates)] if k in methods}
    t0 = time.time()
    rows = []
    for split in args.splits:
        rows += evaluate(split, methods, args.n, args.seed, args.max_molecules, args.all_molecules, args.verified_only,
                         args.with_sites)
    header = (f"Conformer generation vs MMFF94 Boltzmann references (300 K); n = {args.n} conformers per molecule, "
              f"seed {args.seed}, {os.cpu_count()} cores, wall time {time.time() - t0:.0f} s.\n"
              f"Command: python -m evaluation.conformers.evaluate --splits {' '.join(args.splits)} -n {args.n}"
              + (f" --seed {args.seed}" if args.seed else "")
              + (f" --max-molecules {args.max_molecules}" if args.max_molecules else "")
              + (" --all-molecules" if args.all_molecules else "")
              + (" --verified-only" if args.verified_only else "")
              + (f" --with-sites {' '.join(args.with_sites)}" if args.with_sites else "")
              + (f" --methods {' '.join(args.methods)}" if args.methods else "")
              + "".join(f" --candidate {c}" for c in args.candidate))
    text = to_markdown(rows, header)
    out = Path(args.output)
    publish(out, text)
    atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
