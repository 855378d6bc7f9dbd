"""Point-cloud autoencoder files: load an exported ``.pt`` or a Lightning checkpoint without
Lightning, and export a small ``.pt`` (config + weights, no optimizer state).

Every file is read with ``torch.load(weights_only=True)``: checkpoints hold tensors and plain
Python types only, and nothing is ever unpickled in full. The config and the weights' shapes are
checked before the network is built.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "models/pointcloud_ae_shapes.pt"


EXPORT_FORMAT = "geomgen.pointcloud_autoencoder"


def _load(path: str | Path):
    """The object stored in ``path``, read with ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a readable torch file (truncated, another format, or holding
            types that ``weights_only=True`` refuses); the message names the file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"point-cloud autoencoder file {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        first = (str(err).splitlines() or [""])[0]
        raise ValueError(f"{path}: not a readable geomgen autoencoder file ({type(err).__name__}: {first})") from err


def _description(blob) -> dict | None:
    """The dict holding ``autoencoder_config`` in a Lightning checkpoint: the checkpoint itself, or
    (in checkpoints written before it moved out) its hyper-parameters; ``None`` if neither."""
    if not isinstance(blob, dict) or "state_dict" not in blob:
        return None
    for place in (blob, blob.get("hyper_parameters")):
        if isinstance(place, dict) and "autoencoder_config" in place:
            return place
    return None


#: largest width, point count or neighbour count a checkpoint's config may give
_MAX_SIZE = 1 << 16
_ENCODERS = ("pointnet", "e3nn")
_DECODERS = ("mlp", "folding")


def _check_config(config, path) -> None:
    """An autoencoder config against :class:`PointCloudAutoencoder`'s constructor: a dict, known
    arguments only, each of the right type and in range."""
    import inspect

    from geomgen.pointclouds.autoencoder import PointCloudAutoencoder

    if not isinstance(config, dict):
        raise ValueError(f"{path}: the autoencoder config must be a dict of PointCloudAutoencoder arguments, got {type(config).__name__}")
    params = inspect.signature(PointCloudAutoencoder).parameters
    unknown = sorted(str(k) for k in config if k not in params or k == "self")
    if unknown:
        raise ValueError(f"{path}: unknown PointCloudAutoencoder argument(s) {', '.join(unknown)} (known: {', '.join(params)})")

    def size(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= _MAX_SIZE

    for key, value in config.items():
        if key == "encoder":
            ok = value in _ENCODERS
        elif key == "decoder":
            ok = value in _DECODERS
        elif key.endswith("_hidden"):
            ok = isinstance(value, (list, tuple)) and len(value) <= 16 and all(size(v) for v in value)
        else:
            ok = size(value)
        if not ok:
            raise ValueError(f"{path}: {key}={value!r:.80} is not a valid PointCloudAutoencoder {key} (default {params[key].default!r})")


def _check_weights(config: dict, state, path) -> None:
    """``state`` against the tensor shapes ``config`` implies, worked out on the ``meta`` device
    (nothing allocated) where the encoder allows it."""
    from geomgen.pointclouds.autoencoder import PointCloudAutoencoder
    from geomgen.state_dicts import check_weights, expected_shapes

    if not isinstance(state, dict):
        raise ValueError(f"{path}: no 'state_dict' (the network's weights)")
    try:
        expected = expected_shapes(lambda: PointCloudAutoencoder(**config))
    except (RuntimeError, NotImplementedError):  # e3nn draws random numbers at construction: checked by load_state_dict
        return
    check_weights(path, expected, state, f"the autoencoder config {config}")


def load_autoencoder(path: str | Path | None = None):
    """Rebuild a :class:`~geomgen.pointclouds.autoencoder.PointCloudAutoencoder` (eval mode) from an
    exported ``.pt`` file or a ``PointCloudAutoencoderSystem`` Lightning checkpoint, without
    importing Lightning.

    Args:
        path (str or Path, optional): the file (default: the shipped ``models/pointcloud_ae_shapes.pt``).

    Returns:
        ``(model, meta)``: the network and a dict (loss name, epoch, step where known).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is unreadable or not an autoencoder file; the message names it.
    """
    from geomgen.pointclouds.autoencoder import PointCloudAutoencoder

    if path is None:
        from geomgen.assets import asset_path

        path = asset_path(DEFAULT_MODEL)
    blob = _load(path)
    described = _description(blob)
    if isinstance(blob, dict) and blob.get("format") == EXPORT_FORMAT:
        config, state, meta = blob.get("config"), blob.get("state_dict"), blob.get("meta", {})
        meta = meta if isinstance(meta, dict) else {}
    elif described is not None:
        config = described["autoencoder_config"]
        state = {k[len("autoencoder.") :]: v for k, v in blob["state_dict"].items() if isinstance(k, str) and k.startswith("autoencoder.")}
        meta = {"loss": described.get("loss_name"), "epoch": blob.get("epoch"), "step": blob.get("global_step")}
    else:
        raise ValueError(f"{path}: neither an exported autoencoder nor a PointCloudAutoencoderSystem checkpoint")
    _check_config(config, path)
    _check_weights(config, state, path)
    model = PointCloudAutoencoder(**config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not match the autoencoder config {config} ({str(err).splitlines()[0]})") from err
    return model.eval(), meta


#: file types :func:`export` writes
EXPORT_SUFFIXES = (".pt", ".pth", ".ckpt")


def export(checkpoint: str | Path, output: str | Path, meta: dict | None = None) -> Path:
    """Write the autoencoder of ``checkpoint`` (config + weights, no optimizer state) to ``output``
    atomically. The output path is checked before the checkpoint is read.

    Raises:
        ValueError: ``output`` cannot be written (a folder, an unknown suffix, a folder that cannot
            hold it), or ``checkpoint`` is not a usable autoencoder file; naming the file.
        FileNotFoundError: ``checkpoint`` does not exist.
        OSError: writing failed (disk full...); no partial file is left.
    """
    import torch

    from geomgen.atomic import atomic_write, output_problem

    problem = output_problem(output, EXPORT_SUFFIXES, probe=True)
    if problem:
        raise ValueError(problem)
    model, found = load_autoencoder(checkpoint)
    blob = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "config": model.config(),
        "state_dict": model.state_dict(),
        "meta": {**found, **(meta or {})},
    }
    output = Path(output)
    atomic_write(output, lambda tmp: torch.save(blob, tmp))
    return output
