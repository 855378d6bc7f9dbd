"""VonMisesNet checkpoints: load the network of a (Lightning or slim) checkpoint, export a slim one,
or several as one ensemble checkpoint.

Plain torch, no Lightning: the generation path loads the shipped model through this module.
Checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from geomgen.atomic import atomic_write
from geomgen.conformers.model import VonMisesNet, VonMisesNetEnsemble


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


def build_network(config: dict) -> VonMisesNet | VonMisesNetEnsemble:
    """An untrained network of a checkpoint's ``net_config`` (one network's constructor
    arguments, or ``{"ensemble": [...]}``)."""
    return VonMisesNetEnsemble([VonMisesNet(**c) for c in config["ensemble"]]) if "ensemble" in config else VonMisesNet(**config)


def load_vonmisesnet(path) -> VonMisesNet | VonMisesNetEnsemble:
    """The network of a checkpoint (a Lightning one from training, a slim exported one, or an
    ensemble written by :func:`export_ensemble`), in eval mode."""
    ckpt = _read_checkpoint(path)
    net = build_network(ckpt["net_config"])
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


def export_ensemble(srcs, dst) -> None:
    """Write one slim checkpoint holding the networks of several checkpoints as a
    :class:`~geomgen.conformers.model.VonMisesNetEnsemble` (equal weights), atomically; the
    generator, :func:`load_vonmisesnet` and the evaluation take it as they take one network.

    The hyper-parameters and Lightning version are the first checkpoint's; ``geomgen_source``
    lists the members' file names.

    Raises:
        ValueError: fewer than two checkpoints, or a source that is not a single-network one.
    """
    srcs = [Path(s) for s in srcs]
    if len(srcs) < 2:
        raise ValueError(f"an ensemble needs at least two checkpoints, got {len(srcs)}")
    ckpts = [_read_checkpoint(src) for src in srcs]
    for src, ckpt in zip(srcs, ckpts):
        if "ensemble" in ckpt["net_config"]:
            raise ValueError(f"{src}: already an ensemble; list its members' checkpoints instead")
    state = {f"net.members.{i}.{k[len('net.'):]}": v for i, ckpt in enumerate(ckpts)
             for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    slim = {"hyper_parameters": ckpts[0].get("hyper_parameters"), "net_config": {"ensemble": [c["net_config"] for c in ckpts]},
            "state_dict": state, "pytorch-lightning_version": ckpts[0].get("pytorch-lightning_version"),
            "geomgen_source": [s.name for s in srcs]}
    atomic_write(dst, lambda tmp: torch.save(slim, tmp))
