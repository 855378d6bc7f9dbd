"""``geomgen pointcloud``: fit / validate / test / predict point-cloud autoencoders (LightningCLI),
reconstruct clouds, export a trained model.

    geomgen pointcloud fit --config sw              # a shipped config by name, or a YAML path
    geomgen pointcloud fit --config sw --trainer.max_epochs 5 --ckpt_path last   # resume
    geomgen pointcloud test --config sw --ckpt_path runs/pointcloud/sw/checkpoints/last.ckpt
    geomgen pointcloud reconstruct cloud.ply -o recon.ply [--model CKPT]
    geomgen pointcloud reconstruct --example torus -o recon.ply   # a cloud shipped in the package
    geomgen pointcloud examples                      # list the shipped example clouds
    geomgen pointcloud export runs/pointcloud/sw/checkpoints/last.ckpt -o model.pt

``train`` is a deprecated alias of ``fit``. Checkpoints go to ``<trainer.default_root_dir>/checkpoints``
(one fixed folder per run, whatever the logger's version) unless a ``ModelCheckpoint`` names its own
``dirpath``; ``--ckpt_path last`` resumes from the ``last.ckpt`` there, and exits with status 2 when
there is none. Heavy imports (torch, Lightning) happen inside the functions that need them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geomgen.lightning_cli import USAGE_ERRORS, CheckpointHooks, quiet_lightning
from geomgen.pointclouds.checkpoint import DEFAULT_MODEL, export, load_autoencoder

#: LightningCLI subcommands offered, and deprecated spellings of them
_LIGHTNING_STAGES = ("fit", "validate", "test", "predict")
_DEPRECATED_ALIASES = {"train": "fit"}


def configs_dir() -> Path:
    """Folder of the shipped LightningCLI configs (``geomgen/pointclouds/configs``)."""
    return Path(__file__).resolve().parent / "configs"


def resolve_config(value: str) -> str:
    """A ``--config`` value: an existing path, or the name of a shipped config (``sw``, ``vdsw``...)."""
    if Path(value).exists():
        return value
    shipped = configs_dir() / (value if value.endswith(".yaml") else f"{value}.yaml")
    if shipped.exists():
        return str(shipped)
    names = sorted(p.stem for p in configs_dir().glob("*.yaml"))
    raise FileNotFoundError(f"config {value!r} is neither a file nor a shipped config ({', '.join(names)})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``pointcloud`` actions: the LightningCLI stages, ``train`` (deprecated), ``reconstruct``, ``export``."""
    sub = parser.add_subparsers(dest="pointcloud_command", metavar="ACTION", required=True)
    stages = {stage: stage for stage in _LIGHTNING_STAGES} | _DEPRECATED_ALIASES
    for name, stage in stages.items():
        help_ = f"LightningCLI '{stage}' (e.g. --config sw, --trainer.max_epochs N, --ckpt_path last; --help for all)"
        if name in _DEPRECATED_ALIASES:
            help_ = f"deprecated alias of '{stage}'"
        # '+' as prefix: every argument (--config, --trainer.*, --help) goes on to LightningCLI
        p = sub.add_parser(name, prefix_chars="+", add_help=False, help=help_)
        p.add_argument("cli_args", nargs=argparse.REMAINDER)
        p.set_defaults(lightning_stage=stage)
    r = sub.add_parser("reconstruct", help="reconstruct a point cloud (.npy/.ply/.xyz/.off) with an autoencoder")
    source = r.add_mutually_exclusive_group(required=True)
    source.add_argument("input", nargs="?", help="input cloud: .npy ([N, 3] or [B, N, 3]), .ply, .xyz, .txt or .off (meshes are sampled)")
    source.add_argument("--example", metavar="NAME", help="a cloud shipped in the package instead of a file (see 'geomgen pointcloud examples')")
    r.add_argument("-o", "--output", required=True, help="output file (.npy, .ply, .xyz or .txt)")
    r.add_argument("--model", default=None, help=f"exported .pt or Lightning .ckpt (default: shipped {DEFAULT_MODEL})")
    r.add_argument("--seed", type=int, default=0, help="seed for resampling the input to the model's point count")
    sub.add_parser("examples", help="list the example clouds shipped in the package (for reconstruct --example)")
    e = sub.add_parser("export", help="export the autoencoder of a Lightning checkpoint to a small .pt file")
    e.add_argument("checkpoint")
    e.add_argument("-o", "--output", required=True)


def run(args: argparse.Namespace) -> int:
    """Run one ``pointcloud`` action; return the exit status (2 for ``--ckpt_path last`` with nothing to resume)."""
    command = args.pointcloud_command
    if command in _DEPRECATED_ALIASES:
        print(f"geomgen pointcloud {command} is deprecated: use 'geomgen pointcloud {args.lightning_stage}'", file=sys.stderr)
    if getattr(args, "lightning_stage", None) is not None:
        from geomgen.pointclouds.datasets import DatasetError

        try:
            return run_lightning(args.lightning_stage, args.cli_args)
        except (*USAGE_ERRORS, DatasetError) as err:
            print(f"geomgen pointcloud {args.lightning_stage}: error: {err}", file=sys.stderr)
            return 2
    prog = f"geomgen pointcloud {command}"
    if command == "examples":
        from geomgen.pointclouds.examples import EXAMPLES, examples_dir

        for name, (cls, what) in EXAMPLES.items():
            print(f"{name:10s} {what} (class {cls})")
        print(f"files: {examples_dir()}/<name>.npy; reconstruct one: geomgen pointcloud reconstruct --example torus -o out.ply")
        return 0
    if command == "reconstruct":
        try:
            if args.example is not None:
                from geomgen.pointclouds.examples import example_path

                args.input = str(example_path(args.example))
            return reconstruct(args.input, args.output, args.model, seed=args.seed)
        except (ValueError, FileNotFoundError) as err:  # bad input, output path or model: each message names the file
            print(f"{prog}: {err}", file=sys.stderr)
            return 2
        except OSError as err:  # writing failed after the checks (disk full...)
            print(f"{prog}: {err.filename or args.output}: {err.strerror or err}", file=sys.stderr)
            return 1
    if command == "export":
        try:
            export(args.checkpoint, args.output)
        except (ValueError, FileNotFoundError) as err:
            print(f"{prog}: {err}", file=sys.stderr)
            return 2
        except OSError as err:
            print(f"{prog}: {err.filename or args.output}: {err.strerror or err}", file=sys.stderr)
            return 1
        print(f"wrote {args.output}")
        return 0
    raise ValueError(f"unknown pointcloud action {command!r}")  # pragma: no cover


def run_lightning(stage: str, cli_args: list[str]) -> int:
    """Run LightningCLI with ``stage`` (fit/validate/test/predict) and the given arguments.

    Args:
        stage (str): the LightningCLI subcommand.
        cli_args (list[str]): its arguments; a ``--config`` value may name a shipped config.

    Raises:
        MissingLastCheckpoint: ``--ckpt_path last`` with no ``last.ckpt`` in the run's checkpoint folder.
        UnusableCheckpoint: a ``--ckpt_path`` file that is missing or unreadable, or a ``fit``
            resume from a run configured otherwise.
        DatasetError: data files that cannot be used (checked when the data are set up).
    """
    from lightning.pytorch.cli import LightningCLI

    from geomgen.pointclouds.datamodule import PointCloudDataModule
    from geomgen.pointclouds.system import PointCloudAutoencoderSystem

    class PointCloudCLI(CheckpointHooks, LightningCLI):
        pass

    cli_args = list(cli_args)
    for i, a in enumerate(cli_args):
        if a == "--config" and i + 1 < len(cli_args):
            cli_args[i + 1] = resolve_config(cli_args[i + 1])
        elif a.startswith("--config="):
            cli_args[i] = "--config=" + resolve_config(a.split("=", 1)[1])
    with quiet_lightning():
        PointCloudCLI(
            PointCloudAutoencoderSystem,
            PointCloudDataModule,
            args=[stage, *cli_args],
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
        )
    return 0


def _read_input(input_path: str):
    """The input's points, ``[B, N, 3]`` for a batch in a .npy file else ``[N, 3]``, and its
    triangles (or ``None``), checked (readable, shape, finite).

    Raises:
        ValueError, FileNotFoundError: naming the file and the reason.
    """
    import numpy as np

    from geomgen.pointclouds.io import check_points, read_mesh

    path = Path(input_path)
    if path.suffix.lower() == ".npy" and path.is_file() and path.stat().st_size > 0:
        try:
            ndim = getattr(np.load(path, mmap_mode="r", allow_pickle=False), "ndim", None)  # None: an .npz archive
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable .npy file ({str(exc).splitlines()[0] or type(exc).__name__})") from exc
        if ndim == 3:
            batch = np.load(path)
            if batch.shape[-1] != 3 or batch.shape[1] == 0 or batch.shape[0] == 0:
                raise ValueError(f"{path}: expected [B, N, 3] or [N, 3] points with B, N >= 1, got {batch.shape}")
            check_points(batch, path)  # before the conversion: complex values are refused, not made real
            return batch.astype(np.float64), None
    return read_mesh(path)


def _resample(points, faces, n: int, seed: int, source) -> tuple[list, list[str]]:
    """Clouds of ``n`` points (float64): area-uniform samples on a mesh's triangles, else a subset of
    the points, or all of them plus random repeats when there are fewer than ``n`` (said in the warnings)."""
    import numpy as np

    from geomgen.pointclouds.io import resample_points, sample_triangles

    rng = np.random.default_rng(seed)
    if faces is not None and len(faces):
        return [sample_triangles(points, faces, n, rng)], []
    batch = points if points.ndim == 3 else points[None]
    warnings_ = []
    if batch.shape[1] < n:
        what = f"clouds of {batch.shape[1]} points" if len(batch) > 1 else f"{batch.shape[1]} point(s)"
        warnings_.append(f"{source}: {what}, the model takes {n}: {n - batch.shape[1]} point(s) of each cloud repeated at random")
    return [resample_points(c, n, rng) for c in batch], warnings_


def reconstruct(input_path: str, output_path: str, model_path: str | None = None, seed: int = 0) -> int:
    """Reconstruct the cloud(s) in ``input_path`` and write them, in the input's frame, to ``output_path``.

    Each cloud is resampled to the model's point count (a warning is printed when points have
    to be repeated), centred and scaled into the unit ball, passed through the autoencoder and
    mapped back (inverse scale and shift). Input, output path and model are checked first.

    Raises:
        ValueError, FileNotFoundError: a bad input (unreadable, cut short, not [N, 3] or [B, N, 3],
            NaN or inf values), output path or model; the message names the file. Nothing is written.
        OSError: writing the output failed.
    """
    import numpy as np
    import torch

    from geomgen.pointclouds.io import check_output, normalize_unit_ball, write_point_cloud

    points, faces = _read_input(input_path)
    batch = points.ndim == 3
    if batch and Path(output_path).suffix.lower() != ".npy":
        raise ValueError(f"{output_path}: {len(points)} clouds need a .npy output")
    check_output(output_path)
    model, _ = load_autoencoder(model_path)
    n = model.config()["n_points"]
    clouds, warnings_ = _resample(points, faces, n, seed, input_path)
    for w in warnings_:
        print(f"geomgen pointcloud reconstruct: warning: {w}", file=sys.stderr)
    normed, frames = zip(*[(c_n, (centre, scale)) for c_n, centre, scale in map(normalize_unit_ball, clouds)])
    x = torch.from_numpy(np.stack(normed).astype(np.float32))
    with torch.no_grad():
        recon = model(x).numpy().astype(np.float64)
    recon = np.stack([r * scale + centre for r, (centre, scale) in zip(recon, frames)]).astype(np.float32)
    if batch:
        from geomgen.atomic import atomic_write

        def save(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.save(f, recon)

        atomic_write(Path(output_path), save)
    else:
        write_point_cloud(output_path, recon[0])
    print(f"wrote {output_path} ({len(recon)} cloud(s) of {n} points)")
    return 0
