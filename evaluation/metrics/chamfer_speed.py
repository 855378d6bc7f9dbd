"""Chamfer distance: geomgen's KD-tree implementation vs a dense torch.cdist one.

Run:  python -m evaluation.metrics.chamfer_speed [--batch 32 --points 2048 --repeats 5]
Prints a table and writes evaluation/metrics/chamfer_speed.md. Ratios, not absolute times,
are the point: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from geomgen.metrics import chamfer_distance
from geomgen.tables import best_time


def dense_chamfer(x, y):
    d = torch.cdist(x, y) ** 2
    return d.min(2).values.mean(1) + d.min(1).values.mean(1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--points", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("-o", "--output", default=str(Path(__file__).with_name("chamfer_speed.md")))
    args = ap.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, args.points, 3, generator=g)
    y = torch.rand(args.batch, args.points, 3, generator=g)
    assert torch.allclose(chamfer_distance(x, y), dense_chamfer(x, y), rtol=1e-4)
    rows = []
    for name, fn in [("dense torch.cdist", lambda: dense_chamfer(x, y)), ("geomgen (KD-tree)", lambda: chamfer_distance(x, y))]:
        rows.append((name, best_time(fn, args.repeats)))
    xg, yg = x.clone().requires_grad_(), y.clone().requires_grad_()
    rows.append(("geomgen forward+backward", best_time(lambda: chamfer_distance(xg, yg).sum().backward(), args.repeats)))
    base = rows[0][1]
    lines = [
        f"Chamfer distance, B = {args.batch}, N = M = {args.points}, torch threads = {torch.get_num_threads()}, best of {args.repeats}",
        "",
        "| implementation | seconds | speed-up vs dense |",
        "|---|---|---|",
    ] + [f"| {n} | {t:.4f} | {base / t:.1f}x |" for n, t in rows]
    from geomgen.tables import publish

    publish(args.output, lines)


if __name__ == "__main__":
    main()
