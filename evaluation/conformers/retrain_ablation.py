"""VonMisesNet retraining choices, measured on converged references, side by side with the shipped model.

    python -m evaluation.conformers.retrain_ablation [--variants all rebuilt deep ...] [--seeds 0 1]
        [--epochs 30] [-o evaluation/conformers/retrain_ablation_full.md]

Each variant is a training-data subset (``all`` references of the training split, only those
``rebuilt`` by the current reference sampler, only the ``converged`` ones, or ``all+extra``: the
training split and ``reference_train_extra.npz``, the molecules selected for the drugs' make-up), network
settings and training options: ``sym`` shifts the samples of symmetric torsions by random
symmetry periods (``symmetrize``), ``uw0`` / ``uw03`` weight torsions whose own references did not
converge by 0 / 0.3 in the loss (``unconverged_weight``). ``matched-new`` and ``matched-old`` separate the references' quality from their number:
both train on the molecules rebuilt so far, with the current references and with those of an
earlier training file (``--old-train``, e.g. ``git show c8ce09c:data/conformers/reference_train.npz``,
the first sampler's 2 chains x 300 sweeps). Every variant is fitted with the shipped config's optimiser and schedule
(``geomgen/conformers/configs/vonmisesnet.yaml``) for ``--epochs`` epochs, selecting the epoch
by W1 on the *converged* validation references, and is then scored on the converged references
of val, test and drugs. The shipped checkpoint is scored in the same run on the same molecules.

The score is the network's own marginal: 200 torsion draws from each predicted mixture against
all reference samples, circular W1 with each torsion taken modulo its graph symmetry (the rule of
the evaluation and of the convergence check), averaged over a molecule's torsions and then over
molecules (as ``evaluate.py`` averages), and per torsion class over the three splits' torsions.
``geomgen conformers`` sets such sampled torsions on the seed geometry (clash rejection aside), so
this is the plain generator's torsion W1 without the cost of building conformers; the full
comparison with ETKDG is ``evaluate.py --model``. One thread per fit; the table reports mean and spread over seeds,
and with ``--ensemble`` each variant's seeds scored together as one ensemble
(:class:`~geomgen.conformers.model.VonMisesNetEnsemble`, the mean of their densities).

Writes the markdown table to ``-o`` and the numbers to the same name with ``.json``; each
variant's best checkpoint stays under ``--work`` (default ``runs/retrain_ablation``), with the
snapshot of the training set that every variant used (a build under way rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write, atomic_write_text
from geomgen.tables import publish

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SPLITS = ("val", "test", "drugs")

#: name -> (training subset, VonMisesNet arguments on top of the shipped config's, training
#: options: ``symmetrize`` of the datamodule, ``unconverged_weight`` of the system); the
#: ``matched-*`` subsets are files written by :func:`matched_files`
VARIANTS = {
    "matched-new": ("matched-new", {}, {}),
    "matched-old": ("matched-old", {}, {}),
    "all": ("all", {}, {}),
    "rebuilt": ("rebuilt", {}, {}),
    "converged": ("converged", {}, {}),
    "rebuilt-deep": ("rebuilt", {"num_layers": 8}, {}),
    "rebuilt-k10": ("rebuilt", {"num_components": 10}, {}),
    "rebuilt-wide": ("rebuilt", {"hidden": 192}, {}),
    "rebuilt-tf": ("rebuilt", {"torsion_features": True}, {}),
    "all-tf": ("all", {"torsion_features": True}, {}),
    "all-deep": ("all", {"num_layers": 8}, {}),
    "all-k10": ("all", {"num_components": 10}, {}),
    "all-wide": ("all", {"hidden": 192}, {}),
    "all-tf-k10": ("all", {"torsion_features": True, "num_components": 10}, {}),
    "all-sym": ("all", {}, {"symmetrize": True}),
    "all-uw0": ("all", {}, {"unconverged_weight": 0.0}),
    "all-uw03": ("all", {}, {"unconverged_weight": 0.3}),
    "all-sym-tf": ("all", {"torsion_features": True}, {"symmetrize": True}),
    # the training split and the molecules selected for the drugs' make-up (data/conformers/select_training.py)
    "all+extra": ("all+extra", {}, {}),
    # each torsion conditioned on its earlier neighbours' angles (geomgen.conformers.coupling)
    "all-coupled": ("all", {"coupling": True}, {}),
    "all+extra-coupled": ("all+extra", {"coupling": True}, {}),
    # the parents only reweight each torsion's own mixture components, which stay its marginal's
    "all-coupled-w": ("all", {"coupling": True, "coupling_mode": "weights"}, {"marginal_weight": 1.0}),
}


def shipped_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "geomgen/conformers/configs/vonmisesnet.yaml").read_text())


class Scorer:
    """Scores a network's marginals on the converged references of each split: mean over
    molecules of the mean torsion W1 (modulo symmetry), as ``evaluate.py`` averages, and the mean
    W1 per torsion class; and its joint law: the held-out negative log-likelihood of
    ``nll_samples`` evenly spaced reference samples per molecule, per torsion (the joint
    log-density over the molecule's torsions divided by their number, averaged over molecules),
    which sees the coupling of torsions that marginal W1 cannot. Graphs are featurized once and
    shared by every model scored."""

    def __init__(self, splits, samples: int = 200, nll_samples: int = 200):
        self.nll_samples = nll_samples
        from geomgen.conformers.features import featurize
        from geomgen.conformers.reference.store import load_reference_set
        from geomgen.conformers.torsions import torsion_class

        self.samples = samples
        self.sets = {}
        for split in splits:
            items = []
            for ref in load_reference_set(split, converged_only=True):
                if len(ref.torsion_atoms):
                    classes = [torsion_class(ref.mol, int(q[1]), int(q[2])) for q in ref.torsion_atoms]
                    items.append((featurize(ref.mol, ref.torsion_atoms, torsion_features=True), ref.angles, ref.symmetry, classes))
            self.sets[split] = items

    def __call__(self, net) -> dict:
        import dataclasses

        import torch

        from geomgen.conformers.reference.convergence import torsion_w1

        out = {}
        for split, items in self.sets.items():
            per_mol, by_class, nll = [], {}, []
            g = torch.Generator().manual_seed(1234)
            for graph, angles, symmetry, classes in items:
                if not net.torsion_features:
                    graph = dataclasses.replace(graph, torsion_attr=None)
                with torch.no_grad():
                    law = net.law(graph)
                    draws = law.sample((self.samples,), generator=g).numpy()
                    rows = np.linspace(0, len(angles) - 1, min(self.nll_samples, len(angles))).round().astype(int)
                    held = torch.as_tensor(np.asarray(angles)[rows], dtype=torch.float32)
                    nll.append(-float(law.log_prob(held).sum(-1).mean()) / held.shape[1])
                w = torsion_w1(draws, angles, symmetry)
                per_mol.append(float(w.mean()))
                for c, x in zip(classes, w):
                    by_class.setdefault(c, []).append(float(x))
            out[split] = {"w1": float(np.mean(per_mol)), "nll": float(np.mean(nll)), "molecules": len(items),
                          "by_class": {c: [float(np.mean(v)), len(v)] for c, v in sorted(by_class.items())}}
        return out


def matched_files(current, old_train, work) -> dict:
    """Two training files over the molecules the training set ``current`` has rebuilt: their
    current references (``matched-new``) and those of ``old_train`` (``matched-old``)."""
    import csv

    from geomgen.conformers.reference.build import SAMPLER_VERSION
    from geomgen.conformers.reference.store import assemble, read_records

    recs = read_records(current)
    old = read_records(old_train)
    ids = [i for i, r in recs.items() if json.loads(r["diagnostics"]).get("sampler_version") == SAMPLER_VERSION
           and i in old and json.loads(old[i]["diagnostics"]).get("sampler_version") != SAMPLER_VERSION]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    ids_csv = work / "matched_ids.csv"
    with open(ids_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "smiles", "source"])
        w.writerows([i, recs[i]["smiles"], "train"] for i in ids)
    out = {}
    for name, source in (("matched-new", current), ("matched-old", Path(old_train))):
        out[name] = str(work / f"train_{name}.npz")
        assemble(ids_csv, work / "empty", out[name], previous=source)
    return out


def fit(name, seed, epochs, work, cache, sources) -> dict:
    import lightning as L

    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.model import VonMisesNet
    from geomgen.conformers.system import VonMisesNetSystem

    subset, net_args, options = VARIANTS[name]
    cfg = shipped_config()
    L.seed_everything(seed, verbose=False)
    net = VonMisesNet(**{**cfg["model"]["net"]["init_args"], **net_args})
    system = VonMisesNetSystem(net, lr=cfg["model"]["lr"], weight_decay=cfg["model"]["weight_decay"],
                               unconverged_weight=options.get("unconverged_weight", 1.0),
                               marginal_weight=options.get("marginal_weight", 0.0))
    data = {**cfg["data"], "train": sources["train"], "converged_only": True, "train_subset": subset,
            "symmetrize": options.get("symmetrize", False)}
    if subset.startswith("matched-"):
        data.update(train=sources[subset], train_subset="all")
    elif subset == "all+extra":
        data.update(train=[sources["train"], sources["train_extra"]], train_subset="all")
    dm = ConformerDataModule(**data, root=cache)
    run_dir = Path(work) / f"{name}-seed{seed}"
    best = L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir, monitor="val/w1", mode="min", filename="best")
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, callbacks=[best],
                        gradient_clip_val=cfg["trainer"]["gradient_clip_val"], enable_progress_bar=True,
                        enable_model_summary=False, default_root_dir=str(run_dir))
    t0 = time.perf_counter()
    if (run_dir / "best.ckpt").exists():  # a finished fit of an earlier run
        seconds = None
    else:
        trainer.fit(system, dm)
        seconds = time.perf_counter() - t0
    dm.setup("fit")
    return {"variant": name, "seed": seed, "train_subset": subset, "net": net.config, "options": options,
            "train_molecules": len(dm.train_set),
            "fit_seconds": seconds, "checkpoint": str(run_dir / "best.ckpt")}


def _pooled_classes(scores) -> dict:
    """Per torsion class, the mean W1 over the torsions of all splits: {class: (mean, count)}."""
    acc = {}
    for v in scores.values():
        for c, (m, n) in v["by_class"].items():
            s, k = acc.get(c, (0.0, 0))
            acc[c] = (s + m * n, k + n)
    return {c: (s / k, k) for c, (s, k) in acc.items()}


def to_markdown(rows, shipped, header, shipped_label="shipped models/vonmisesnet.ckpt") -> str:
    def nll(v):  # reports written before the joint NLL existed have none
        return f"{v['nll']:.3f}" if "nll" in v else "-"

    lines = [header, "", "| model | train molecules | seeds | " + " | ".join(f"W1 {s} (rad)" for s in SPLITS)
             + " | " + " | ".join(f"vs shipped {s}" for s in SPLITS) + " | " + " | ".join(f"NLL {s}" for s in SPLITS) + " |",
             "|---|---|---|" + "---|" * (3 * len(SPLITS))]
    lines.append(f"| {shipped_label} | - | - | "
                 + " | ".join(f"{shipped[s]['w1']:.3f}" for s in SPLITS) + " |" + " 1.00 |" * len(SPLITS)
                 + " " + " | ".join(nll(shipped[s]) for s in SPLITS) + " |")
    by = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    names = {}
    for name, rs in by.items():
        cells = []
        for s in SPLITS:
            v = np.array([r["scores"][s]["w1"] for r in rs])
            cells.append(f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else ""))
        ratios = [f"{np.mean([r['scores'][s]['w1'] for r in rs]) / shipped[s]['w1']:.2f}" for s in SPLITS]
        net = rs[0]["net"]
        names[name] = (f"{name} (layers {net['num_layers']}, K {net['num_components']}, hidden {net['hidden']}"
                       + (", torsion features" if net.get("torsion_features") else "")
                       + (f", coupled ({net.get('coupling_mode', 'full')})" if net.get("coupling") else "")
                       + "".join(f", {k} {v}" for k, v in rs[0].get("options", {}).items()) + ")")
        seeds = rs[0].get("members", len(rs))
        nlls = []
        for s in SPLITS:
            v = np.array([r["scores"][s].get("nll", np.nan) for r in rs])
            nlls.append("-" if np.isnan(v).all() else f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else ""))
        lines.append(f"| {names[name]} | {rs[0]['train_molecules']} | {seeds} | " + " | ".join(cells) + " | " + " | ".join(ratios)
                     + " | " + " | ".join(nlls) + " |")
    ship = _pooled_classes(shipped)
    classes = sorted(ship, key=lambda c: -ship[c][1])
    lines += ["", f"Mean W1 (rad) per torsion class, torsions of the {', '.join(SPLITS)} splits pooled (mean over seeds):", "",
              "| model | " + " | ".join(f"{c} ({ship[c][1]})" for c in classes) + " |", "|---|" + "---|" * len(classes),
              "| shipped | " + " | ".join(f"{ship[c][0]:.3f}" for c in classes) + " |"]
    for name, rs in by.items():
        pooled = [_pooled_classes(r["scores"]) for r in rs]
        lines.append(f"| {name} | " + " | ".join(f"{np.mean([p[c][0] for p in pooled]):.3f}" for c in classes) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["all", "rebuilt", "converged"], choices=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=30, help="epochs per fit (default 30, the shipped config's)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "retrain_ablation"), help="checkpoints (a rerun reuses finished fits)")
    ap.add_argument("--model", default=None, help="checkpoint to compare against (default: the shipped one)")
    ap.add_argument("--old-train", default=None, help="earlier training references, for the matched-* variants")
    ap.add_argument("--ensemble", action="store_true",
                    help="also score each variant's seeds as one ensemble (the mean of their mixture densities)")
    ap.add_argument("-o", "--output", default=str(HERE / "retrain_ablation.md"))
    args = ap.parse_args(argv)
    import torch

    from geomgen.assets import asset_path
    from geomgen.conformers.checkpoint import load_vonmisesnet

    torch.set_num_threads(1)
    cache = str(Path(args.work) / "cache")
    t0 = time.time()
    score = Scorer(SPLITS)
    shipped = score(load_vonmisesnet(args.model or asset_path("models/vonmisesnet.ckpt")))
    print(f"shipped: { {s: round(v['w1'], 4) for s, v in shipped.items()} }", flush=True)
    # one snapshot of the training set for every variant: a build under way reassembles the file
    import shutil

    Path(args.work).mkdir(parents=True, exist_ok=True)
    sources = {"train": str(Path(args.work) / "train_snapshot.npz")}
    # atomically: runs sharing --work (disjoint variants in parallel) may read it meanwhile
    atomic_write(sources["train"], lambda tmp: shutil.copyfile(asset_path("data/conformers/reference_train.npz"), tmp))
    if any(VARIANTS[v][0] == "all+extra" for v in args.variants):
        try:
            extra = asset_path("data/conformers/reference_train_extra.npz")
        except FileNotFoundError as exc:
            ap.error(f"the all+extra variant needs the train_extra references (build_references.py --splits train_extra): {exc}")
        sources["train_extra"] = str(Path(args.work) / "train_extra_snapshot.npz")
        atomic_write(sources["train_extra"], lambda tmp: shutil.copyfile(extra, tmp))
    if any(v.startswith("matched-") for v in args.variants):
        if not args.old_train:
            ap.error("the matched-* variants need --old-train")
        sources.update(matched_files(sources["train"], args.old_train, args.work))
    rows = []
    for name in args.variants:
        for seed in args.seeds:
            row = fit(name, seed, args.epochs, args.work, cache, sources)
            row["scores"] = score(load_vonmisesnet(row["checkpoint"]))
            print(f"{name} seed {seed}: { {s: round(v['w1'], 4) for s, v in row['scores'].items()} } "
                  f"({row['train_molecules']} training molecules)", flush=True)
            rows.append(row)
    if args.ensemble:
        from geomgen.conformers.model import VonMisesNetEnsemble

        for name in args.variants:
            members = [r for r in rows if r["variant"] == name]
            row = {**members[0], "variant": f"{name} ensemble x{len(members)}", "seed": None, "members": len(members), "fit_seconds": None,
                   "checkpoint": [r["checkpoint"] for r in members]}
            row["scores"] = score(VonMisesNetEnsemble([load_vonmisesnet(r["checkpoint"]) for r in members]))
            print(f"{row['variant']}: { {s: round(v['w1'], 4) for s, v in row['scores'].items()} }", flush=True)
            rows.append(row)
    counts = {s: v["molecules"] for s, v in shipped.items()}
    from geomgen.conformers.reference.build import SAMPLER_VERSION
    from geomgen.conformers.reference.store import is_converged, read_records

    diags = [json.loads(r["diagnostics"]) for r in read_records(sources["train"]).values()]
    rebuilt = [d for d in diags if d.get("sampler_version") == SAMPLER_VERSION]
    snapshot = (f"training-set snapshot: {len(rebuilt)} of {len(diags)} molecules rebuilt by the current sampler, "
                f"{sum(map(is_converged, rebuilt))} of them converged")
    header = (f"VonMisesNet retraining variants: mean torsion W1 of the network's marginals (modulo graph symmetry) on "
              f"converged references ({', '.join(f'{s} {n}' for s, n in counts.items())} molecules with torsions); "
              f"{args.epochs} epochs, epoch selected on converged val; {snapshot}; wall time {time.time() - t0:.0f} s.\n"
              f"Command: python -m evaluation.conformers.retrain_ablation --variants {' '.join(args.variants)} "
              f"--seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs}" + (" --ensemble" if args.ensemble else "")
              + (f" --old-train {args.old_train}" if args.old_train else ""))
    text = to_markdown(rows, shipped, header, f"compared: {args.model}" if args.model else "shipped models/vonmisesnet.ckpt")
    out = Path(args.output)
    publish(out, text)
    atomic_write_text(out.with_suffix(".json"), json.dumps({"shipped": shipped, "rows": rows, "converged": counts,
                                                            "snapshot": snapshot}, indent=1))


if __name__ == "__main__":
    main()
