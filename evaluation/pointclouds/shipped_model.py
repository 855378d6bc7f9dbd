"""Scores of a point-cloud autoencoder file (default: the shipped models/pointcloud_ae_shapes.pt)
on the test split of the procedural shapes it was trained on (``--split train`` scores the
shapes it was trained on instead: the gap between the two is the generalisation gap per class).

Reports mean Chamfer distance, SW_2 (L = 1000 fixed directions) and exact EMD between the
normalised test clouds and their reconstructions, overall and per class (``per_class``: the
held-out table of the model card); writes ``shipped_model.json`` next to this script (atomically;
``--out`` for another file, e.g. to score a candidate model without touching it) and prints it.

    OMP_NUM_THREADS=1 python -m evaluation.pointclouds.shipped_model [--model FILE] [--split train]
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch

from geomgen.atomic import atomic_write_text
from geomgen.metrics import chamfer_distance, earth_movers_distance
from geomgen.pointclouds.cli import load_autoencoder
from geomgen.pointclouds.losses import random_projections, sliced_wasserstein
from geomgen.pointclouds.shapes import ProceduralShapes
from geomgen.pointclouds.transforms import NormalizeUnitBall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--shapes-per-class", type=int, default=100, help="must match the training data config")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--out", type=Path, default=None, help="default: shipped_model.json next to this script "
                   "(shipped_model_<split>.json for another split)")
    args = p.parse_args()
    if args.out is None:
        suffix = "" if args.split == "test" else f"_{args.split}"
        args.out = Path(__file__).resolve().parent / f"shipped_model{suffix}.json"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model, meta = load_autoencoder(args.model)
    n = model.config()["n_points"]
    test = ProceduralShapes(None, args.split, n, args.shapes_per_class, args.seed, transform=NormalizeUnitBall())
    x = torch.stack([test[i][0] for i in range(len(test))])
    labels = torch.stack([test[i][1] for i in range(len(test))])
    t0 = time.time()
    with torch.no_grad():
        recon = torch.cat([model(x[i : i + 64]) for i in range(0, len(x), 64)])
        theta = random_projections(1000, 3, generator=torch.Generator().manual_seed(12345), like=x)
        per = {
            "chamfer": chamfer_distance(x, recon),
            "sw": sliced_wasserstein(x, recon, projections=theta),
            "emd": earth_movers_distance(x, recon),
        }
    scores = {k: float(v.mean()) for k, v in per.items()}
    per_class = {
        name: {k: float(v[labels == c].mean()) for k, v in per.items()} | {"shapes": int((labels == c).sum())}
        for c, name in enumerate(test.classes)
        if (labels == c).any()
    }
    out = {"model": str(args.model or "models/pointcloud_ae_shapes.pt"), "meta": meta, "split": args.split, "test_shapes": len(x),
           "n_points": n, "scores": scores, "per_class": per_class, "eval_s": time.time() - t0}  # fmt: skip
    atomic_write_text(args.out, json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
