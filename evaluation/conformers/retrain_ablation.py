"""VonMisesNet retraining choices, measured on converged references, side by side with the shipped model.

    python evaluation/conformers/retrain_ablation.py [--variants all rebuilt deep ...] [--seeds 0 1]
        [--epochs 30] [-o evaluation/conformers/retrain_ablation.md]

Each variant is a training-data subset (``all`` references of the training split, only those
``rebuilt`` by the current reference sampler, or only the ``converged`` ones) and network
settings. Every variant is fitted with the shipped config's optimiser and schedule
(``geomgen/conformers/configs/vonmisesnet.yaml``) for ``--epochs`` epochs, selecting the epoch
by W1 on the *converged* validation references, and is then scored on the converged references
of val, test and drugs. The shipped checkpoint is scored in the same run on the same molecules.

The score is the network's own marginal: ``w1_samples`` torsion draws from each predicted
mixture against all reference samples, circular W1 with each torsion taken modulo its graph
symmetry (the rule of the evaluation and of the convergence check), averaged over torsions of the
split. ``geomgen conformers`` sets exactly these sampled torsions on the seed geometry, so this is
the plain generator's torsion W1 without the cost of building conformers; the full comparison with
ETKDG is ``evaluate.py --model``. One thread per fit; the table reports mean and spread over seeds.

Writes the markdown table to ``-o`` and the numbers to the same name with ``.json``; each
variant's best checkpoint stays under ``--work`` (default ``runs/retrain_ablation``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SPLITS = ("val", "test", "drugs")

#: name -> (training subset, VonMisesNet arguments on top of the shipped config's)
VARIANTS = {
    "all": ("all", {}),
    "rebuilt": ("rebuilt", {}),
    "converged": ("converged", {}),
    "rebuilt-deep": ("rebuilt", {"num_layers": 8}),
    "rebuilt-k10": ("rebuilt", {"num_components": 10}),
    "rebuilt-wide": ("rebuilt", {"hidden": 192}),
    "rebuilt-tf": ("rebuilt", {"torsion_features": True}),
    "all-tf": ("all", {"torsion_features": True}),
    "all-deep": ("all", {"num_layers": 8}),
    "all-k10": ("all", {"num_components": 10}),
}


def shipped_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "geomgen/conformers/configs/vonmisesnet.yaml").read_text())


def score(system, splits, cache) -> dict:
    """Torsion-weighted mean W1 (modulo symmetry) of ``system`` on each split's converged references."""
    import lightning as L

    from geomgen.conformers.datamodule import ConformerDataModule

    out = {}
    for split in splits:
        dm = ConformerDataModule(train=split, val=split, test=split, batch_size=64, root=cache, converged_only=True)
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
        out[split] = float(trainer.test(system, dm, verbose=False)[0]["test/w1"])
    return out


def fit(name, seed, epochs, work, cache) -> dict:
    import lightning as L

    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.model import VonMisesNet
    from geomgen.conformers.system import VonMisesNetSystem

    subset, net_args = VARIANTS[name]
    cfg = shipped_config()
    L.seed_everything(seed, verbose=False)
    net = VonMisesNet(**{**cfg["model"]["net"]["init_args"], **net_args})
    system = VonMisesNetSystem(net, lr=cfg["model"]["lr"], weight_decay=cfg["model"]["weight_decay"])
    data = {k: v for k, v in cfg["data"].items()}
    dm = ConformerDataModule(**data, root=cache, converged_only=True, train_subset=subset)
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
    return {"variant": name, "seed": seed, "train_subset": subset, "net": net.config, "train_molecules": len(dm.train_set),
            "fit_seconds": seconds, "checkpoint": str(run_dir / "best.ckpt")}


def to_markdown(rows, shipped, header) -> str:
    lines = [header, "", "| model | train molecules | seeds | " + " | ".join(f"W1 {s} (rad)" for s in SPLITS)
             + " | " + " | ".join(f"vs shipped {s}" for s in SPLITS) + " |",
             "|---|---|---|" + "---|" * (2 * len(SPLITS))]
    lines.append("| shipped models/vonmisesnet.ckpt | 2200 (references of the first sampler) | - | "
                 + " | ".join(f"{shipped[s]:.3f}" for s in SPLITS) + " |" + " 1.00 |" * len(SPLITS))
    by = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    for name, rs in by.items():
        cells = []
        for s in SPLITS:
            v = np.array([r["w1"][s] for r in rs])
            cells.append(f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else ""))
        ratios = [f"{np.mean([r['w1'][s] for r in rs]) / shipped[s]:.2f}" for s in SPLITS]
        net = rs[0]["net"]
        desc = (f"{name} (layers {net['num_layers']}, K {net['num_components']}, hidden {net['hidden']}"
                + (", torsion features" if net.get("torsion_features") else "") + ")")
        lines.append(f"| {desc} | {rs[0]['train_molecules']} | {len(rs)} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["all", "rebuilt", "converged"], choices=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=30, help="epochs per fit (default 30, the shipped config's)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "retrain_ablation"), help="checkpoints (a rerun reuses finished fits)")
    ap.add_argument("--model", default=None, help="checkpoint to compare against (default: the shipped one)")
    ap.add_argument("-o", "--output", default=str(HERE / "retrain_ablation.md"))
    args = ap.parse_args(argv)
    import torch

    from geomgen.assets import asset_path
    from geomgen.conformers.system import VonMisesNetSystem

    torch.set_num_threads(1)
    cache = str(Path(args.work) / "cache")
    t0 = time.time()
    shipped = score(VonMisesNetSystem.from_checkpoint(args.model or asset_path("models/vonmisesnet.ckpt")), SPLITS, cache)
    print(f"shipped: {shipped}", flush=True)
    rows = []
    for name in args.variants:
        for seed in args.seeds:
            row = fit(name, seed, args.epochs, args.work, cache)
            row["w1"] = score(VonMisesNetSystem.from_checkpoint(row["checkpoint"]), SPLITS, cache)
            print(f"{name} seed {seed}: {row['w1']} ({row['train_molecules']} training molecules)", flush=True)
            rows.append(row)
    from geomgen.conformers.reference.store import load_reference_set

    counts = {s: sum(r.converged and len(r.torsion_atoms) > 0 for r in load_reference_set(s)) for s in SPLITS}
    header = (f"VonMisesNet retraining variants: mean torsion W1 of the network's marginals (modulo graph symmetry) on "
              f"converged references ({', '.join(f'{s} {n}' for s, n in counts.items())} molecules with torsions); "
              f"{args.epochs} epochs, epoch selected on converged val; wall time {time.time() - t0:.0f} s.\n"
              f"Command: python evaluation/conformers/retrain_ablation.py --variants {' '.join(args.variants)} "
              f"--seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs}")
    text = to_markdown(rows, shipped, header)
    print(text)
    out = Path(args.output)
    atomic_write_text(out, text)
    atomic_write_text(out.with_suffix(".json"), json.dumps({"shipped": shipped, "rows": rows, "converged": counts}, indent=1))


if __name__ == "__main__":
    main()
