"""Step time of every point-cloud loss, as a ratio to plain SW, at 1 and 2 torch threads.

A step is what training does with the loss alone: zero the gradients, evaluate the loss on a fixed
pair (x, y) of B = 8 clouds of N = 2,048 points in 3-D (y a leaf that needs a gradient, standing in
for a reconstruction), back-propagate its batch mean, and, for amortized losses, step the
amortizer's optimizer (the one-backward scheme of the Lightning system). Losses at geomgen's
defaults (L = 100, kappa = 10, T = 50 projected ascent steps with step 1; attention width 32,
Linformer k = 16), plus the two ascents of the "faithful" Table 1 protocol (Adam lr 1e-4 on the
direction / location, kappa = 1) and, for Max-SW and v-DSW, the code path before the hot-path fix
(a private copy of it, below) so "before" and "after" are measured in the same run.

Each loss runs with both sorts of the projections (``--sorts``): ``numpy``, the package's CPU path
(NumPy's argsort and a gather, :func:`geomgen.pointclouds.losses.sliced._sorted_last`), and
``torch``, ``torch.sort`` (the path before it, and the one on a GPU or above
:data:`~geomgen.pointclouds.losses.sliced.NUMPY_SORT_MAX_THREADS` threads); the "before the fix"
copies sort with ``torch.sort`` themselves and run once.

The CPU may be shared: every repetition runs every (thread count, loss) once, in an order rotated
from one repetition to the next, the first repetition is dropped as warm-up, and the table quotes
medians and ratios (ratios to SW of medians; "after / before" as the median of the per-repetition
ratios, which pairs measurements taken seconds apart).

Writes ``loss_step_time.md`` next to this script (atomically) and prints it::

    python -m evaluation.pointclouds.loss_step_time            # --reps 5 by default
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


# --- the code path before the hot-path fix (geomgen before issue 12), kept here only to time it ----------------


def _old_wasserstein_1d_pp(xs, ys, p):
    return (xs - ys).abs().pow(p).mean(-1)  # equal sizes only, as used here


def _old_projected_wasserstein(x, y, projections, p=2):
    from geomgen.pointclouds.losses.sliced import check_pair

    check_pair(x, y, "projected_wasserstein")
    if projections.dim() == 2:
        projections = projections.unsqueeze(0).expand(x.shape[0], -1, -1)
    projections = projections.contiguous()
    xp = torch.bmm(projections, x.transpose(1, 2).contiguous()).sort(dim=-1).values
    yp = torch.bmm(projections, y.transpose(1, 2).contiguous()).sort(dim=-1).values
    return _old_wasserstein_1d_pp(xp, yp, p)


def _normalise(v):
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def old_max_sliced_wasserstein(x, y, n_iters=50, lr=1.0, p=2):
    from geomgen.pointclouds.losses import random_projections
    from geomgen.pointclouds.losses.sliced import pth_root

    theta = random_projections(x.shape[0], x.shape[2], like=x)
    with torch.inference_mode(False), torch.enable_grad():
        xd, yd = x.detach().clone(), y.detach().clone()
        theta = theta.detach().clone()
        for _ in range(n_iters):
            theta.requires_grad_(True)
            obj = _old_projected_wasserstein(xd, yd, theta.unsqueeze(1), p).sum()
            (grad,) = torch.autograd.grad(obj, theta)
            theta = _normalise(theta.detach() + lr * grad)
    theta = theta.detach().to(x.dtype)
    return pth_root(_old_projected_wasserstein(x, y, theta.unsqueeze(1), p).squeeze(-1), p)


def old_distributional_sliced_wasserstein(x, y, n_projections=100, concentration=10.0, n_iters=50, lr=1.0, p=2):
    from geomgen.pointclouds.losses import random_projections, vmf_projections
    from geomgen.pointclouds.losses.sliced import pth_root

    eps = random_projections(x.shape[0], x.shape[2], like=x)
    with torch.inference_mode(False), torch.enable_grad():
        xd, yd = x.detach().clone(), y.detach().clone()
        eps = eps.detach().clone()
        for _ in range(n_iters):
            eps.requires_grad_(True)
            theta = vmf_projections(eps, concentration, n_projections)
            obj = _old_projected_wasserstein(xd, yd, theta, p).mean(-1).sum()
            (grad,) = torch.autograd.grad(obj, eps)
            eps = _normalise(eps.detach() + lr * grad)
    theta = vmf_projections(eps.detach().to(x.dtype), concentration, n_projections).detach()
    return pth_root(_old_projected_wasserstein(x, y, theta, p).mean(-1), p)


# --- the losses timed ----------------------------------------------------------------------------------------


def build_losses(n_points: int) -> dict[str, object]:
    """name -> callable ``loss(x, y) -> [B]``; amortized losses own their amortizer's optimizer."""
    from geomgen.pointclouds.losses import (
        AmortizedSlicedWassersteinLoss,
        DistributionalSlicedWassersteinLoss,
        GeneralizedLinearAmortizer,
        LinearAmortizer,
        MaxSlicedWassersteinLoss,
        NonLinearAmortizer,
        SelfAttentionAmortizer,
        SlicedWassersteinLoss,
    )

    losses: dict[str, object] = {
        "SW": SlicedWassersteinLoss(),
        "Max-SW (T=50), before the fix": old_max_sliced_wasserstein,
        "Max-SW (T=50)": MaxSlicedWassersteinLoss(),
        "Max-SW (T=50, Adam 1e-4: faithful)": MaxSlicedWassersteinLoss(optimizer="adam"),
        "v-DSW (T=50), before the fix": old_distributional_sliced_wasserstein,
        "v-DSW (T=50)": DistributionalSlicedWassersteinLoss(),
        "v-DSW (T=50, Adam 1e-4, kappa=1: faithful)": DistributionalSlicedWassersteinLoss(concentration=1.0, optimizer="adam"),
    }
    amortizers = {
        "linear": lambda: LinearAmortizer(n_points),
        "generalized-linear": lambda: GeneralizedLinearAmortizer(n_points),
        "non-linear": lambda: NonLinearAmortizer(n_points),
        "self-attention (full)": lambda: SelfAttentionAmortizer(kind="full"),
        "self-attention (efficient)": lambda: SelfAttentionAmortizer(kind="efficient"),
        "self-attention (Linformer)": lambda: SelfAttentionAmortizer(kind="linformer"),
    }
    for name, make in amortizers.items():
        loss = AmortizedSlicedWassersteinLoss(make())
        loss.configure_amortizer_optimizer()
        losses[f"{name} amortized v-DSW"] = loss
    return losses


def step(loss, x: torch.Tensor, y: torch.Tensor, sort: str = "numpy") -> float:
    """Wall time of one step: zero grads, loss, backward of the batch mean, amortizer step; with
    ``sort="torch"`` the projections are sorted by ``torch.sort`` (the NumPy path switched off)."""
    from contextlib import nullcontext

    from geomgen.pointclouds.losses.sliced import torch_sort

    with torch_sort() if sort == "torch" else nullcontext():
        t = time.perf_counter()
        y.grad = None
        loss(x, y).mean().backward()
        if hasattr(loss, "amortizer_step"):
            loss.amortizer_step()  # with the gradients of that backward, then cleared
        return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (one more is run first, as warm-up)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--n-points", type=int, default=2048)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sorts", nargs="+", choices=("numpy", "torch"), default=["numpy", "torch"],
                   help="sorts of the projections to time (default both; the first is the table's)")
    p.add_argument("--out", type=Path, default=HERE / "loss_step_time.md")
    a = p.parse_args(argv)

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch_size, a.n_points, 3, generator=g) * torch.tensor([1.0, 0.6, 0.3])
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).requires_grad_(True)
    losses = build_losses(a.n_points)
    names = list(losses)
    a.sorts = list(dict.fromkeys(a.sorts))  # each sort once
    main_sort = a.sorts[0]
    keys = [(t, n, srt) for t in a.threads for n in names for srt in a.sorts
            if srt == main_sort or not n.endswith("before the fix")]  # the old copies sort with torch.sort whatever the switch
    times: dict[tuple[int, str, str], list[float]] = {k: [] for k in keys}
    before = torch.get_num_threads()
    t_start = time.time()
    try:
        for rep in range(a.reps + 1):
            shift = rep % len(keys)
            for threads, name, srt in keys[shift:] + keys[:shift]:
                torch.set_num_threads(threads)
                dt = step(losses[name], x, y, srt)
                if rep > 0:
                    times[(threads, name, srt)].append(dt)
            print(f"repetition {rep}/{a.reps} done ({time.time() - t_start:.0f} s)", file=sys.stderr, flush=True)
    finally:
        torch.set_num_threads(before)

    ms = {(t, n): 1000 * statistics.median(v) for (t, n, srt), v in times.items() if srt == main_sort}
    pairs = {"Max-SW (T=50)": "Max-SW (T=50), before the fix", "v-DSW (T=50)": "v-DSW (T=50), before the fix"}
    paired = {
        (t, new): statistics.median(a_ / b_ for a_, b_ in zip(times[(t, new, main_sort)], times[(t, old, main_sort)]))
        for t in a.threads
        for new, old in pairs.items()
    }
    other = [srt for srt in a.sorts if srt != main_sort]
    by_sort = {(t, n, srt): statistics.median(a_ / b_ for a_, b_ in zip(times[(t, n, srt)], times[(t, n, main_sort)]))
               for (t, n, srt) in times if srt in other}
    command = "python -m evaluation.pointclouds.loss_step_time " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Step time of each loss, as a ratio to SW",
        "",
        f"Produced by `{command.strip()}` ({(time.time() - t_start) / 60:.1f} min): one step = loss on a fixed pair of "
        f"B = {a.batch_size} clouds of N = {a.n_points} points (3-D), backward of its batch mean, and the amortizer's "
        f"optimizer step for amortized losses; median over {a.reps} repetitions, each running every (threads, loss) once "
        "in a rotated order after one warm-up repetition, on a 2-core CPU shared with other jobs (so quote the ratios, "
        "not the milliseconds). Defaults: L = 100, kappa = 10, T = 50 projected ascent steps (step 1), attention "
        "width 32, Linformer k = 16; \"faithful\" rows use the official code's ascent (Adam lr 1e-4 on the direction / "
        "location; kappa = 1). \"before the fix\" is the previous code path (the detached clouds transposed and copied "
        f"at every ascent step), kept as a private copy in the script. Projections sorted by "
        f"{'NumPy argsort and a gather' if main_sort == 'numpy' else 'torch.sort'} in this table"
        + (f"; the last columns: the step time with {' and '.join(other)} sort over this table's (median of paired "
           "per-repetition ratios)." if other else "."),
        "",
        "| loss | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}: ms / step | ratio to SW" for t in a.threads) + " |"
        + "".join(f" {srt} sort / {main_sort}, {t} thread{'s' if t > 1 else ''} |" for srt in other for t in a.threads),
        "|---|" + "---|---|" * len(a.threads) + "---|" * (len(other) * len(a.threads)),
    ]
    for n in names:
        cells = " | ".join(f"{ms[(t, n)]:.0f} | {ms[(t, n)] / ms[(t, 'SW')]:.2f}" for t in a.threads)
        cells += "".join(f" | {by_sort[(t, n, srt)]:.2f}" if (t, n, srt) in by_sort else " | -" for srt in other for t in a.threads)
        lines.append(f"| {n} | {cells} |")
    lines += ["", "Hot-path fix, after / before (median of paired per-repetition ratios):", ""]
    for new in pairs:
        lines.append(f"- {new}: " + ", ".join(f"{paired[(t, new)]:.2f} at {t} thread{'s' if t > 1 else ''}" for t in a.threads))
    publish(a.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
