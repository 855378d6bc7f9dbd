"""VonMisesNet checkpoints: load the network of a (Lightning or slim) checkpoint, export a slim one,
or several as one ensemble checkpoint.

Plain torch, no Lightning: the generation path loads the shipped model through this module.
Checkpoints are read with ``torch.load(weights_only=True)`` and checked (:func:`check_checkpoint`)
before any network is built.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import torch

from geomgen.atomic import atomic_write
from geomgen.conformers.model import COUPLING_MODES, VonMisesNet, VonMisesNetEnsemble
from geomgen.state_dicts import check_weights, expected_shapes

#: largest integer argument (width, depth, components) a checkpoint's ``net_config`` may give
_MAX_SIZE = 1 << 14
#: smallest value of each integer argument (default 1)
_MIN_SIZE = {"num_layers": 0}
#: the values each string argument may take
_CHOICES = {"coupling_mode": COUPLING_MODES}


def _check_arguments(config, where: str) -> None:
    """One network's ``net_config`` against :class:`VonMisesNet`'s constructor: a dict, known
    arguments only, each of its default's type and in range."""
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a dict of VonMisesNet arguments, got {type(config).__name__} {config!r:.60}")
    params = inspect.signature(VonMisesNet).parameters
    unknown = sorted(str(k) for k in config if k not in params or k == "self")
    if unknown:
        raise ValueError(f"{where}: unknown VonMisesNet argument(s) {', '.join(unknown)} (known: {', '.join(params)})")
    for key, value in config.items():
        default = params[key].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, str):
            ok = value in _CHOICES.get(key, (default,))
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and _MIN_SIZE.get(key, 1) <= value <= _MAX_SIZE
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
            ok = ok and (key != "dropout" or value < 1)
        if not ok:
            raise ValueError(f"{where}: {key}={value!r} is not a valid VonMisesNet {key} (default {default!r})")


def check_checkpoint(ckpt, path) -> None:
    """Check a loaded checkpoint before any network is built: ``net_config`` (one network's
    arguments, or ``{"ensemble": [...]}``) against :class:`VonMisesNet`'s constructor, and the
    ``state_dict`` tensors against the shapes that config implies (worked out on the ``meta``
    device, so a config claiming a huge network costs nothing).

    Raises:
        ValueError: naming ``path`` and the first problem found.
    """
    if not isinstance(ckpt, dict) or "net_config" not in ckpt:
        raise ValueError(f"{path}: not a VonMisesNet checkpoint (no 'net_config')")
    config = ckpt["net_config"]
    if isinstance(config, dict) and "ensemble" in config:
        members = config["ensemble"]
        if set(config) != {"ensemble"} or not isinstance(members, list) or not members:
            raise ValueError(f"{path}: net_config of an ensemble must be {{'ensemble': [one dict per member]}}, got keys {sorted(config)}")
        for i, member in enumerate(members):
            _check_arguments(member, f"{path}: net_config['ensemble'][{i}]")
    else:
        _check_arguments(config, f"{path}: net_config")
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise ValueError(f"{path}: no 'state_dict' (the network's weights)")
    prefix = "net."
    weights = {k[len(prefix):]: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}
    check_weights(path, expected_shapes(lambda: build_network(config)), weights, f"net_config {config}", prefix)


def _read_checkpoint(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VonMisesNet checkpoint {str(path)!r} {'is a folder' if path.is_dir() else 'does not exist'}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {first})") from exc
    check_checkpoint(ckpt, path)
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
