"""Table 1 under two protocols, three seeds each: does the paper's ordering hold?

Trains a point-cloud autoencoder with every loss of each protocol in
``geomgen/pointclouds/configs/table1/`` (``faithful``: the official code's projection settings;
``geomgen``: the package defaults) for every seed, and reports mean +- standard error over the seeds.

Every (protocol, method, seed) cell gets the same network (the protocol files' ``autoencoder``,
which must agree), the same data (the procedural shapes, 2,048 points per cloud, data seed 0) in
the same order (a shuffling generator seeded by the seed alone), the same initial weights (seeded
by the seed alone) and the same budget (``--steps`` minibatches of ``--batch-size``). A step is
the Lightning system's training step run by hand: its ``configure_optimizers`` and
``model_step(batch, "train")``, one backward, every optimizer stepped once (so amortizers take one
ascent step per minibatch from the same backward pass). On the test split: Chamfer distance and
SW_2 (L = 1,000 fixed directions) on every test shape, exact EMD on the first ``--emd-shapes``;
the median wall time of a training step. A method entry of a protocol file may carry a ``system``
dict beside its ``class_path``: system arguments it sets otherwise than the protocol (one-setting
ablations, e.g. ``small_geomgen``'s linear amortizer with ``small_faithful``'s amortizer betas),
and an ``ablation_of`` naming the method it changes. The report tables every method minus SW paired
by seed, every amortizer minus v-DSW once v-DSW has two seeds, and every ablation minus the method
it changes (:func:`paired_against`).

``--eval-every K`` adds each cell's learning curve: validation Chamfer and SW_2 (L = 1,000 fixed
directions) on the first ``--curve-shapes`` validation shapes every K minibatches, with the
minibatches' summed step time, and whether the curve has reached the plateau rule of
:func:`geomgen.pointclouds.curves.plateau_reached` at the end; the report gets a plateau column and
``learning_curves_<protocol>.png``. The evaluations are outside the timed steps and leave the random
stream of the losses as it was. The ``small_*`` protocols use it for Table 1 at convergence:

    OMP_NUM_THREADS=1 python -m evaluation.pointclouds.table1_protocols --protocols small_faithful small_geomgen \
        --steps 6000 --batch-size 32 --shapes-per-class 200 --eval-every 250 --out evaluation/pointclouds/table1_converged

Resumable: each finished cell is written atomically (:mod:`geomgen.atomic`) to
``<out>/cells/<protocol>__<method>__seed<s>__<settings hash>.json``, and a rerun with the same
settings skips it (changed settings make new cells). The ``cells`` folder is not committed; the
finished rows recorded in ``<out>/table1_protocols.json`` count as finished too (:func:`recorded_rows`),
so a fresh clone reruns nothing already reported, and a run of a few cells keeps the other recorded
rows in the JSON (its tables show the cells asked for; ``--report-only`` with the full
protocols, methods and seeds writes them all again). After the cells, writes
``<out>/table1_protocols.md`` (tables, verdicts on the paper's claim), ``table1_protocols.json``
and ``reconstructions_<protocol>.png`` (the first seed's reconstructions of a few test shapes).

Cost (measured at 1 thread on a 2-core CPU shared with another job): a training step takes about
1.2 s (SW, Max-SW, the index-weighted and the efficient / Linformer attention amortizers),
2.5 s (full attention) and 14 s (v-DSW, T = 50 ascent steps with L = 100 projections), and
evaluating a cell about 45 s, so the 54 cells at the default 60 steps take about 3 h, of which
v-DSW is half.

    OMP_NUM_THREADS=1 python -m evaluation.pointclouds.table1_protocols              # all 54 cells
    python -m evaluation.pointclouds.table1_protocols --protocols faithful --methods SW v-DSW --seeds 0
    python -m evaluation.pointclouds.table1_protocols --report-only                   # tables from finished cells
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import yaml

from geomgen.atomic import atomic_write, atomic_write_text
from geomgen.grid import load_cells, mean_se, mean_t_interval, run_grid
from geomgen.pointclouds.curves import plateau_reached, plateau_step
from geomgen.pointclouds.losses.sliced import projection_sort

HERE = Path(__file__).resolve().parent
PROTOCOL_DIR = HERE.parents[1] / "geomgen" / "pointclouds" / "configs" / "table1"
PROTOCOLS = ("faithful", "geomgen")
SW_EVAL_PROJECTIONS = 1000
CLAIM_METHODS = ("self-attention (Linformer) amortized v-DSW", "self-attention (efficient) amortized v-DSW")


# --- protocols and cells -------------------------------------------------------------------------------------


def load_protocol(name: str) -> dict:
    """The protocol file ``configs/table1/<name>.yaml`` (keys protocol, autoencoder, data, system, methods;
    a method is a ``class_path`` / ``init_args`` dict, with an optional ``system`` dict of the system
    arguments it sets otherwise than the protocol and an optional ``ablation_of``, the method it
    changes in one setting, which the report pairs it against)."""
    path = PROTOCOL_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no protocol {name!r} in {PROTOCOL_DIR} (have {', '.join(known)})")
    spec = yaml.safe_load(path.read_text())
    missing = {"protocol", "autoencoder", "data", "system", "methods"} - set(spec)
    if missing:
        raise ValueError(f"protocol file {path} lacks {sorted(missing)}")
    return spec


def instantiate(spec: dict, what: str) -> torch.nn.Module:
    """Build an ``nn.Module`` from a ``class_path`` / ``init_args`` dict, checked against its constructor
    (jsonargparse, as LightningCLI does), so a typo in a protocol file fails before training."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--module", type=torch.nn.Module)
    try:
        return parser.instantiate(parser.parse_object({"module": spec})).module
    except Exception as err:  # jsonargparse raises its own error types; re-raise with the cell's name
        raise ValueError(f"{what}: cannot build {spec.get('class_path')!r}: {err}") from err


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def cell_key(cell: dict) -> str:
    """``<protocol>__<method>__seed<s>__<hash of every setting that shapes the result>``."""
    settings = {k: v for k, v in cell.items() if k not in ("threads", "cache", "figure", "partial")}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{cell['protocol']}__{slug(cell['method'])}__seed{cell['seed']}__{digest}"


def make_cells(args) -> list[dict]:
    protocols = {name: load_protocol(name) for name in args.protocols}
    first = next(iter(protocols.values()))
    for name, spec in protocols.items():  # one network and one data set for every cell
        if spec["autoencoder"] != first["autoencoder"] or spec["data"] != first["data"]:
            raise ValueError(f"protocol {name!r} has another network or data set than {first['protocol']!r}")
    cells = []
    for name, spec in protocols.items():
        methods = args.methods or list(spec["methods"])
        unknown = [m for m in methods if m not in spec["methods"]]
        if unknown:
            raise ValueError(f"protocol {name!r} has no methods {unknown}; it has {list(spec['methods'])}")
        for method in methods:
            # a method may set some of the system's arguments its own way (an ablation of one setting)
            loss = {k: v for k, v in spec["methods"][method].items() if k not in ("system", "ablation_of")}
            system = {**spec["system"], **spec["methods"][method].get("system", {})}
            for seed in args.seeds:
                cell = {
                    "protocol": name,
                    "method": method,
                    "seed": seed,
                    "loss": loss,
                    "system": system,
                    "autoencoder": spec["autoencoder"],
                    "data": {**spec["data"], "shapes_per_class": args.shapes_per_class, "seed": 0},
                    "budget": {"steps": args.steps, "batch_size": args.batch_size},
                    "evaluation": {"sw_projections": SW_EVAL_PROJECTIONS, "emd_shapes": args.emd_shapes},
                    "threads": args.threads,
                    "cache": str(args.cache),
                    "figure": {"index": args.figure_index, "points": args.figure_points} if seed == args.seeds[0] else None,
                }
                if args.eval_every:  # only when asked, so that cells without curves keep their keys
                    cell["curve"] = {"every": args.eval_every, "val_shapes": args.curve_shapes}
                cell["key"] = cell_key(cell)
                if args.checkpoint_every:  # not part of the key: where a stopped cell resumes from
                    cell["partial"] = {"path": str(args.out / "partial" / f"{cell['key']}.pt"), "every": args.checkpoint_every}
                cells.append(cell)
    return cells


# --- one cell: dict in, dict out ------------------------------------------------------------------------------


def datamodule(cell: dict):
    from geomgen.pointclouds.datamodule import PointCloudDataModule

    d = cell["data"]
    dm = PointCloudDataModule(
        d["dataset"], path=cell["cache"], n_points=d["n_points"], shapes_per_class=d["shapes_per_class"], seed=d["seed"]
    )
    dm.prepare_data()
    dm.setup()
    return dm


def held_out_clouds(cell: dict, split: str = "test") -> torch.Tensor:
    held_out = datamodule(cell).splits[split]
    return torch.stack([held_out[i][0] for i in range(len(held_out))])


def reconstruct_and_score(system, x: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reconstructions of ``x`` and their per-cloud Chamfer distance and SW_2 (fixed directions
    ``theta``), 8 clouds at a time (L = 1,000 sorted projections of 8 clouds: ~0.2 GB), in eval
    mode and without gradients; the system's training mode is restored."""
    from geomgen.metrics import chamfer_distance
    from geomgen.pointclouds.losses import sliced_wasserstein

    was_training = system.training
    system.eval()
    with torch.no_grad():
        chunks = [slice(i, i + 8) for i in range(0, len(x), 8)]
        recon = torch.cat([system.autoencoder(x[c]) for c in chunks])
        cd = torch.cat([chamfer_distance(x[c], recon[c]) for c in chunks])
        sw = torch.cat([sliced_wasserstein(x[c], recon[c], projections=theta) for c in chunks])
    system.train(was_training)
    return recon, cd, sw


def run_cell(cell: dict) -> dict:
    """Train one (protocol, method, seed) cell and evaluate it; returns a JSON-ready row."""
    from torch.utils.data import DataLoader

    from geomgen.metrics import earth_movers_distance
    from geomgen.pointclouds.losses import random_projections
    from geomgen.pointclouds.system import PointCloudAutoencoderSystem

    torch.set_num_threads(cell["threads"])
    seed, budget = cell["seed"], cell["budget"]
    dm = datamodule(cell)
    torch.manual_seed(seed)  # the same initial network for every method at this seed
    autoencoder = instantiate(cell["autoencoder"], cell["key"])
    torch.manual_seed(seed + 1)
    loss = instantiate(cell["loss"], cell["key"])
    system = PointCloudAutoencoderSystem(autoencoder, loss, **cell["system"])
    optimizers = system.configure_optimizers()
    optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
    loader = DataLoader(  # the same data order for every method at this seed
        dm.splits["train"], batch_size=budget["batch_size"], shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    curve_spec, curve = cell.get("curve"), []
    if curve_spec:  # the learning curve: validation Chamfer and SW every `every` minibatches (not timed as training)
        x_val = held_out_clouds(cell, "val")[: curve_spec["val_shapes"]]
        theta_val = random_projections(SW_EVAL_PROJECTIONS, x_val.shape[-1], generator=torch.Generator().manual_seed(54321), like=x_val)
    torch.manual_seed(seed + 2)  # the losses' own random directions
    system.train()
    step_s, trace, done, skip, before_s = [], [], 0, 0, 0.0
    partial = cell.get("partial")
    if partial and Path(partial["path"]).is_file():  # a stopped run of this cell: go on from its last checkpoint
        done, skip, before_s, step_s, trace, curve = _resume(partial["path"], system, optimizers, loader.generator)
        print(f"[resumed] {cell['key']} at minibatch {done}", flush=True)
    t_train = time.perf_counter()
    while done < budget["steps"]:
        epoch_rng = loader.generator.get_state()  # this epoch's order (and the loader's base seed) come from it
        for pos, batch in enumerate(loader):
            if pos < skip:  # resumed mid-epoch: the minibatches already trained on
                continue
            if done == budget["steps"]:
                break
            t = time.perf_counter()
            for opt in optimizers:
                opt.zero_grad()
            value, _ = system.model_step(batch, "train")
            value.backward()
            for opt in optimizers:
                opt.step()
            step_s.append(time.perf_counter() - t)
            trace.append(float(value.detach()))
            done += 1
            if curve_spec and (done % curve_spec["every"] == 0 or done == budget["steps"]):
                state = torch.random.get_rng_state()  # evaluating must not change the losses' random directions
                _, cd_val, sw_val = reconstruct_and_score(system, x_val, theta_val)
                torch.random.set_rng_state(state)
                curve.append({"step": done, "train_s": round(sum(step_s), 3), "chamfer": float(cd_val.mean()), "sw": float(sw_val.mean())})
            if partial and done % partial["every"] == 0 and done < budget["steps"]:
                _checkpoint(partial["path"], system, optimizers, epoch_rng, pos + 1, done,
                            before_s + time.perf_counter() - t_train, step_s, trace, curve)
        skip = 0
    train_s = before_s + time.perf_counter() - t_train
    if not all(math.isfinite(v) for v in trace):
        raise FloatingPointError(f"{cell['key']}: non-finite training loss at step {next(i for i, v in enumerate(trace) if not math.isfinite(v))}")

    system.eval()
    x = held_out_clouds(cell)
    ev = cell["evaluation"]
    theta = random_projections(ev["sw_projections"], x.shape[-1], generator=torch.Generator().manual_seed(12345), like=x)
    recon, cd, sw = reconstruct_and_score(system, x, theta)
    n_emd = min(ev["emd_shapes"], len(x))
    with torch.no_grad():
        emd = earth_movers_distance(x[:n_emd], recon[:n_emd])
    row = {
        "status": "ok",
        "key": cell["key"],
        "protocol": cell["protocol"],
        "method": cell["method"],
        "seed": seed,
        "chamfer": float(cd.mean()),
        "sw": float(sw.mean()),
        "emd": float(emd.mean()),
        "n_test": len(x),
        "n_emd": n_emd,
        "steps": done,
        "train_s": train_s,
        "step_ms_median": 1000 * statistics.median(step_s[2:] or step_s),
        "loss_trace_every_10": [round(statistics.fmean(trace[i : i + 10]), 6) for i in range(0, len(trace), 10)],
        "torch_threads": torch.get_num_threads(),
        "projection_sort": projection_sort(),  # rows without it sorted with torch.sort (before 2026-12-06, 28th round)
        "settings": {k: v for k, v in cell.items() if k not in ("key", "figure")},
    }
    if curve:
        steps, values = [c["step"] for c in curve], [c["chamfer"] for c in curve]
        row["curve"] = curve
        row["plateau"] = plateau_reached(steps, values)
        row["plateau_step"] = plateau_step(steps, values)
    if cell.get("figure"):
        fig, idx = cell["figure"], [i for i in cell["figure"]["index"] if i < len(x)]
        row["figure"] = {"index": idx, "recon": [np.round(recon[i, : fig["points"]].numpy(), 3).tolist() for i in idx]}
    if partial:
        Path(partial["path"]).unlink(missing_ok=True)
    return row


def _sort_of(row: dict) -> str:
    """The sort of the projections a cell's losses used (rows from before the field: ``torch.sort``)."""
    return row.get("projection_sort", "torch")


def _checkpoint(path: str, system, optimizers, epoch_rng, pos: int, done: int, train_s: float, step_s, trace, curve) -> None:
    """Save a cell's training state after ``done`` minibatches (``pos`` of them into the epoch whose
    data-order generator started at ``epoch_rng``), atomically, for :func:`_resume`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"system": system.state_dict(), "optimizers": [o.state_dict() for o in optimizers], "epoch_rng": epoch_rng,
             "pos": pos, "done": done, "train_s": train_s, "step_s": step_s, "trace": trace, "curve": curve,
             "torch_rng": torch.random.get_rng_state()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume(path: str, system, optimizers, generator) -> tuple:
    """Restore a :func:`_checkpoint`: the network, the optimisers, the losses' random state and the
    data order, so the rest of the run is the one an uninterrupted run would have trained.
    Returns ``(done, pos, train_s, step_s, trace, curve)``."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    system.load_state_dict(state["system"])
    for opt, s in zip(optimizers, state["optimizers"]):
        opt.load_state_dict(s)
    generator.set_state(state["epoch_rng"])
    torch.random.set_rng_state(state["torch_rng"])
    return state["done"], state["pos"], state["train_s"], state["step_s"], state["trace"], state["curve"]


def run_cell_safely(cell: dict) -> dict:
    """:func:`run_cell`, with a failure returned as a reported record (never written as finished)."""
    try:
        return run_cell(cell)
    except Exception as err:
        return {"status": "error", "key": cell["key"], "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}


# --- report ---------------------------------------------------------------------------------------------------


def fmt(mean: float, se: float, scale: float = 100.0, digits: int = 3) -> str:
    if math.isnan(se):
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} +- {scale * se:.{digits}f}"


def verdict(rows_by_method: dict[str, dict[int, dict]], method: str) -> str:
    """Is ``method`` at least as good as SW (paired by seed, SW and Chamfer metrics) at close to SW's cost?"""
    sw_rows, rows = rows_by_method.get("SW", {}), rows_by_method.get(method, {})
    seeds = sorted(set(sw_rows) & set(rows))
    if not seeds:
        return f"- {method}: no seed has both this method and SW finished."
    parts = []
    for metric, label in (("sw", "SW"), ("chamfer", "CD")):
        m, se, low, high = mean_t_interval([rows[s][metric] - sw_rows[s][metric] for s in seeds])  # paired t
        if math.isnan(se):
            judged = "one seed: no error bar"
        else:
            judged = "better than SW" if high < 0 else "worse than SW" if low > 0 else "not distinguishable from SW"
            judged += f": 95% paired t interval {fmt(low, float('nan'))} to {fmt(high, float('nan'))}"
        parts.append(f"{label} x100 minus SW's: {fmt(m, se)} ({judged})")
    ratio = statistics.median(rows[s]["step_ms_median"] / sw_rows[s]["step_ms_median"] for s in seeds)
    parts.append(f"training step {ratio:.2f}x SW's (median over seeds; {'close to' if ratio <= 1.3 else 'above'} SW's cost by the 1.3x target)")
    return f"- {method} vs SW over seeds {seeds}: " + "; ".join(parts) + "."


def paired_against(rows_by_method: dict[str, dict[int, dict]], reference: str = "SW", methods=None) -> list[str]:
    """Lines of a table: every method (of ``methods``, default all) with at least two seeds that
    ``reference`` also finished, minus ``reference`` paired by seed, in Chamfer, SW_2 and EMD (x100):
    mean +- standard error, the 95 % paired t interval, and 'better' / 'worse' where that interval
    excludes 0 ('-' where it does not). Each entry is one test of several (methods x metrics): a
    narrow interval among many is a lead to check on other seeds, not yet a claim."""
    ref_rows = rows_by_method.get(reference, {})
    out = []
    for method, rows in rows_by_method.items():
        seeds = sorted(set(ref_rows) & set(rows))
        if method == reference or len(seeds) < 2 or (methods is not None and method not in methods):
            continue
        cells = [method, len(seeds)]
        for metric in ("chamfer", "sw", "emd"):
            m, se, low, high = mean_t_interval([rows[s][metric] - ref_rows[s][metric] for s in seeds])
            judged = "better" if high < 0 else "worse" if low > 0 else "-"
            cells += [f"{100 * m:+.3f} +- {100 * se:.3f}", f"{100 * low:+.3f} to {100 * high:+.3f}", judged]
        out.append("| " + " | ".join(str(c) for c in cells) + " |")
    if not out:
        return []
    head = " | ".join(f"{metric} - {reference} | interval |" for metric in ("CD", "SW_2", "EMD"))
    return ["", f"Every method minus {reference}, paired by seed (x100; 95 % paired t interval; 'better' or 'worse' where it excludes 0):",
            "", f"| method | seeds | {head} |",
            "|---|---|---|---|---|---|---|---|---|---|---|", *out]


def figure(protocol: str, inputs: torch.Tensor, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "figure" in r]
    if not rows:
        return
    idx, n_pts = rows[0]["figure"]["index"], len(rows[0]["figure"]["recon"][0])
    cols = 1 + len(rows)
    fig = plt.figure(figsize=(1.9 * cols, 2.0 * len(idx)))
    for r, i in enumerate(idx):
        clouds = [inputs[i, :n_pts].numpy()] + [np.asarray(row["figure"]["recon"][r]) for row in rows]
        titles = ["input"] + [row["method"] for row in rows]
        for c, (pts, title) in enumerate(zip(clouds, titles)):
            ax = fig.add_subplot(len(idx), cols, r * cols + c + 1, projection="3d")
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=0.4, c=pts[:, 2], cmap="viridis")
            ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title.replace(" amortized", "\namortized").replace(" (", "\n("), fontsize=6)
    fig.suptitle(f"protocol {protocol!r}: test shapes and reconstructions (seed {rows[0]['seed']})", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def curve_figure(protocol: str, by_method: dict[str, dict[int, dict]], path: Path) -> bool:
    """Validation Chamfer and SW_2 against minibatches and against training seconds, one line per
    (method, seed); False when no cell has a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(m, s, r["curve"]) for m, by_seed in by_method.items() for s, r in sorted(by_seed.items()) if r.get("curve")]
    if not runs:
        return False
    colours = {m: plt.cm.tab20(i % 20) for i, m in enumerate(dict.fromkeys(m for m, _, _ in runs))}
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    for m, s, curve in runs:
        for i, x in enumerate(("step", "train_s")):
            for j, y in enumerate(("chamfer", "sw")):
                axes[j, i].plot([c[x] for c in curve], [c[y] for c in curve], color=colours[m], lw=1.0,
                                label=m if (s == runs[0][1] and i == 0 and j == 0) else None)
    for j, y in enumerate(("validation Chamfer", "validation SW$_2$")):
        axes[j, 0].set(xlabel="training minibatches", ylabel=y, yscale="log")
        axes[j, 1].set(xlabel="training seconds (1 thread, shared CPU)", ylabel=y, yscale="log")
    axes[0, 0].legend(fontsize=6, ncol=2)
    fig.suptitle(f"protocol {protocol!r}: learning curves (one line per method and seed)", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
    return True


def _recorded_protocols(out: Path) -> dict:
    """The ``protocols`` entry of ``<out>/table1_protocols.json`` (``{}`` without a readable file)."""
    try:
        raw = json.loads((Path(out) / "table1_protocols.json").read_text())
    except (OSError, ValueError):
        return {}
    protocols = raw.get("protocols") if isinstance(raw, dict) else None
    return protocols if isinstance(protocols, dict) else {}


def recorded_rows(out: Path) -> dict[str, dict]:
    """The finished rows (``status`` ok) that ``<out>/table1_protocols.json`` records, by cell key
    (``{}`` without a readable file)."""
    return {str(k): r for p in _recorded_protocols(out).values() for k, r in ((p or {}).get("cells") or {}).items()
            if isinstance(r, dict) and r.get("status") == "ok"}


def report(args, cells: list[dict], rows: dict[str, dict], failed: list[dict], wall_s: float, command: str,
           recorded: dict[str, dict] | None = None) -> str:
    lines = [
        "# Table 1 under two protocols (point-cloud autoencoders, procedural shapes)",
        "",
        f"Produced by `{command}` (this invocation: {wall_s / 60:.1f} min wall; cells are resumable, so the total "
        f"compute is the sum of the cells' `train_s` in `table1_protocols.json`).",
        "",
        f"Every cell: the same network and data (procedural shapes, data seed 0, {args.shapes_per_class} shapes per class, "
        f"{cells[0]['data']['n_points']:,} points per cloud), initial weights and data order set by the seed alone, {args.steps} minibatches of "
        f"{args.batch_size}, the autoencoder trained with Adam (lr {cells[0]['system']['lr']:g}) on the batch mean of the protocol's loss. "
        f"Metrics on the test split, x100, mean +- standard error over seeds: Chamfer distance (squared distances), "
        f"SW_2 with L = {SW_EVAL_PROJECTIONS} fixed directions, exact EMD (mean matched distance) on the first "
        f"{args.emd_shapes} test shapes; time: median wall time of one training step (shared CPU, "
        f"{args.threads} thread{'s' if args.threads > 1 else ''}; see loss_step_time.md for interleaved loss timings). "
        f"Protocols: `geomgen/pointclouds/configs/table1/{{{','.join(args.protocols)}}}.yaml`.",
    ]
    if args.eval_every:
        lines += ["", f"Learning curves: validation Chamfer and SW_2 on the first {args.curve_shapes} validation shapes every "
                  f"{args.eval_every} minibatches; 'plateau' counts the seeds whose validation Chamfer meets the rule of "
                  "`geomgen.pointclouds.curves.plateau_reached` at the end (best value improved by less than 2 % over the "
                  "last 20 % of the minibatches); figure `learning_curves_<protocol>.png`."]
    # protocols this run does not report keep their recorded entries
    raw = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "protocols": dict(_recorded_protocols(args.out)) if recorded else {}}
    for protocol in args.protocols:
        prot_cells = [c for c in cells if c["protocol"] == protocol]
        methods = list(dict.fromkeys(c["method"] for c in prot_cells))
        by_method: dict[str, dict[int, dict]] = {m: {} for m in methods}
        for c in prot_cells:
            if c["key"] in rows:
                by_method[c["method"]][c["seed"]] = rows[c["key"]]
        lines += [
            "",
            f"## Protocol `{protocol}`",
            "",
            "| method | seeds | CD (x100) | SW (x100) | EMD (x100) | time / step (ms) | ratio to SW |" + (" plateau |" if args.eval_every else ""),
            "|---|---|---|---|---|---|---|" + ("---|" if args.eval_every else ""),
        ]
        sw_ms = [r["step_ms_median"] for r in by_method.get("SW", {}).values()]
        sw_sorts = {_sort_of(r) for r in by_method.get("SW", {}).values()}
        mixed = []
        summary = {}
        for m in methods:
            rs = list(by_method[m].values())
            if not rs:
                lines.append(f"| {m} | 0 | | | | | | |")
                continue
            stats = {k: mean_se([r[k] for r in rs]) for k in ("chamfer", "sw", "emd", "step_ms_median")}
            ratio = f"{stats['step_ms_median'][0] / statistics.fmean(sw_ms):.2f}" if sw_ms else ""
            if sw_ms and {_sort_of(r) for r in rs} != sw_sorts:  # timed with another sort of the projections than SW
                ratio += " \u2021"
                mixed.append(m)
            plateau = f" {sum(bool(r.get('plateau')) for r in rs)} of {len(rs)} |" if args.eval_every else ""
            lines.append(
                f"| {m} | {len(rs)} | {fmt(*stats['chamfer'])} | {fmt(*stats['sw'])} | {fmt(*stats['emd'])} | "
                f"{fmt(*stats['step_ms_median'], scale=1.0, digits=0)} | {ratio} |{plateau}"
            )
            summary[m] = {"seeds": sorted(by_method[m]), **{k: {"mean": v[0], "se": v[1]} for k, v in stats.items()}}
        if mixed:
            lines += ["", f"\u2021 {', '.join(mixed)}: timed with another sort of the projections than SW's cells (cell field "
                      "`projection_sort`; NumPy's argsort since the twenty-eighth round, `torch.sort` before): time ratios "
                      "to SW not comparable, see `loss_step_time.md` for both sorts in one run."]
        lines += ["", "The paper's claim, attention-amortized v-DSW reconstructs at least as well as SW at close to SW's cost:", ""]
        lines += [verdict(by_method, m) for m in CLAIM_METHODS if m in by_method]
        lines += paired_against(by_method, "SW")
        # what amortizing costs or gains against the loss it amortizes (the paper's Table 1 puts them side by side)
        lines += paired_against(by_method, "v-DSW", [m for m in methods if "amortized" in m])
        ablations: dict[str, list[str]] = {}  # one-setting ablations against the method they change
        for m, entry in load_protocol(protocol)["methods"].items():
            if m in methods and entry.get("ablation_of") in methods:
                ablations.setdefault(entry["ablation_of"], []).append(m)
        for base, changed in ablations.items():
            lines += paired_against(by_method, base, changed)
        seed0 = [by_method[m][args.seeds[0]] for m in methods if args.seeds[0] in by_method[m]]
        if seed0:
            # drawn only by a report of every method of the protocol (a run of some cells, e.g. one lane's
            # `--methods M --seeds 2`, would replace the figure with one of just those cells), and only when
            # every row of the seed has its reconstructions: rows read back from the JSON, and cells run
            # before the figures were recorded, have none, and then the figure stays as it is
            if not args.methods and all(r.get("figure") for r in seed0):
                figure(protocol, held_out_clouds(prot_cells[0]), seed0, args.out / f"reconstructions_{protocol}.png")
            lines += ["", f"![reconstructions, protocol {protocol}](reconstructions_{protocol}.png)"]
        if args.eval_every and curve_figure(protocol, by_method, args.out / f"learning_curves_{protocol}.png"):
            lines += ["", f"![learning curves, protocol {protocol}](learning_curves_{protocol}.png)"]
        kept = {k: r for k, r in (recorded or {}).items() if r.get("protocol") == protocol}  # rows of cells not asked for
        raw["protocols"][protocol] = {"summary": summary, "cells": {**kept, **{c["key"]: rows.get(c["key"], kept.get(c["key"]))
                                                                         for c in prot_cells}}}
    missing = [c["key"] for c in cells if c["key"] not in rows]
    if missing or failed:
        lines += ["", f"Unfinished cells: {len(missing)} of {len(cells)}" + (f"; failed in this run: {len(failed)}" if failed else "") + "."]
        lines += [f"- {f['key']}: {f['error']}" for f in failed]
    text = "\n".join(lines) + "\n"
    for row in (r for p in raw["protocols"].values() for r in p["cells"].values() if r):
        row.pop("figure", None)
    atomic_write_text(args.out / "table1_protocols.md", text)
    atomic_write_text(args.out / "table1_protocols.json", json.dumps(raw, indent=1, allow_nan=True))
    return text


# --- main -----------------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    """The command line of :func:`main` (``argv`` None: ``sys.argv``), e.g. to build its cells with :func:`make_cells`."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), help="protocol files in configs/table1")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods (exact names; default: all of the protocol's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=60, help="minibatches per cell (the budget, the same for every cell)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--shapes-per-class", type=int, default=40, help="procedural shapes per class (10 classes; 70/10/20 split)")
    p.add_argument("--eval-every", type=int, default=0, help="record a learning curve: validation Chamfer and SW every this many minibatches (0: none)")
    p.add_argument("--curve-shapes", type=int, default=60, help="validation shapes scored for the learning curve")
    p.add_argument("--emd-shapes", type=int, default=16, help="test shapes scored with the exact EMD (about 1 s each)")
    p.add_argument("--figure-index", type=int, nargs="+", default=[0, 17, 41, 66])
    p.add_argument("--figure-points", type=int, default=512, help="points per reconstruction kept for the figure")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")), help="torch threads per cell")
    p.add_argument("--jobs", type=int, default=1, help="cells run at once (processes); 1 runs them in this process")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "geomgen_eval_cache", help="procedural shapes cache")
    p.add_argument("--out", type=Path, default=HERE / "table1_protocols")
    p.add_argument("--checkpoint-every", type=int, default=250,
                   help="save a running cell's state every this many minibatches in OUT/partial/, where a stopped "
                        "cell resumes from (0: never)")
    p.add_argument("--report-only", action="store_true", help="write the report from finished cells, train nothing")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python -m evaluation.pointclouds.table1_protocols " + shlex.join(argv if argv is not None else sys.argv[1:])
    cells_dir = args.out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    cells = make_cells(args)
    for c in cells:  # fail on a bad protocol entry now, not hours later
        instantiate(c["loss"], c["key"])
    recorded = recorded_rows(args.out)
    known = {**recorded, **load_cells(cells_dir)}  # a cell file wins over the report's record of it
    finished = {k for k, r in known.items() if r.get("status") == "ok"}
    todo = [] if args.report_only else [c for c in cells if c["key"] not in finished]
    print(f"{len(cells)} cells: {len(cells) - len(todo)} finished or skipped, {len(todo)} to run", flush=True)
    if todo:
        datamodule(todo[0])  # build the shapes cache once, before any worker reads it
    t0 = time.time()

    def done(key: str, row: dict) -> None:
        if row["status"] != "ok":
            print(f"[failed] {key}: {row['error']}\n{row.get('traceback', '')}", file=sys.stderr, flush=True)
            return
        print(
            f"[done] {row['protocol']} / {row['method']} / seed {row['seed']}: CD {100 * row['chamfer']:.3f} "
            f"SW {100 * row['sw']:.3f} EMD {100 * row['emd']:.3f} x100, {row['step_ms_median']:.0f} ms/step, "
            f"{row['train_s']:.0f} s ({time.time() - t0:.0f} s so far)",
            flush=True,
        )

    # the shared resumable grid (geomgen.grid): failed cells are recorded and run again next time
    run = run_grid([(c["key"], c) for c in todo], run_cell_safely, cells_dir, workers=args.jobs, threads=args.threads,
                   progress=False, on_row=done)
    keys = {c["key"] for c in cells}
    rows = {k: r for k, r in {**recorded, **load_cells(cells_dir)}.items() if k in keys and r.get("status") == "ok"}
    failed = [r for k, r in run.rows.items() if r.get("status") != "ok" and k in {c["key"] for c in todo}]
    print(report(args, cells, rows, failed, time.time() - t0, command, recorded))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
