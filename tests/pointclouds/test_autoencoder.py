import pytest
import torch

from geomgen.pointclouds.autoencoder import E3nnEncoder, MLPDecoder, PointCloudAutoencoder, PointNetEncoder
from tests.pointclouds.losses.properties import random_rotation, single_thread  # noqa: F401


def test_pointnet_encoder_is_permutation_invariant():
    torch.manual_seed(0)
    enc = PointNetEncoder(latent_dim=8, hidden=(16, 32)).eval()
    x = torch.randn(2, 50, 3)
    perm = torch.randperm(50)
    assert torch.allclose(enc(x), enc(x[:, perm]), atol=1e-6)
    assert enc(x).shape == (2, 8)
    with pytest.raises(ValueError, match=r"\(2, 50, 2\)"):
        enc(torch.zeros(2, 50, 2))


def test_e3nn_encoder_is_rotation_and_translation_invariant():
    torch.manual_seed(0)
    enc = E3nnEncoder(latent_dim=16, k=6, mul=4, layers=1).double()
    x = torch.randn(2, 30, 3, dtype=torch.float64)
    rot = random_rotation(torch.float64, seed=1)
    z = enc(x)
    assert z.shape == (2, 16)
    assert torch.allclose(z, enc(x @ rot.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)), atol=1e-9)
    assert torch.allclose(z, enc(x[:, torch.randperm(30)]), atol=1e-9)
    assert not torch.allclose(z[0], z[1])  # not trivially constant


def test_autoencoder_shapes_and_config_roundtrip():
    ae = PointCloudAutoencoder(latent_dim=8, n_points=20, encoder_hidden=(8,), decoder_hidden=(16,))
    assert ae(torch.randn(3, 40, 3)).shape == (3, 20, 3)
    assert ae.encode(torch.randn(3, 40, 3)).shape == (3, 8)
    clone = PointCloudAutoencoder(**ae.config())
    clone.load_state_dict(ae.state_dict())
    assert MLPDecoder(8, 5, (4,))(torch.zeros(2, 8)).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="encoder must be"):
        PointCloudAutoencoder(encoder="dgcnn")
