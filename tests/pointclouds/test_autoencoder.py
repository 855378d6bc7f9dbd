import pytest
import torch
from torch import nn

from geomgen.pointclouds.autoencoder import E3nnEncoder, FoldingDecoder, MLPDecoder, PointCloudAutoencoder, PointNetEncoder, _grid
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


@pytest.mark.parametrize("n", [1, 5, 16, 1024, 1000])
def test_folding_grid_is_n_distinct_points_of_the_square(n):
    g = _grid(n)
    assert g.shape == (n, 2) and g.abs().max() <= 1.0
    assert len({tuple(p) for p in g.tolist()}) == n
    if n == 16:  # a full 4 x 4 grid: every corner of the square is a grid point
        assert {(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)} <= {tuple(p) for p in g.tolist()}


def test_folding_decoder_folds_the_grid_point_by_point():
    torch.manual_seed(0)
    dec = FoldingDecoder(latent_dim=8, n_points=30, hidden=(16,))
    z = torch.randn(3, 8)
    out = dec(z)
    assert out.shape == (3, 30, 3)
    assert torch.allclose(dec(z[1:2]), out[1:2], atol=1e-6)  # each code decoded on its own
    # no layer scales with N: the same weights decode any number of points, and the first fold of
    # a grid point is the same function of (code, grid point) whatever N is
    big = FoldingDecoder(latent_dim=8, n_points=1000, hidden=(16,))
    big.load_state_dict(dec.state_dict())
    assert sum(p.numel() for p in big.parameters()) == sum(p.numel() for p in dec.parameters())
    u = torch.tensor([[[0.25, -0.5]]])
    assert torch.allclose(dec.fold2(z[:1], dec.fold1(z[:1], u)), big.fold2(z[:1], big.fold1(z[:1], u)))
    # the first layer is the linear map of the concatenation [z, u]
    lin = nn.Linear(10, 16)
    with torch.no_grad():
        lin.weight.copy_(torch.cat([dec.fold1.code.weight, dec.fold1.point.weight], dim=1))
        lin.bias.copy_(dec.fold1.code.bias)
    assert torch.allclose(dec.fold1.rest(dec.fold1.code(z[:1]).unsqueeze(1) + dec.fold1.point(u)),
                          dec.fold1.rest(lin(torch.cat([z[:1], u[0]], dim=-1)).unsqueeze(1)), atol=1e-6)
    # at initialisation the grid spreads the points as much as the code does (not a collapsed sheet)
    fresh = FoldingDecoder(latent_dim=128, n_points=256, hidden=(64, 64))
    pts = fresh(torch.randn(1, 128).abs())[0]
    sv = torch.linalg.svdvals(pts - pts.mean(0))
    assert sv[1] > 0.05 * sv[0]
    # a continuous map of the grid: neighbouring grid points land closer than random pairs (ReLU MLPs are Lipschitz)
    grid_step = (dec.grid[1] - dec.grid[0]).norm()
    near = (out[:, 1:6] - out[:, :5]).norm(dim=-1).mean()
    far = (out[:, torch.randperm(30)] - out).norm(dim=-1).mean()
    assert grid_step > 0 and near < far


def test_autoencoder_with_folding_decoder_roundtrips_and_rejects_unknown_decoders():
    ae = PointCloudAutoencoder(latent_dim=8, n_points=20, encoder_hidden=(8,), decoder_hidden=(16,), decoder="folding")
    assert isinstance(ae.decoder, FoldingDecoder) and ae(torch.randn(2, 40, 3)).shape == (2, 20, 3)
    assert ae.config()["decoder"] == "folding"
    clone = PointCloudAutoencoder(**ae.config())
    clone.load_state_dict(ae.state_dict())
    x = torch.randn(2, 40, 3)
    assert torch.equal(clone(x), ae(x))
    # configs written before the folding decoder (no "decoder" key) still mean the MLP decoder
    assert "decoder" not in PointCloudAutoencoder(latent_dim=8, n_points=20).config()
    with pytest.raises(ValueError, match="decoder must be 'mlp' or 'folding', got 'atlas'"):
        PointCloudAutoencoder(decoder="atlas")
