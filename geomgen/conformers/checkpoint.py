"""VonMisesNet checkpoints: load the network of a (Lightning or slim) checkpoint, export a slim one.

Plain torch, no Lightning: the generation path loads the shipped model through this module.
Checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from geomgen.atomic import atomic_write
from geomgen.conformers.model import VonMisesNet


def _read_checkpoint(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VonMisesNet checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc
    if not isinstance(ckpt, dict) or "net_config" not in ckpt:
        raise ValueError(f"{path}: not a VonMisesNet checkpoint (no 'net_config')")
    return ckpt


def load_vonmisesnet(path) -> VonMisesNet:
    """The network of a checkpoint (a Lightning one from training or a slim exported one), in
    eval mode."""
    ckpt = _read_checkpoint(path)
    net = VonMisesNet(**ckpt["net_config"])
    prefix = "net."
    net.load_state_dict({k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)})
    return net.eval()


def export_checkpoint(src, dst) -> None:
    """Write a slim inference checkpoint (hyper-parameters, network config and weights; no
    optimizer state) from a Lightning one, atomically. It keeps Lightning's version entry, so
    ``geomgen vonmisesnet validate`` / ``test --ckpt_path`` take it as they take the full one."""
    ckpt = _read_checkpoint(src)
    keys = ("hyper_parameters", "net_config", "state_dict", "epoch", "global_step", "pytorch-lightning_version")
    slim = {key: ckpt.get(key) for key in keys}
    slim["geomgen_source"] = Path(src).name
    atomic_write(dst, lambda tmp: torch.save(slim, tmp))
