"""Point-cloud autoencoder files: load an exported ``.pt`` or a Lightning checkpoint without
Lightning, and export a small ``.pt`` (config + weights, no optimizer state)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "models/pointcloud_ae_shapes.pt"


EXPORT_FORMAT = "geomgen.pointcloud_autoencoder"


def _load(path: str | Path):
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a Lightning .ckpt may hold pickled objects beyond tensors
        if path.suffix != ".ckpt":
            raise ValueError(f"{path}: not a geomgen autoencoder file ({err})") from err
        return torch.load(path, map_location="cpu", weights_only=False)


def load_autoencoder(path: str | Path | None = None):
    """Rebuild a :class:`~geomgen.pointclouds.autoencoder.PointCloudAutoencoder` (eval mode) from an exported
    ``.pt`` file or a Lightning checkpoint, without importing Lightning. Returns ``(model, meta)``."""
    from geomgen.pointclouds.autoencoder import PointCloudAutoencoder

    if path is None:
        from geomgen.assets import asset_path

        path = asset_path(DEFAULT_MODEL)
    blob = _load(path)
    if isinstance(blob, dict) and blob.get("format") == EXPORT_FORMAT:
        config, state, meta = blob["config"], blob["state_dict"], blob.get("meta", {})
    elif isinstance(blob, dict) and "state_dict" in blob and "autoencoder_config" in blob.get("hyper_parameters", {}):
        config = blob["hyper_parameters"]["autoencoder_config"]
        state = {k[len("autoencoder.") :]: v for k, v in blob["state_dict"].items() if k.startswith("autoencoder.")}
        meta = {"loss": blob["hyper_parameters"].get("loss_name"), "epoch": blob.get("epoch"), "step": blob.get("global_step")}
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
