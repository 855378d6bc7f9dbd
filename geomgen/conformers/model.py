"""VonMisesNet (Swanson, Williams & Jonas, ICML 2023): a message-passing network that predicts a
von Mises mixture for every rotatable torsion.

Written against plain torch ops (no torch_geometric, no Lightning), so the generation path
(``geomgen conformers``) starts fast; it takes a :class:`~geomgen.conformers.features.MoleculeGraph`
or a PyG ``Batch`` of the training dataset alike. Checkpoint I/O is
:mod:`geomgen.conformers.checkpoint`; the training system is :mod:`geomgen.conformers.system`."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from geomgen.conformers.coupling import CoupledTorsionLaw, EnsembleTorsionLaw, parent_harmonics, torsion_parents
from geomgen.conformers.features import N_ATOM_FEATURES, N_BOND_FEATURES, N_TORSION_FEATURES
from geomgen.distributions import VonMisesMixture


class GINELayer(nn.Module):
    r"""Graph isomorphism layer with edge features (Hu et al., ICLR 2020), in plain torch:

    .. math::
        h_i' = \mathrm{MLP}\Big((1 + \epsilon)\, h_i + \sum_{j \to i} \mathrm{ReLU}\big(h_j + W e_{ji} + b\big)\Big)

    Same parameters (``nn``, ``eps``, ``lin``) and outputs as ``torch_geometric.nn.GINEConv(mlp,
    edge_dim=edge_dim, train_eps=True)``; the tests check the two agree.

    Args:
        mlp (nn.Module): the update network.
        in_channels (int): node feature width.
        edge_dim (int): edge feature width.

    Shapes:
        x ``[N, C]``, edge_index ``[2, E]`` (source, target), edge_attr ``[E, edge_dim]`` -> ``[N, C']``
    """

    def __init__(self, mlp: nn.Module, in_channels: int, edge_dim: int):
        super().__init__()
        self.nn = mlp
        self.eps = nn.Parameter(torch.zeros(1))
        self.lin = nn.Linear(edge_dim, in_channels)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        msg = (x[edge_index[0]] + self.lin(edge_attr)).relu()
        agg = torch.zeros_like(x).index_add_(0, edge_index[1], msg)
        return self.nn(agg + (1 + self.eps) * x)


#: how a coupled network's parents act on a torsion's mixture (see :class:`VonMisesNet`)
COUPLING_MODES = ("full", "weights")


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
        torsion_features (bool): the head also reads the Fourier coefficients of MMFF94's torsion
            term about the bond (``torsion_attr``, :func:`~geomgen.conformers.features.torsion_potential`,
            squashed by asinh); inputs must then be featurized with ``torsion_features=True``
            (default False).
        coupling (bool): condition each torsion on the angles of its earlier neighbouring torsions
            (:mod:`geomgen.conformers.coupling`): :meth:`law` is then autoregressive, and
            :meth:`forward` gives each torsion's mixture with no parent information (the first
            factor's) (default False).
        coupling_harmonics (int): harmonics :math:`m = 1..M` of a parent's angle that its message
            reads (default 3).
        coupling_mode (str): ``"full"``: the parents' messages enter the child's embedding before
            the head, so they move every parameter of its mixture; ``"weights"``: the child keeps its
            own mixture's components (locations, concentrations) and the messages only shift their
            log-weights, i.e. the parents choose among the torsion's own wells (default ``"full"``).

    A parent's message to its child is :math:`m_{pc} = \mathrm{MLP}([z_c, z_p, \cos m\theta_p, \sin m\theta_p])`
    (:math:`z` the torsion embeddings the head reads): in mode ``"full"`` the child's mixture is
    the head's at :math:`z_c + \sum_p m_{pc}`; in mode ``"weights"`` its logits are the head's at
    :math:`z_c` plus a linear map of :math:`\sum_p m_{pc}`.

    Shapes:
        - input: a :class:`~geomgen.conformers.features.MoleculeGraph` (or a PyG batch) with ``x [N, F_a]``,
          ``edge_index [2, E]``, ``edge_attr [E, F_b]``, ``torsion_index [T, 4]``
        - output: ``(loc, concentration, logits)`` each ``[T, K]``
    """

    def __init__(self, hidden: int = 128, num_layers: int = 5, num_components: int = 6,
                 max_concentration: float = 500.0, dropout: float = 0.0, torsion_features: bool = False,
                 coupling: bool = False, coupling_harmonics: int = 3, coupling_mode: str = "full"):
        super().__init__()
        if coupling_mode not in COUPLING_MODES:
            raise ValueError(f"coupling_mode must be 'full' or 'weights', got {coupling_mode!r}")
        self.coupling = coupling
        self.coupling_harmonics = coupling_harmonics
        self.coupling_mode = coupling_mode
        self.num_components = num_components
        self.torsion_features = torsion_features
        self.max_concentration = max_concentration
        self.embed = nn.Linear(N_ATOM_FEATURES, hidden)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            self.convs.append(GINELayer(mlp, hidden, N_BOND_FEATURES))
            self.norms.append(nn.LayerNorm(hidden))
        self.bond_embed = nn.Linear(N_BOND_FEATURES, hidden)
        extra = N_TORSION_FEATURES if torsion_features else 0
        self.pair = nn.Sequential(nn.Linear(5 * hidden + extra, 2 * hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(2 * hidden, hidden))
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 4 * num_components))
        if coupling:
            self.couple_pair = nn.Linear(2 * hidden, hidden)
            self.couple_angle = nn.Linear(2 * coupling_harmonics, hidden, bias=False)
            self.couple_out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden))
            if coupling_mode == "weights":
                self.couple_logits = nn.Linear(hidden, num_components, bias=False)  # no parent: no shift

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

    def torsion_embeddings(self, data) -> Tensor:
        """``[T, H]``: what the head reads for each torsion (before any parent's message)."""
        h = self.node_embeddings(data)
        ti = data.torsion_index
        i, j, k, l = ti[:, 0], ti[:, 1], ti[:, 2], ti[:, 3]
        b = self.bond_embed(self._bond_attr(data, j, k))
        if self.torsion_features:
            attr = getattr(data, "torsion_attr", None)
            if attr is None:
                raise ValueError("this VonMisesNet reads torsion-potential features: featurize with torsion_features=True")
            b = torch.cat([b, torch.asinh(attr)], -1)  # the dihedral i-j-k-l equals l-k-j-i: same features
        return self.pair(torch.cat([h[i], h[j], h[k], h[l], b], -1)) + self.pair(torch.cat([h[l], h[k], h[j], h[i], b], -1))

    def mixture_params(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(loc, concentration, logits)`` each ``[..., K]`` of torsion embeddings ``z [..., H]``."""
        out = self.head(z).unflatten(-1, (self.num_components, 4))
        loc = torch.atan2(out[..., 0], out[..., 1])
        conc = (torch.nn.functional.softplus(out[..., 2]) + 1e-3).clamp(max=self.max_concentration)
        return loc, conc, out[..., 3]

    def forward(self, data):
        return self.mixture_params(self.torsion_embeddings(data))

    def mixture(self, data) -> VonMisesMixture:
        """Each torsion's own mixture (for a coupled network: without its parents' information)."""
        return VonMisesMixture(*self(data))


    def law(self, data):
        """The joint law of the torsions of ``data``: a :class:`~geomgen.distributions.VonMisesMixture`
        over them (independent torsions), or for a coupled network a
        :class:`~geomgen.conformers.coupling.CoupledTorsionLaw`."""
        z = self.torsion_embeddings(data)
        if not self.coupling:
            return VonMisesMixture(*self.mixture_params(z))
        pairs = torsion_parents(data.torsion_index, data.edge_index, data.num_nodes)
        fixed = self.couple_pair(torch.cat([z[pairs[:, 0]], z[pairs[:, 1]]], -1))  # [P, H]: what depends on the pair only

        def message(index: Tensor, parent_theta: Tensor) -> Tensor:  # [S, P'] -> [S, P', H]
            return self.couple_out(fixed[index] + self.couple_angle(parent_harmonics(parent_theta, self.coupling_harmonics)))

        if self.coupling_mode == "full":
            def params(rows: Tensor, messages: Tensor | None):
                return self.mixture_params(z[rows] if messages is None else z[rows] + messages)
        else:
            base = self.mixture_params(z)

            def params(rows: Tensor, messages: Tensor | None):  # the parents move only the log-weights
                loc, conc, logits = (x[rows] for x in base)
                if messages is None:
                    return loc, conc, logits
                shape = messages.shape[:-1] + loc.shape[-1:]
                return loc.expand(shape), conc.expand(shape), logits + self.couple_logits(messages)

        return CoupledTorsionLaw(z, pairs, message, params, None if self.coupling_mode == "full" else base[:2])

    @property
    def config(self) -> dict:
        """Constructor arguments that rebuild this network (stored in checkpoints)."""
        return {
            "hidden": self.embed.out_features,
            "num_layers": len(self.convs),
            "num_components": self.num_components,
            "max_concentration": self.max_concentration,
            "torsion_features": self.torsion_features,
            **({"coupling": True, "coupling_harmonics": self.coupling_harmonics} if self.coupling else {}),
            **({"coupling_mode": self.coupling_mode} if self.coupling and self.coupling_mode != "full" else {}),
        }


class VonMisesNetEnsemble(nn.Module):
    r"""Equal-weight ensemble of VonMisesNets: each torsion's predicted density is the mean of the
    members' mixture densities,

    .. math::
        p(\theta) = \frac{1}{M} \sum_{m=1}^{M} p_m(\theta),

    itself a von Mises mixture of :math:`M K` components whose log-weights are the members'
    normalised log-weights minus :math:`\log M`. A drop-in replacement of a single network for
    the generator and the scores.

    Args:
        nets (list of VonMisesNet): the members (any widths, depths and component counts).

    Shapes:
        - input: as :class:`VonMisesNet` (featurized with ``torsion_features=True`` if any member reads them)
        - output: ``(loc, concentration, logits)`` each ``[T, sum of the members' K]``
    """

    def __init__(self, nets):
        super().__init__()
        if not nets:
            raise ValueError("VonMisesNetEnsemble needs at least one network")
        self.members = nn.ModuleList(nets)
        self.torsion_features = any(n.torsion_features for n in nets)
        self.num_components = sum(n.num_components for n in nets)

    def forward(self, data):
        outs = [m(data) for m in self.members]
        shift = math.log(len(outs))
        return (torch.cat([o[0] for o in outs], -1), torch.cat([o[1] for o in outs], -1),
                torch.cat([torch.log_softmax(o[2], -1) - shift for o in outs], -1))

    def mixture(self, data) -> VonMisesMixture:
        return VonMisesMixture(*self(data))

    @property
    def coupling(self) -> bool:
        return any(m.coupling for m in self.members)

    def law(self, data):
        """The ensemble's joint law: with no coupled member, the mixture of :meth:`mixture` (each
        torsion's density the members' mean, torsions independent, as before coupling existed);
        otherwise the equal-weight mixture of the members' joint laws
        (:class:`~geomgen.conformers.coupling.EnsembleTorsionLaw`)."""
        if not self.coupling:
            return self.mixture(data)
        batch = getattr(data, "batch", None)
        molecule = None if batch is None else batch[data.torsion_index[:, 1]]
        return EnsembleTorsionLaw([m.law(data) for m in self.members], molecule)

    @property
    def config(self) -> dict:
        """``{"ensemble": [member configs]}``, stored in checkpoints."""
        return {"ensemble": [m.config for m in self.members]}
