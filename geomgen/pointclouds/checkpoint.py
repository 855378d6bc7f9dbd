"""Point-cloud autoencoder files: load an exported ``.pt`` or a Lightning checkpoint without
Lightning, and export a small ``.pt`` (config + weights, no optimizer state).

Every file is read with ``torch.load(weights_only=True)``: checkpoints hold tensors and plain
Python types only, and nothing is ever unpickled in full.
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
        config, state, meta = blob["config"], blob["state_dict"], blob.get("meta", {})
    elif described is not None:
        config = described["autoencoder_config"]
        state = {k[len("autoencoder.") :]: v for k, v in blob["state_dict"].items() if k.startswith("autoencoder.")}
        meta = {"loss": described.get("loss_name"), "epoch": blob.get("epoch"), "step": blob.get("global_step")}
    else:
        raise ValueError(f"{path}: neither an exported autoencoder nor a PointCloudAutoencoderSystem checkpoint")
    model = PointCloudAutoencoder(**config)
    model.load_state_dict(state)
    return model.eval(), meta


def export(checkpoint: str | Path, output: str | Path, meta: dict | None = None) -> Path:
    """Write the autoencoder of ``checkpoint`` (config + weights, no optimizer state) to ``output``
    atomically."""
    import torch

    from geomgen.atomic import atomic_write

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
