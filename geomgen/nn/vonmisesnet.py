"""VonMisesNet (Swanson, Williams & Jonas, ICML 2023): a message-passing network that predicts a
von Mises mixture for every rotatable torsion, and its checkpoint I/O.

This module does not import Lightning, so the inference path (``geomgen conformers``) stays
light; the training system is :mod:`geomgen.nn.vonmisesnet_system`."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINEConv

from geomgen.datasets.molecules import N_ATOM_FEATURES, N_BOND_FEATURES
from geomgen.distributions import VonMisesMixture


class VonMisesNet(nn.Module):
    r"""Graph network mapping a molecule graph to one von Mises mixture per torsion.

    Atoms are embedded and updated by ``num_layers`` GINE message-passing layers (edge
    features enter every message) with residual connections and layer norm. For a torsion
    (i, j, k, l) the head reads :math:`[h_i, h_j, h_k, h_l]` and the central bond's features,
    symmetrised over the two directions of the quadruple (the dihedral i-j-k-l equals
    l-k-j-i), and outputs K weights, locations and concentrations:

    .. math::
        \mu_k = \operatorname{atan2}(s_k, c_k),\quad
        \kappa_k = \operatorname{softplus}(\cdot) + \kappa_{\min},\quad w = \operatorname{softmax}(\cdot)

    Args:
        hidden (int): width (default 128).
        num_layers (int): message-passing layers (default 5).
        num_components (int): mixture components K (default 6).
        max_concentration (float): cap on :math:`\kappa` (default 500).
        dropout (float): dropout in the head (default 0.0).

    Shapes:
        - input: a (batched) :class:`~geomgen.datasets.molecules.TorsionData` with ``x [N, F_a]``,
          ``edge_index [2, E]``, ``edge_attr [E, F_b]``, ``torsion_index [T, 4]``
        - output: ``(loc, concentration, logits)`` each ``[T, K]``
    """

    def __init__(self, hidden: int = 128, num_layers: int = 5, num_components: int = 6,
                 max_concentration: float = 500.0, dropout: float = 0.0):
        super().__init__()
        self.num_components = num_components
        self.max_concentration = max_concentration
        self.embed = nn.Linear(N_ATOM_FEATURES, hidden)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            self.convs.append(GINEConv(mlp, edge_dim=N_BOND_FEATURES, train_eps=True))
            self.norms.append(nn.LayerNorm(hidden))
        self.bond_embed = nn.Linear(N_BOND_FEATURES, hidden)
        self.pair = nn.Sequential(nn.Linear(5 * hidden, 2 * hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(2 * hidden, hidden))
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 4 * num_components))

    def node_embeddings(self, data) -> Tensor:
        h = self.embed(data.x)
        for conv, norm in zip(self.convs, self.norms):
            h = norm(h + torch.nn.functional.silu(conv(h, data.edge_index, data.edge_attr)))
        return h

    def _bond_attr(self, data, j: Tensor, k: Tensor) -> Tensor:
        # edge attributes of the central bonds j-k: look up by (src, dst) pairs
        n = data.num_nodes
        key = data.edge_index[0] * n + data.edge_index[1]
        order = torch.argsort(key)
        pos = torch.searchsorted(key[order], j * n + k)
        return data.edge_attr[order[pos]]

    def forward(self, data):
        h = self.node_embeddings(data)
        ti = data.torsion_index
        i, j, k, l = ti[:, 0], ti[:, 1], ti[:, 2], ti[:, 3]
        b = self.bond_embed(self._bond_attr(data, j, k))
        z = self.pair(torch.cat([h[i], h[j], h[k], h[l], b], -1)) + self.pair(torch.cat([h[l], h[k], h[j], h[i], b], -1))
        out = self.head(z).view(-1, self.num_components, 4)
        loc = torch.atan2(out[..., 0], out[..., 1])
        conc = (torch.nn.functional.softplus(out[..., 2]) + 1e-3).clamp(max=self.max_concentration)
        return loc, conc, out[..., 3]

    def mixture(self, data) -> VonMisesMixture:
        return VonMisesMixture(*self(data))

    @property
    def config(self) -> dict:
        """Constructor arguments that rebuild this network (stored in checkpoints)."""
        return {
            "hidden": self.embed.out_features,
            "num_layers": len(self.convs),
            "num_components": self.num_components,
            "max_concentration": self.max_concentration,
        }


def _read_checkpoint(path):
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if "net_config" not in ckpt:
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
    optimizer state) from a Lightning one, atomically."""
    ckpt = _read_checkpoint(src)
    slim = {key: ckpt.get(key) for key in ("hyper_parameters", "net_config", "state_dict", "epoch", "global_step")}
    slim["geomgen_source"] = Path(src).name
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    torch.save(slim, tmp)
    os.replace(tmp, dst)
