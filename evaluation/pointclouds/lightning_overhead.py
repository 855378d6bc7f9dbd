"""Training speed of a shipped point-cloud config: Lightning against a plain PyTorch loop with the
same model, loss, data and optimizer, and the share of a step spent in the loss.

Three ways of running the same training steps, in one process, interleaved in ``--rounds``
rounds of ``--steps`` steps each, the order rotated from round to round so that load changes on a
shared CPU hit every way alike (the first two steps of every block are warm-up):

* ``lightning (as configured)``: ``Trainer.fit`` with the config's trainer settings (progress bar,
  the default CSV logger, ``log_every_n_steps``), validation and checkpointing off;
* ``lightning (bare)``: the same without progress bar and logger;
* ``plain loop``: ``for x, _ in loader: zero_grad; loss(x, ae(x)).mean().backward(); step``;
* ``plain loop, torch.sort``: the plain loop with the losses' projections sorted by ``torch.sort``
  (:func:`geomgen.pointclouds.losses.sliced.torch_sort`), the path before NumPy's argsort: what
  that change saves in a whole training step.

A step's time is the time between the starts of successive minibatches (data loading, forward,
backward, optimizer step, logging: everything). The plain loop also splits its steps into
data, autoencoder forward, loss forward + backward (on the detached reconstruction), autoencoder
backward and optimizer step, which gives the loss's share. Writes ``lightning_overhead.md``
next to this script (atomically; ``--out`` for another file) and prints it.

    OMP_NUM_THREADS=1 nice python -m evaluation.pointclouds.lightning_overhead [--config sw] [--threads 1]
"""

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from geomgen.lightning_cli import quiet_lightning
from geomgen.pointclouds.cli import resolve_config
from geomgen.pointclouds.datamodule import PointCloudDataModule
from geomgen.pointclouds.losses.sliced import torch_sort
from geomgen.pointclouds.system import PointCloudAutoencoderSystem
from geomgen.tables import publish


def _build(spec):
    """An object from a LightningCLI ``{class_path, init_args}`` spec (nested specs built too)."""
    if isinstance(spec, dict) and "class_path" in spec:
        module, name = spec["class_path"].rsplit(".", 1)
        kwargs = {k: _build(v) for k, v in (spec.get("init_args") or {}).items()}
        return getattr(importlib.import_module(module), name)(**kwargs)
    return spec


def load_config(name: str) -> dict:
    return yaml.safe_load(Path(resolve_config(name)).read_text())


def make_parts(cfg: dict, cache: Path):
    """``(system, datamodule)`` of a config, seeded with its ``seed_everything``."""
    L.seed_everything(cfg.get("seed_everything", 0), verbose=False)
    m = cfg["model"]
    kwargs = {k: v for k, v in m.items() if k not in ("autoencoder", "loss")}
    system = PointCloudAutoencoderSystem(_build(m["autoencoder"]), _build(m.get("loss")), **kwargs)
    data = dict(cfg["data"], path=str(cache))
    dm = PointCloudDataModule(**data)
    dm.prepare_data()
    dm.setup()
    return system, dm


class _BatchStarts(Callback):
    def __init__(self):
        self.starts = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.starts.append(time.perf_counter())


def lightning_steps(cfg: dict, cache: Path, steps: int, configured: bool, root: Path) -> list[float]:
    system, dm = make_parts(cfg, cache)
    t = cfg.get("trainer", {})
    starts = _BatchStarts()
    kw = dict(enable_progress_bar=t.get("enable_progress_bar", True), log_every_n_steps=t.get("log_every_n_steps", 50))
    if not configured:
        kw = dict(enable_progress_bar=False, logger=False)
    with quiet_lightning():
        trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=steps + 1, limit_val_batches=0,
                            enable_checkpointing=False, enable_model_summary=False, default_root_dir=root, callbacks=[starts], **kw)  # fmt: skip
        trainer.fit(system, dm)
    return [b - a for a, b in zip(starts.starts[2:], starts.starts[3:])]


def plain_steps(cfg: dict, cache: Path, steps: int) -> tuple[list[float], dict[str, list[float]]]:
    system, dm = make_parts(cfg, cache)
    ae, loss_fn = system.autoencoder, system.loss
    opt = torch.optim.Adam(ae.parameters(), lr=system.hparams.lr, weight_decay=system.hparams.weight_decay)
    ae.train()
    totals, parts = [], {k: [] for k in ("data", "autoencoder forward", "loss forward + backward", "autoencoder backward", "optimizer step")}
    it = iter(dm.train_dataloader())
    for i in range(steps + 2):
        t0 = time.perf_counter()
        x, _ = next(it)
        t1 = time.perf_counter()
        opt.zero_grad()
        recon = ae(x)
        t2 = time.perf_counter()
        r = recon.detach().requires_grad_()
        loss = loss_fn(x, r).mean()
        loss.backward()
        t3 = time.perf_counter()
        recon.backward(r.grad)
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        if i >= 2:
            totals.append(t5 - t0)
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                parts[k].append(v)
    return totals, parts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="sw", help="shipped config name or YAML path (default: sw, the default model)")
    p.add_argument("--steps", type=int, default=8, help="timed steps per block")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "geomgen_eval_cache")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "lightning_overhead.md")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = load_config(a.config)
    names = ["plain loop", "lightning (bare)", "lightning (as configured)", "plain loop, torch.sort"]
    times: dict[str, list[float]] = {n: [] for n in names}
    parts: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as root:
        for r in range(a.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                if name == "plain loop, torch.sort":
                    with torch_sort():
                        times[name] += plain_steps(cfg, a.cache, a.steps)[0]
                elif name == "plain loop":
                    tot, pr = plain_steps(cfg, a.cache, a.steps)
                    times[name] += tot
                    for k, v in pr.items():
                        parts.setdefault(k, []).extend(v)
                else:
                    times[name] += lightning_steps(cfg, a.cache, a.steps, name.endswith("configured)"), Path(root))
    med = {n: statistics.median(v) for n, v in times.items()}
    part_med = {k: statistics.median(v) for k, v in parts.items()}
    n_params = sum(q.numel() for q in make_parts(cfg, a.cache)[0].autoencoder.parameters())
    cmd = "python -m evaluation.pointclouds.lightning_overhead " + " ".join(argv if argv is not None else sys.argv[1:])
    d = cfg["data"]
    lines = [
        "# Training speed: Lightning against a plain PyTorch loop",
        "",
        f"Produced by `OMP_NUM_THREADS={a.threads} nice {cmd.strip()}`: config `{a.config}` "
        f"({n_params / 1e6:.2f} M parameters, batch {d['batch_size']} x {d['n_points']} points, loss "
        f"`{cfg['model']['loss']['class_path'].rsplit('.', 1)[1]}`), {a.threads} thread(s), median over {a.rounds} "
        f"interleaved rounds (order rotated) of {a.steps} steps on the shared 2-core CPU (other jobs running): quote the ratios, not the seconds.",
        "",
        "| run | median s / step | steps / s | ratio to plain loop (time) |",
        "|---|---|---|---|",
    ]
    for n in names:
        lines.append(f"| {n} | {med[n]:.3f} | {1 / med[n]:.2f} | {med[n] / med['plain loop']:.3f} |")
    total = sum(part_med.values())
    lines += ["", "Where a plain-loop step goes (medians of each part; their sum is the last row):", "",
              "| part | median s | share |", "|---|---|---|"]  # fmt: skip
    for k, v in part_med.items():
        lines.append(f"| {k} | {v:.4f} | {v / total:.1%} |")
    lines.append(f"| sum | {total:.4f} | 100% |")
    publish(a.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
