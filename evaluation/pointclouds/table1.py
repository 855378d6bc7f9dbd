"""Table 1 on the procedural shape set: point-cloud autoencoders trained with SW, Max-SW,
v-DSW and amortized v-DSW (linear, generalized linear, non-linear, self-attention full /
efficient / Linformer), and beyond the paper EBSW, QSW, RQSW, RPSW and IWRPSW, all on the
same data and budget, in one run.

For every method: train with Lightning for ``--epochs`` epochs from the same initial weights and
data order; on the test split measure Chamfer, SW (L = 1000, fixed directions) and EMD (exact);
fit a linear classifier on the latent codes of a separately seeded shape set (shapes the
autoencoder never saw) and report its test accuracy ("transfer"). Time per training step is
measured in a separate phase that interleaves the methods round-robin (so slow phases of a
shared CPU hit every method alike), including v-DSW with T = 50 for the step-time target.

Writes ``table1.md`` (the table, settings, step-time ratios), ``table1.json`` (raw numbers) and
``reconstructions.png`` into ``--out`` (atomically), prints the table. Finished methods are
cached under ``--work-dir``, so a rerun resumes.

    OMP_NUM_THREADS=1 python evaluation/pointclouds/table1.py
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from geomgen.atomic import atomic_write, atomic_write_text

HERE = Path(__file__).resolve().parent


def build_methods(args) -> dict[str, dict]:
    """name -> dict(make=loss factory, train=bool)."""
    from geomgen.pointclouds.losses import (
        AmortizedSlicedWassersteinLoss,
        DistributionalSlicedWassersteinLoss,
        EnergyBasedSlicedWassersteinLoss,
        GeneralizedLinearAmortizer,
        LinearAmortizer,
        MaxSlicedWassersteinLoss,
        NonLinearAmortizer,
        QuasiSlicedWassersteinLoss,
        RandomPathSlicedWassersteinLoss,
        SelfAttentionAmortizer,
        SlicedWassersteinLoss,
    )

    L, kappa, n, h = args.n_projections, args.concentration, args.n_points, args.attention_hidden

    def amortized(make_amortizer):
        return lambda: AmortizedSlicedWassersteinLoss(make_amortizer(), n_projections=L, concentration=kappa)

    return {
        "SW": dict(make=lambda: SlicedWassersteinLoss(L), train=True),
        f"Max-SW (T={args.T})": dict(make=lambda: MaxSlicedWassersteinLoss(args.T, args.inner_lr), train=True),
        f"v-DSW (T={args.T})": dict(
            make=lambda: DistributionalSlicedWassersteinLoss(L, kappa, args.T, args.inner_lr), train=True
        ),
        "v-DSW (T=50)": dict(make=lambda: DistributionalSlicedWassersteinLoss(L, kappa, 50, args.inner_lr), train=False),
        "linear amortized v-DSW": dict(make=amortized(lambda: LinearAmortizer(n)), train=True),
        "generalized-linear amortized v-DSW": dict(make=amortized(lambda: GeneralizedLinearAmortizer(n)), train=True),
        "non-linear amortized v-DSW": dict(make=amortized(lambda: NonLinearAmortizer(n)), train=True),
        "self-attention (full) amortized v-DSW": dict(
            make=amortized(lambda: SelfAttentionAmortizer(hidden=h, kind="full")), train=True
        ),
        "self-attention (efficient) amortized v-DSW": dict(
            make=amortized(lambda: SelfAttentionAmortizer(hidden=h, kind="efficient")), train=True
        ),
        "self-attention (Linformer) amortized v-DSW": dict(
            make=amortized(lambda: SelfAttentionAmortizer(hidden=h, kind="linformer")), train=True
        ),
        # beyond the paper (issue 29 item 4): other slicing distributions at SW's cost
        "EBSW": dict(make=lambda: EnergyBasedSlicedWassersteinLoss(L), train=True),
        "QSW": dict(make=lambda: QuasiSlicedWassersteinLoss(L, construction="fibonacci"), train=True),
        "RQSW": dict(make=lambda: QuasiSlicedWassersteinLoss(L, construction="fibonacci", randomize="rotation"), train=True),
        "RPSW": dict(make=lambda: RandomPathSlicedWassersteinLoss(L, concentration=kappa), train=True),
        "IWRPSW": dict(make=lambda: RandomPathSlicedWassersteinLoss(L, concentration=kappa, importance_weighted=True), train=True),
    }


def make_system(args, make_loss):
    import lightning as L

    from geomgen.pointclouds.autoencoder import PointCloudAutoencoder
    from geomgen.pointclouds.system import PointCloudAutoencoderSystem

    L.seed_everything(args.seed, verbose=False)  # same initial autoencoder for every method
    ae = PointCloudAutoencoder(
        latent_dim=args.latent_dim,
        n_points=args.n_points,
        encoder_hidden=args.encoder_hidden,
        decoder_hidden=args.decoder_hidden,
    )
    return PointCloudAutoencoderSystem(ae, make_loss(), lr=args.lr, amortizer_lr=args.amortizer_lr)


def step_timer():
    import lightning as L

    class StepTimer(L.Callback):
        def __init__(self):
            self.times: list[float] = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self._t = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.times.append(time.perf_counter() - self._t)

    return StepTimer()


def trainer(max_epochs: int, callbacks, limit_train_batches: int | float = 1.0):
    """A CPU trainer. The budget is in epochs: with manual optimisation Lightning's
    ``global_step`` counts every optimizer step, so ``max_steps`` would give the two-optimizer
    (amortized) systems half as many minibatches."""
    import lightning as L

    return L.Trainer(
        max_epochs=max_epochs,
        limit_train_batches=limit_train_batches,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=callbacks,
        deterministic=False,
    )


def datamodule(args, seed: int, shapes_per_class: int):
    from geomgen.pointclouds.datamodule import PointCloudDataModule

    dm = PointCloudDataModule(
        "shapes",
        path=str(args.cache),
        n_points=args.n_points,
        shapes_per_class=shapes_per_class,
        batch_size=args.batch_size,
        seed=seed,
    )
    dm.prepare_data()
    dm.setup()
    return dm


def stack(ds) -> tuple[torch.Tensor, torch.Tensor]:
    pts, labels = zip(*[ds[i] for i in range(len(ds))])
    return torch.stack(pts), torch.stack(labels)


@torch.no_grad()
def encode(ae, x: torch.Tensor, bs: int = 64) -> torch.Tensor:
    return torch.cat([ae.encode(x[i : i + bs]) for i in range(0, len(x), bs)])


def linear_probe(ztr, ytr, zte, yte, n_classes: int, weight_decay: float = 1e-3) -> float:
    """Multinomial logistic regression (L-BFGS, L2) on standardised codes; test accuracy."""
    mu, sd = ztr.mean(0), ztr.std(0).clamp_min(1e-6)
    ztr, zte = (ztr - mu) / sd, (zte - mu) / sd
    lin = torch.nn.Linear(ztr.shape[1], n_classes)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(ztr), ytr) + weight_decay * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return float((lin(zte).argmax(1) == yte).float().mean())


def evaluate(args, system, test, probe) -> dict:
    from geomgen.metrics import chamfer_distance, earth_movers_distance
    from geomgen.pointclouds.losses import random_projections, sliced_wasserstein

    ae = system.autoencoder.eval()
    x, _ = test
    with torch.no_grad():
        recon = torch.cat([ae(x[i : i + 64]) for i in range(0, len(x), 64)])
        theta = random_projections(1000, 3, generator=torch.Generator().manual_seed(12345), like=x)
        cd = chamfer_distance(x, recon)
        sw = sliced_wasserstein(x, recon, projections=theta)
        emd = earth_movers_distance(x, recon)
    (ptr, ytr), (pte, yte), n_classes = probe
    acc = linear_probe(encode(ae, ptr), ytr, encode(ae, pte), yte, n_classes)
    return {
        "chamfer": float(cd.mean()),
        "sw": float(sw.mean()),
        "emd": float(emd.mean()),
        "accuracy": acc,
        "figure_recon": recon[args.figure_index].numpy().tolist(),
    }


def figure(args, test_x, results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in results if "figure_recon" in results[n]]
    rows, cols = len(args.figure_index), 1 + len(names)
    fig = plt.figure(figsize=(2.0 * cols, 2.1 * rows))
    for r, idx in enumerate(args.figure_index):
        clouds = [test_x[idx].numpy()] + [np.asarray(results[n]["figure_recon"][r]) for n in names]
        titles = ["input"] + names
        for c, (pts, title) in enumerate(zip(clouds, titles)):
            ax = fig.add_subplot(rows, cols, r * cols + c + 1, projection="3d")
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=0.5, c=pts[:, 2], cmap="viridis")
            ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title.replace(" amortized", "\namortized").replace(" (", "\n("), fontsize=6)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-points", type=int, default=512)
    p.add_argument("--shapes-per-class", type=int, default=70)
    p.add_argument("--probe-shapes-per-class", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=27)
    p.add_argument("--latent-dim", type=int, default=256)
    p.add_argument("--encoder-hidden", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--decoder-hidden", type=int, nargs="+", default=[256, 512])
    p.add_argument("--n-projections", type=int, default=100)
    p.add_argument("--concentration", type=float, default=10.0)
    p.add_argument("--T", type=int, default=10, help="inner ascent steps of the trained Max-SW and v-DSW")
    p.add_argument("--inner-lr", type=float, default=1.0)
    p.add_argument("--attention-hidden", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--amortizer-lr", type=float, default=1e-3)
    p.add_argument("--timing-rounds", type=int, default=3)
    p.add_argument("--timing-steps", type=int, default=6, help="steps per method per round (first 2 dropped)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--methods", nargs="+", default=None,
        help="only these methods (exact names; default all); the step-time ratios need SW, v-DSW (T=50) and the attention rows",
    )  # fmt: skip
    p.add_argument("--figure-index", type=int, nargs="+", default=[0, 31, 57, 85, 113])
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "geomgen_eval_cache")
    p.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "geomgen_table1")
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    methods = build_methods(args)
    if args.methods:
        unknown = set(args.methods) - set(methods)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; choose from {list(methods)}")
        methods = {n: m for n, m in methods.items() if n in args.methods}
    dm = datamodule(args, args.seed, args.shapes_per_class)
    test = stack(dm.splits["test"])
    args.figure_index = [i for i in args.figure_index if i < len(test[0])]
    probe_dm = datamodule(args, args.seed + 1, args.probe_shapes_per_class)
    probe = (stack(probe_dm.splits["train"]), stack(probe_dm.splits["test"]), len(probe_dm.splits["train"].classes))
    print(
        f"data: {len(dm.splits['train'])} train / {len(dm.splits['val'])} val / {len(test[0])} test shapes, "
        f"{args.n_points} points; probe set {len(probe[0][0])} / {len(probe[1][0])}",
        flush=True,
    )

    results: dict[str, dict] = {}
    resumed: list[str] = []
    for name, m in methods.items():
        if not m["train"]:
            continue
        cache = args.work_dir / (name.replace(" ", "_").replace("/", "_") + ".json")
        if cache.exists():
            results[name] = json.loads(cache.read_text())
            resumed.append(name)
            print(f"[cached] {name}", flush=True)
            continue
        system = make_system(args, m["make"])
        timer = step_timer()
        t0 = time.time()
        trainer(args.epochs, [timer]).fit(system, dm)
        train_s = time.time() - t0
        res = evaluate(args, system, test, probe)
        res.update(train_s=train_s, train_step_median_s=statistics.median(timer.times[2:] or timer.times))
        atomic_write_text(cache, json.dumps(res))
        results[name] = res
        print(
            f"{name}: CD {res['chamfer']:.5f} SW {res['sw']:.5f} EMD {res['emd']:.5f} acc {res['accuracy']:.3f} "
            f"train {train_s:.0f}s",
            flush=True,
        )

    # timing phase: round-robin over all methods (incl. v-DSW T=50), median per-step time
    times: dict[str, list[float]] = {n: [] for n in methods}
    for _ in range(args.timing_rounds):
        for name, m in methods.items():
            timer = step_timer()
            trainer(args.timing_steps, [timer], limit_train_batches=1).fit(make_system(args, m["make"]), dm)
            times[name] += timer.times[2:]
    step_ms = {n: 1000 * statistics.median(t) for n, t in times.items()}

    sa = "self-attention (Linformer) amortized v-DSW"
    sa_eff = "self-attention (efficient) amortized v-DSW"
    ratios = {
        f"{a} / {b}": step_ms[a] / step_ms[b]
        for a in (sa, sa_eff)
        for b in ("SW", "v-DSW (T=50)")
        if a in step_ms and b in step_ms
    }
    wall = time.time() - t_start

    lines = [
        "# Point-cloud autoencoders on the procedural shape set (Table 1 analogue)",
        "",
        "Produced by `OMP_NUM_THREADS=1 python evaluation/pointclouds/table1.py "
        + shlex.join(argv if argv is not None else sys.argv[1:])
        + f"` in one run ({wall / 60:.1f} min wall on a shared 2-core CPU, 1 thread"
        + (f"; resumed with cached results of {len(resumed)} methods" if resumed else "")
        + ").",
        "",
        f"Data: `ProceduralShapes` (10 classes, seed {args.seed}, {args.shapes_per_class} shapes per class): "
        f"{len(dm.splits['train'])} train / {len(test[0])} test shapes of {args.n_points} points, centred and scaled "
        f"into the unit ball. Autoencoder: PointNet encoder {args.encoder_hidden} -> latent {args.latent_dim}, "
        f"MLP decoder {args.decoder_hidden} -> {args.n_points} x 3; Adam lr {args.lr}, batch {args.batch_size}, "
        f"{args.epochs} epochs ({args.epochs * (len(dm.splits['train']) // args.batch_size)} minibatches) for every method, "
        f"same initial weights and data order. Losses: L = {args.n_projections} "
        f"projections, p = 2; Max-SW and v-DSW: T = {args.T} projected gradient-ascent steps with step size "
        f"{args.inner_lr}; vMF concentration kappa = {args.concentration}; amortizers: Adam (maximize) lr "
        f"{args.amortizer_lr}, one step per minibatch, attention width {args.attention_hidden}.",
        "",
        "Metrics on the test split: Chamfer distance (squared distances) x100, SW_2 (L = 1000 fixed directions) "
        "x100, EMD (exact mean matched distance) x100, lower is better. Transfer: accuracy of a linear "
        "(logistic-regression) classifier on the latent codes of a separately seeded shape set "
        f"({len(probe[0][0])} train / {len(probe[1][0])} test shapes the autoencoder never saw). "
        f"Time: median wall time of one training step (forward, loss, backward, optimizer steps) over "
        f"{args.timing_rounds} round-robin rounds of {args.timing_steps - 2} timed steps per method; "
        "`train (s)` is the wall time of the whole training run.",
        "",
        "| method | CD (x100) | SW (x100) | EMD (x100) | transfer acc. (%) | time / step (ms) | train (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in methods:
        r = results.get(name)
        if r is None:
            lines.append(f"| {name} | (timing only) | | | | {step_ms[name]:.0f} | |")
        else:
            lines.append(
                f"| {name} | {100 * r['chamfer']:.3f} | {100 * r['sw']:.3f} | {100 * r['emd']:.3f} | "
                f"{100 * r['accuracy']:.1f} | {step_ms[name]:.0f} | {r['train_s']:.0f} |"
            )
    lines += ["", "Step-time ratios (targets: <= 1.3 vs SW, <= 0.25 vs v-DSW with T = 50):", ""]
    for k, v in ratios.items():
        target = 1.3 if k.endswith("/ SW") else 0.25
        lines.append(f"- {k}: {v:.2f} ({'met' if v <= target else 'missed'}; target <= {target})")
    if "SW" in results and sa in results:
        sw, att = results["SW"], results[sa]
        lines += [
            "",
            f"Quality target (Linformer-attention amortized v-DSW no worse than SW): SW {100 * att['sw']:.3f} vs "
            f"{100 * sw['sw']:.3f} ({'met' if att['sw'] <= sw['sw'] else 'missed'}), EMD {100 * att['emd']:.3f} vs "
            f"{100 * sw['emd']:.3f} ({'met' if att['emd'] <= sw['emd'] else 'missed'}).",
        ]
    lines += [
        "",
        "![inputs and reconstructions](reconstructions.png)",
        "",
    ]
    table = "\n".join(lines)
    figure(args, test[0], results, args.out / "reconstructions.png")
    atomic_write_text(args.out / "table1.md", table)
    raw = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": {n: {k: v for k, v in r.items() if k != "figure_recon"} for n, r in results.items()},
        "step_ms": step_ms,
        "ratios": ratios,
        "wall_s": wall,
    }
    atomic_write_text(args.out / "table1.json", json.dumps(raw, indent=2))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
