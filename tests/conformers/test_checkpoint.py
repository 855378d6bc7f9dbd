"""VonMisesNet checkpoint files (geomgen/conformers/checkpoint.py): checked before any network is built."""

import functools

import pytest
import torch

import geomgen.conformers.checkpoint as checkpoint
from geomgen.conformers.checkpoint import export_checkpoint, load_vonmisesnet
from geomgen.conformers.model import VonMisesNet

SMALL = {"hidden": 16, "num_layers": 1, "num_components": 2}


def _slim(path, **changes):
    net = VonMisesNet(**SMALL)
    ckpt = {"net_config": net.config, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}
    ckpt.update(changes)
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"net_config": {**SMALL, "width": 3}}, "net_config: unknown VonMisesNet argument(s) width"),
        ({"net_config": "hidden=16"}, "net_config must be a dict of VonMisesNet arguments, got str"),
        ({"state_dict": None}, "no 'state_dict' (the network's weights)"),
        ({"net_config": {**SMALL, "hidden": 12000}}, "weights do not match net_config"),
        ({"net_config": {**SMALL, "hidden": 10**9}}, "hidden=1000000000 is not a valid VonMisesNet hidden"),
        ({"net_config": {**SMALL, "num_components": "2"}}, "num_components='2' is not a valid VonMisesNet num_components"),
        ({"net_config": {**SMALL, "num_layers": 2}}, "missing (net.convs.1."),
        ({"net_config": {"ensemble": []}}, "net_config of an ensemble must be"),
        ({"net_config": {**SMALL, "coupling": True, "coupling_mode": "pairs"}}, "coupling_mode='pairs' is not a valid VonMisesNet"),
        ({"net_config": {**SMALL, "coupling": True}}, "5 missing (net.couple_angle.weight"),
    ],
)  # fmt: skip
def test_bad_checkpoints_are_one_line_value_errors_before_any_network_is_built(tmp_path, monkeypatch, changes, reason):
    """Issue 25 (M): an unknown net_config key, a string net_config or no state_dict gave tracebacks,
    and ``hidden: 12000`` allocated 2.5 GB before failing. Now every one is refused from the file
    alone; networks are only ever built on the meta device (no memory) until the checks pass."""
    path = _slim(tmp_path / "bad.ckpt", **changes)
    devices = []
    real_init = VonMisesNet.__init__

    @functools.wraps(real_init)
    def recording_init(self, *args, **kwargs):
        devices.append(torch.empty(0).device.type)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(VonMisesNet, "__init__", recording_init)
    for read in (load_vonmisesnet, lambda p: export_checkpoint(p, tmp_path / "out.ckpt")):
        with pytest.raises(ValueError) as info:
            read(path)
        msg = str(info.value)
        assert msg.startswith(f"{path}: ") and reason in msg and "\n" not in msg
    assert set(devices) <= {"meta"}
    assert not (tmp_path / "out.ckpt").exists()


def test_good_checkpoint_loads(tmp_path):
    net = load_vonmisesnet(_slim(tmp_path / "ok.ckpt"))
    assert net.config == VonMisesNet(**SMALL).config and not net.training
    assert checkpoint.check_checkpoint(torch.load(tmp_path / "ok.ckpt", weights_only=True), "x") is None
