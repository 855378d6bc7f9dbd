"""Step time of the slicing variants beyond the paper (EBSW, QSW / RQSW, RPSW / IWRPSW) against plain SW.

A step is what training does with the loss alone: zero the gradient, evaluate the loss on a fixed
pair (x, y) of B = 8 clouds of N = 2,048 points in 3-D (y a leaf that needs a gradient, standing in
for a reconstruction) and back-propagate its batch mean. Every loss at L = 100 directions (the
package default); kappa = 10 for the random-path perturbation.

The CPU may be shared: every repetition times every loss (``--steps`` steps each, median) in an
order rotated from one repetition to the next; the first repetition is dropped as warm-up. The
table quotes the median over repetitions and the ratio to SW as the median of the per-repetition
ratios (which pairs measurements taken seconds apart).

Writes ``sliced_variants_step_time.md`` next to this script (atomically) and prints it::

    python -m evaluation.pointclouds.sliced_variants_step_time            # --reps 6 --steps 5 --threads 1
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from geomgen.tables import publish

HERE = Path(__file__).resolve().parent


def build_losses() -> dict[str, torch.nn.Module]:
    from geomgen.pointclouds.losses import (
        EnergyBasedSlicedWassersteinLoss,
        QuasiSlicedWassersteinLoss,
        RandomPathSlicedWassersteinLoss,
        SlicedWassersteinLoss,
    )

    return {
        "SW": SlicedWassersteinLoss(),
        "EBSW (exp)": EnergyBasedSlicedWassersteinLoss(),
        "QSW (Fibonacci)": QuasiSlicedWassersteinLoss(construction="fibonacci"),
        "QSW (Sobol, Gaussian map)": QuasiSlicedWassersteinLoss(construction="sobol_gaussian"),
        "RQSW (Fibonacci, rotation)": QuasiSlicedWassersteinLoss(construction="fibonacci", randomize="rotation"),
        "RQSW (Sobol equal-area, scramble)": QuasiSlicedWassersteinLoss(construction="sobol_equal_area", randomize="scramble"),
        "RPSW (kappa = 10)": RandomPathSlicedWassersteinLoss(concentration=10.0),
        "RPSW (no perturbation)": RandomPathSlicedWassersteinLoss(concentration=None),
        "IWRPSW (kappa = 10)": RandomPathSlicedWassersteinLoss(concentration=10.0, importance_weighted=True),
    }


def build_direction_samplers(x: torch.Tensor, y: torch.Tensor) -> dict[str, object]:
    """name -> callable that draws the L = 100 directions of that loss (and, for the importance-weighted ones,
    the weights from given projected distances): the only work a variant adds to SW's projections and sorts."""
    from geomgen.pointclouds.losses import energy_weights, quasi_projections, random_path_projections, random_projections

    wpp = torch.rand(x.shape[0], 100)
    return {
        "SW": lambda: random_projections(100, 3, like=x),
        "EBSW (exp)": lambda: (random_projections(100, 3, like=x), energy_weights(wpp)),
        "QSW (Fibonacci)": lambda: quasi_projections(100, "fibonacci", like=x),
        "QSW (Sobol, Gaussian map)": lambda: quasi_projections(100, "sobol_gaussian", like=x),
        "RQSW (Fibonacci, rotation)": lambda: quasi_projections(100, "fibonacci", randomize="rotation", like=x),
        "RQSW (Sobol equal-area, scramble)": lambda: quasi_projections(100, "sobol_equal_area", randomize="scramble", like=x),
        "RPSW (kappa = 10)": lambda: random_path_projections(x, y, 100, concentration=10.0),
        "RPSW (no perturbation)": lambda: random_path_projections(x, y, 100),
        "IWRPSW (kappa = 10)": lambda: (random_path_projections(x, y, 100, concentration=10.0), energy_weights(wpp)),
    }


def time_calls(fn, n: int = 50) -> float:
    """Median wall time of ``n`` calls, in seconds."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_steps(loss, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Median wall time of ``steps`` forward + backward passes, in seconds."""
    times = []
    for _ in range(steps):
        y.grad = None
        t0 = time.perf_counter()
        loss(x, y).mean().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=6, help="repetitions (the first is dropped as warm-up)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per loss per repetition")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--points", type=int, default=2048)
    p.add_argument("--out", type=Path, default=HERE / "sliced_variants_step_time.md")
    args = p.parse_args(argv)
    if args.reps < 2:
        raise ValueError(f"--reps must be >= 2 (the first is warm-up), got {args.reps}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.points, 3)
    y = (0.5 * torch.randn(args.batch, args.points, 3) + 0.1).requires_grad_(True)
    losses = build_losses()
    names = list(losses)
    per_rep: list[dict[str, float]] = []
    for rep in range(args.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        per_rep.append({name: time_steps(losses[name], x, y, args.steps) for name in order})
    samplers = build_direction_samplers(x, y.detach())
    for fn in samplers.values():
        fn()  # warm-up (caches, first calls)
    sampling = {n: time_calls(fn) for n, fn in samplers.items()}
    kept = per_rep[1:]
    median = {n: statistics.median(r[n] for r in kept) for n in names}
    ratio = {n: statistics.median(r[n] / r["SW"] for r in kept) for n in names}
    spread = {n: (min(r[n] / r["SW"] for r in kept), max(r[n] / r["SW"] for r in kept)) for n in names}

    cmd = "python -m evaluation.pointclouds.sliced_variants_step_time " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    lines = [
        "# Step time of the slicing variants beyond the paper, against SW",
        "",
        f"Forward + backward of the batch-mean loss on a fixed pair of [{args.batch}, {args.points}, 3] clouds (float32, CPU), "
        f"L = 100 directions for every loss, {args.threads} torch thread(s); median over {len(kept)} repetitions "
        f"(after 1 warm-up) of the median of {args.steps} steps each, losses in rotated order. Ratio: median of the "
        "per-repetition ratios to SW (range over repetitions in brackets). Directions: the median time of 50 calls that "
        "draw the loss's L directions (and its importance weights), the only work a variant adds to SW's projections "
        "and sorts, measured alone because the CPU's noise is larger than the difference between the steps.",
        "",
        f"Command: `{cmd.strip()}`",
        "",
        "| loss | ms / step | ratio to SW | directions (ms) |",
        "|---|---:|---:|---:|",
    ]
    for n in names:
        lo, hi = spread[n]
        lines.append(f"| {n} | {1000 * median[n]:.1f} | {ratio[n]:.2f} [{lo:.2f}, {hi:.2f}] | {1000 * sampling[n]:.3f} |")
    lines += [
        "",
        "Machine: a CPU shared with other jobs; ratios are more stable than absolute times.",
        "",
    ]
    text = "\n".join(lines)
    publish(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
