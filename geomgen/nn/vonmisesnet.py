"""VonMisesNet (Swanson, Williams & Jonas, ICML 2023): a message-passing network that predicts a
von Mises mixture for every rotatable torsion, and its Lightning system."""

from __future__ import annotations


import lightning as L
import numpy as np
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


class VonMisesNetSystem(L.LightningModule):
    """Training system: negative log-likelihood of reference torsion samples under the predicted
    mixtures (mean over samples, then over torsions); validation also logs the mean circular
    Wasserstein-1 between predicted and reference torsion marginals.

    Args:
        net (VonMisesNet): the network.
        lr (float): AdamW learning rate (default 1e-3).
        weight_decay (float): AdamW weight decay (default 1e-4).
        w1_samples (int): samples drawn from each predicted mixture for the validation W1 (200).
    """

    def __init__(self, net: VonMisesNet | None = None, lr: float = 1e-3, weight_decay: float = 1e-4, w1_samples: int = 200):
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net if net is not None else VonMisesNet()

    def net_config(self) -> dict:
        return {
            "hidden": self.net.embed.out_features,
            "num_layers": len(self.net.convs),
            "num_components": self.net.num_components,
            "max_concentration": self.net.max_concentration,
        }

    def on_save_checkpoint(self, checkpoint) -> None:
        # the network's constructor arguments, so a checkpoint rebuilds it on its own
        checkpoint["net_config"] = self.net_config()

    @classmethod
    def from_checkpoint(cls, path, map_location="cpu") -> "VonMisesNetSystem":
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
        hp = dict(ckpt["hyper_parameters"])
        config = ckpt.get("net_config") or hp.pop("net_config")
        net = VonMisesNet(**config)
        system = cls(net=net, **{k: v for k, v in hp.items() if k in ("lr", "weight_decay", "w1_samples")})
        system.load_state_dict(ckpt["state_dict"])
        return system.eval()

    def forward(self, data):
        return self.net(data)

    def model_step(self, batch, stage: str):
        mix = self.net.mixture(batch)
        theta = batch.torsion_angles  # [T, S]
        nll = -mix.log_prob(theta.T).mean()  # log_prob over [S, T]
        self.log(f"{stage}/nll", nll, batch_size=batch.num_graphs, prog_bar=True)
        return nll, mix

    def training_step(self, batch, batch_idx):
        return self.model_step(batch, "train")[0]

    def _w1(self, batch, mix, stage):
        from geomgen.metrics import circular_wasserstein

        g = torch.Generator().manual_seed(1234 + batch.num_graphs)
        samples = mix.sample((self.hparams.w1_samples,), generator=g).cpu().numpy()
        ref = batch.torsion_angles.cpu().numpy().T
        w1 = float(np.mean(circular_wasserstein(samples, ref)))
        self.log(f"{stage}/w1", w1, batch_size=len(ref[0]), prog_bar=True)

    def validation_step(self, batch, batch_idx):
        nll, mix = self.model_step(batch, "val")
        self._w1(batch, mix, "val")

    def test_step(self, batch, batch_idx):
        nll, mix = self.model_step(batch, "test")
        self._w1(batch, mix, "test")

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val/nll", "strict": False}}


def export_checkpoint(src, dst) -> None:
    """Write a slim inference checkpoint (hyper-parameters and weights only) from a Lightning one."""
    import os
    from pathlib import Path

    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    hp = dict(ckpt["hyper_parameters"])
    config = ckpt.get("net_config") or hp.pop("net_config")
    slim = {"hyper_parameters": hp, "net_config": config, "state_dict": ckpt["state_dict"],
            "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
            "geomgen_source": str(Path(src).name)}
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    torch.save(slim, tmp)
    os.replace(tmp, dst)
