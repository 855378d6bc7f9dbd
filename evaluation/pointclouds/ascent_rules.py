"""Do Max-SW and v-DSW find their directions? The three ascent rules on the shipped model's torus.

    python -m evaluation.pointclouds.ascent_rules -o evaluation/pointclouds/ascent_rules.md

The shipped autoencoder reconstructs the shipped example torus (1,024 points); on that pair,
Max-SW and v-DSW (kappa 10, 1,000 projections) are computed with T = 50 steps of each ascent rule
(``normalized``, the default; ``projected``, step proportional to the gradient; ``adam`` at 1e-4,
the official code's) from three random starts, next to SW (4,000 projections) and a brute-force
Max-SW (the best of 20,000 random directions).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geomgen.tables import markdown_table, publish

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("-o", "--out", type=Path, default=HERE / "ascent_rules.md")
    args = ap.parse_args(argv)
    import torch

    from geomgen.pointclouds import load_autoencoder
    from geomgen.pointclouds.examples import load_example
    from geomgen.pointclouds.losses import distributional_sliced_wasserstein, max_sliced_wasserstein, sliced_wasserstein
    from geomgen.pointclouds.losses.sliced import projected_wasserstein, random_projections

    model, _ = load_autoencoder()
    x = torch.from_numpy(load_example("torus")[None, ::2].copy())
    with torch.no_grad():
        y = model(x)
    x, y = x.double(), y.double()
    sw = sliced_wasserstein(x, y, n_projections=4000, generator=torch.Generator().manual_seed(0)).item()
    theta = random_projections(20000, 3, generator=torch.Generator().manual_seed(1), like=x)
    brute = projected_wasserstein(x, y, theta).max().sqrt().item()
    rows = []
    for rule in ("normalized", "projected", "adam"):
        msw = [max_sliced_wasserstein(x, y, n_iters=50, optimizer=rule,
                                      init=torch.randn(3, generator=torch.Generator().manual_seed(s), dtype=torch.float64)).item()
               for s in range(args.starts)]
        dsw = [distributional_sliced_wasserstein(x, y, n_projections=1000, n_iters=50, optimizer=rule,
                                                 generator=torch.Generator().manual_seed(s)).item() for s in range(args.starts)]
        rows.append((rule, f"{min(msw):.4f}-{max(msw):.4f}", f"{min(dsw):.4f}-{max(dsw):.4f}"))
    lines = ["# Ascent rules of Max-SW and v-DSW on the shipped model's torus", "",
             "Command: `python -m evaluation.pointclouds.ascent_rules`", "",
             f"SW (4,000 projections): {sw:.4f}; brute-force Max-SW (best of 20,000 directions): {brute:.4f}.", "",
             *markdown_table(["rule (T = 50)", f"Max-SW, {args.starts} random starts", f"v-DSW (kappa 10), {args.starts} seeds"], rows)]
    publish(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
