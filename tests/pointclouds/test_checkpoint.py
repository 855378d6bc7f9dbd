"""Point-cloud autoencoder files (geomgen/pointclouds/checkpoint.py): checked before the network is built."""

import pytest
import torch

from geomgen.pointclouds.autoencoder import PointCloudAutoencoder
from geomgen.pointclouds.checkpoint import EXPORT_FORMAT, load_autoencoder

SMALL = {"n_points": 32, "latent_dim": 8, "encoder_hidden": [8], "decoder_hidden": [16]}


def _exported(path, **changes):
    model = PointCloudAutoencoder(**SMALL)
    blob = {"format": EXPORT_FORMAT, "version": 1, "config": model.config(), "state_dict": model.state_dict(), "meta": {}}
    blob.update(changes)
    torch.save(blob, path)
    return path


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"config": {**SMALL, "width": 3}}, "unknown PointCloudAutoencoder argument(s) width"),
        ({"config": "pointnet"}, "the autoencoder config must be a dict of PointCloudAutoencoder arguments, got str"),
        ({"state_dict": None}, "no 'state_dict' (the network's weights)"),
        ({"config": {**SMALL, "n_points": 60000}}, "weights do not match the autoencoder config"),
        ({"config": {**SMALL, "n_points": 10**9}}, "n_points=1000000000 is not a valid PointCloudAutoencoder n_points"),
        ({"config": {**SMALL, "encoder": "resnet"}}, "encoder='resnet' is not a valid PointCloudAutoencoder encoder"),
        ({"config": {**SMALL, "decoder": "atlas"}}, "decoder='atlas' is not a valid PointCloudAutoencoder decoder"),
        ({"config": {**SMALL, "decoder": "folding"}}, "weights do not match the autoencoder config"),
        ({"config": {**SMALL, "decoder_hidden": [16, 16]}}, "2 missing (decoder.mlp.4.bias, ...)"),
    ],
)  # fmt: skip
def test_bad_model_files_are_one_line_value_errors(tmp_path, monkeypatch, changes, reason):
    """Issue 25 (M): a malformed config or missing weights gave tracebacks (and a huge n_points a
    huge allocation) when the network was built; now the file alone is checked first."""
    path = _exported(tmp_path / "bad.pt", **changes)
    built = []
    real_init = PointCloudAutoencoder.__init__

    def recording_init(self, *args, **kwargs):
        built.append(torch.empty(0).device.type)
        real_init(self, *args, **kwargs)

    recording_init.__wrapped__ = real_init  # inspect.signature sees the real arguments
    monkeypatch.setattr(PointCloudAutoencoder, "__init__", recording_init)
    with pytest.raises(ValueError) as info:
        load_autoencoder(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and reason in msg and "\n" not in msg
    assert set(built) <= {"meta"}


def test_good_model_file_loads(tmp_path):
    model, _ = load_autoencoder(_exported(tmp_path / "ok.pt"))
    assert model.config() == PointCloudAutoencoder(**SMALL).config() and not model.training


def test_folding_model_file_loads(tmp_path):
    folding = PointCloudAutoencoder(**SMALL, decoder="folding")
    path = tmp_path / "folding.pt"
    torch.save({"format": EXPORT_FORMAT, "version": 1, "config": folding.config(), "state_dict": folding.state_dict(), "meta": {}}, path)
    model, _ = load_autoencoder(path)
    x = torch.randn(2, 40, 3)
    assert model.config()["decoder"] == "folding" and torch.equal(model(x), folding.eval()(x))
