"""Learning curves of point-cloud training runs: validation Chamfer, SW and EMD against training
minibatches and against training wall time, with the plateau rule of
:mod:`geomgen.pointclouds.curves` (less than 2 % improvement of the best validation Chamfer over
the last 20 % of the steps).

Reads the Lightning ``metrics.csv`` files under each run folder (``--run LABEL=DIR``, e.g. the
``trainer.default_root_dir`` of a ``geomgen pointcloud fit`` run; the per-epoch validation rows
that every run logs, with ``val/batches`` and ``val/train_wall_s``), writes
``<out>.png`` (2 x 3 panels) and ``<out>.md`` (last and best values, and the step at which the
plateau rule first held), atomically, and prints the table.

    python -m evaluation.pointclouds.learning_curves --run SW=runs/pointcloud/sw --run vDSW=runs/pointcloud/vdsw \\
        --out evaluation/pointclouds/learning_curves
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write
from geomgen.pointclouds.curves import plateau_reached, plateau_step, read_metrics
from geomgen.tables import publish

METRICS = (("val/chamfer", "validation Chamfer"), ("val/sw", "validation SW$_2$"), ("val/emd", "validation EMD (512-point subsets)"))


def _x(m: dict, key: str) -> np.ndarray:
    if key in m:
        return m[key]
    return m["step"] if key == "val/batches" and "step" in m else np.arange(len(m["val/chamfer"]), dtype=float)


def plot(curves: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for label, m in curves.items():
        for j, (key, title) in enumerate(METRICS):
            if key not in m:
                continue
            for i, (xkey, xlabel) in enumerate((("val/batches", "training minibatches"), ("val/train_wall_s", "training wall time (s)"))):
                ax = axes[i, j]
                ax.plot(_x(m, xkey), m[key], label=label, lw=1.2)
                ax.set(xlabel=xlabel, title=title, yscale="log")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)


def table(curves: dict[str, dict], command: str) -> str:
    lines = [
        "# Learning curves",
        "",
        f"Produced by `{command}`. Plateau rule (geomgen.pointclouds.curves.plateau_reached): the best validation "
        "Chamfer improved by less than 2 % over the last 20 % of the training minibatches.",
        "",
        "| run | minibatches | training wall s | last val Chamfer | best val Chamfer | last val SW | last val EMD | plateau now | plateau first at minibatch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, m in curves.items():
        steps, ch = _x(m, "val/batches"), m["val/chamfer"]
        first = plateau_step(steps, ch)
        wall = m.get("val/train_wall_s", np.array([np.nan]))[-1]
        last = {k: (f"{m[k][-1]:.4f}" if k in m else "-") for k, _ in METRICS}
        lines.append(
            f"| {label} | {steps[-1]:.0f} | {wall:.0f} | {last['val/chamfer']} | {np.nanmin(ch):.4f} | {last['val/sw']} | {last['val/emd']} "
            f"| {'yes' if plateau_reached(steps, ch) else 'no'} | {'-' if first is None else f'{first:.0f}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="append", required=True, metavar="LABEL=DIR", help="a run folder, labelled (repeat for each loss)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "learning_curves")
    a = p.parse_args(argv)
    curves = {}
    for spec in a.run:
        label, _, folder = spec.partition("=")
        if not folder:
            label, folder = Path(spec).name, spec
        curves[label] = read_metrics(folder)
    command = "python -m evaluation.pointclouds.learning_curves " + " ".join(argv if argv is not None else sys.argv[1:])
    plot(curves, a.out.with_suffix(".png"))
    text = table(curves, command)
    publish(a.out.with_suffix(".md"), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
