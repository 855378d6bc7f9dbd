"""Time per training step of the point-cloud autoencoder for SW, v-DSW (T = 50) and the
self-attention amortized v-DSW variants, in one process, interleaved, many repetitions.

Complements the step-time column of ``table1.py`` (which times short Lightning runs on a
CPU shared with other jobs): here every repetition runs one step of each method back to back
on the same minibatch, so load changes hit all methods alike, and the medians come from
``--reps`` repetitions. A step is the system's ``model_step`` (forward, loss), backward, and
every optimizer's step (two for amortized losses), i.e. what ``training_step`` does.

Writes ``step_time.md`` next to this script (atomically) and prints it.

    OMP_NUM_THREADS=1 python evaluation/pointclouds/step_time.py
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from geomgen.atomic import atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table1 import build_methods, datamodule, make_system  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--n-points", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "step_time.md")
    a = p.parse_args(argv)
    # the same model, loss and data settings as table1.py's defaults
    args = argparse.Namespace(
        n_points=a.n_points, shapes_per_class=70, batch_size=a.batch_size, latent_dim=256, encoder_hidden=[64, 128, 256],
        decoder_hidden=[256, 512], n_projections=100, concentration=10.0, T=10, inner_lr=1.0, attention_hidden=16,
        lr=1e-3, amortizer_lr=1e-3, seed=0, cache=Path(tempfile.gettempdir()) / "geomgen_eval_cache",
    )  # fmt: skip
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    names = ["SW", "v-DSW (T=50)", "self-attention (full) amortized v-DSW",
             "self-attention (efficient) amortized v-DSW", "self-attention (Linformer) amortized v-DSW"]  # fmt: skip
    methods = build_methods(args)
    dm = datamodule(args, args.seed, args.shapes_per_class)
    x, _ = next(iter(dm.train_dataloader()))
    systems = {}
    for n in names:
        s = make_system(args, methods[n]["make"])
        opts = s.configure_optimizers()
        systems[n] = (s, opts if isinstance(opts, list) else [opts])
    times = {n: [] for n in names}
    for rep in range(a.reps + 1):
        for n, (s, opts) in systems.items():
            t = time.perf_counter()
            for o in opts:
                o.zero_grad()
            loss, _ = s.model_step((x, None), "train")
            loss.backward()
            for o in opts:
                o.step()
            if rep > 0:  # the first repetition is warm-up
                times[n].append(time.perf_counter() - t)
    ms = {n: 1000 * statistics.median(v) for n, v in times.items()}
    lines = [
        "# Time per training step (interleaved, one process)",
        "",
        f"Produced by `OMP_NUM_THREADS=1 python evaluation/pointclouds/step_time.py {' '.join(argv or sys.argv[1:])}`: "
        f"batch {a.batch_size} x {a.n_points} points, the table1.py autoencoder and losses (L = 100, kappa = 10), "
        f"median over {a.reps} interleaved repetitions on a shared 2-core CPU, 1 thread.",
        "",
        "| method | median ms / step | ratio to SW | ratio to v-DSW (T=50) |",
        "|---|---|---|---|",
    ]
    for n in names:
        lines.append(f"| {n} | {ms[n]:.0f} | {ms[n] / ms['SW']:.2f} | {ms[n] / ms['v-DSW (T=50)']:.3f} |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(a.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
