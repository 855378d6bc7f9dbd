"""Torus check of a point-cloud autoencoder (default: the shipped models/pointcloud_ae_shapes.pt):
does the reconstruction of the shipped example torus keep its hole?

Reconstructs ``geomgen/pointclouds/example_clouds/torus.npy`` (through the same path as
``geomgen pointcloud reconstruct --example torus``: resampled to the model's point count with
seeds 0..S-1, normalised, reconstructed, mapped back) and applies
:func:`geomgen.pointclouds.torus_check.torus_hole_check` (share of reconstructed points within
half the hole radius of the axis; passes at <= 1 %). Also reports the reconstruction's height
along the axis against the input's, and the Chamfer distance. Writes ``torus_check.json`` next
to this script (atomically; ``--out`` for another file) and prints it.

    OMP_NUM_THREADS=1 python -m evaluation.pointclouds.torus_check [--model FILE]
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from geomgen.metrics import chamfer_distance
from geomgen.pointclouds.checkpoint import load_autoencoder
from geomgen.pointclouds.examples import load_example
from geomgen.pointclouds.io import normalize_unit_ball, resample_points
from geomgen.pointclouds.torus_check import torus_frame, torus_hole_check
from geomgen.tables import publish


def check(model, torus: np.ndarray, seeds: int = 5) -> dict:
    n = model.config()["n_points"]
    centre, axis, _ = torus_frame(torus)
    rows = []
    for seed in range(seeds):
        x = resample_points(torus.astype(np.float64), n, np.random.default_rng(seed))
        x_n, c, scale = normalize_unit_ball(x)
        with torch.no_grad():
            y = model(torch.from_numpy(x_n[None].astype(np.float32)))[0].numpy().astype(np.float64) * scale + c
        res = torus_hole_check(y, torus)
        rows.append({
            "seed": seed, "share_near_axis": res.share, "passed": res.passed,
            "height_recon": float(np.ptp((y - centre) @ axis)),
            "chamfer": float(chamfer_distance(x[None], y[None])[0]),
        })  # fmt: skip
    res0 = torus_hole_check(torus, torus)
    return {
        "cylinder_radius": res0.radius, "hole_radius": res0.hole_radius, "max_share": res0.max_share,
        "height_input": float(np.ptp((torus - centre) @ axis)),
        "share_near_axis_mean": float(np.mean([r["share_near_axis"] for r in rows])),
        "passed_all": all(r["passed"] for r in rows), "per_seed": rows,
    }  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "torus_check.json")
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model, _ = load_autoencoder(a.model)
    out = {"model": str(a.model or "models/pointcloud_ae_shapes.pt"),
           "command": "python -m evaluation.pointclouds.torus_check " + " ".join(argv if argv is not None else sys.argv[1:]),
           **check(model, load_example("torus"), a.seeds)}  # fmt: skip
    text = json.dumps(out, indent=2)
    publish(a.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
