r"""Coupled torsion laws: each torsion conditioned on its already-drawn neighbours.

VonMisesNet's plain head gives every rotatable torsion its own von Mises mixture, and a conformer
draws them independently. Neighbouring torsions are not independent in a Boltzmann ensemble
(the two torsions about an aryl ether oxygen, the gauche-pentane pairs of an alkyl chain, a
substituent that turns away from its neighbour's): on the converged references, conformers
built from the product of each torsion's *exact* marginal cover the reference ensemble less well
than the references' own joint samples (``evaluation/conformers/coupling_headroom.md``). A
coupled law is autoregressive over the molecule's torsions in their fixed order
(:func:`~geomgen.conformers.torsions.rotatable_torsions`):

.. math::
    p(\theta_1, \dots, \theta_T) = \prod_{t=1}^{T} p(\theta_t \mid \theta_{\pi(t)}),

where the parents :math:`\pi(t)` are the earlier torsions whose central bonds share an atom with
torsion t's or are bonded to it (:func:`torsion_parents`), and each factor is a von Mises
mixture whose parameters depend on the parents' angles through their harmonics
:math:`\cos m\theta_u, \sin m\theta_u` (:class:`CoupledTorsionLaw`). A torsion without parents
keeps the plain head's mixture. The product is a normalised joint density (each factor is
normalised in :math:`\theta_t`), its log-density is the sum of the factors' (the training loss,
by teacher forcing on the references' joint samples), and drawing the torsions level by level
(:func:`torsion_levels`: a torsion's parents are all on earlier levels) samples it exactly.

An equal-weight ensemble of such laws (:class:`EnsembleTorsionLaw`) keeps the chain rule: its
conditional of torsion t is the members' conditionals weighted by each member's likelihood of
the molecule's earlier torsions, so the per-torsion log-densities still sum to the ensemble's
joint log-density.

Both laws offer what the generator and the training system use of
:class:`~geomgen.distributions.von_mises.VonMisesMixture`: ``sample(sample_shape, generator,
stratified)`` (joint draws ``[*sample_shape, T]``) and ``log_prob(theta)`` (``[S, T]`` per-torsion
log-densities of joint samples ``theta [S, T]``, conditional on each sample's own parents).
"""

from __future__ import annotations

import torch
from torch import Tensor

from geomgen.distributions.von_mises import VonMisesMixture, _sample_von_mises

__all__ = ["torsion_parents", "torsion_levels", "parent_harmonics", "CoupledTorsionLaw", "EnsembleTorsionLaw"]


def torsion_parents(torsion_index: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """Parent pairs ``[P, 2]`` (child, parent) of the torsions ``torsion_index [T, 4]`` on the graph
    ``edge_index [2, E]``: parent u < child t, and u's central bond (atoms 1, 2 of its quadruple)
    shares an atom with t's or has an atom bonded to one of t's. Torsions of different molecules
    of a batch are never paired (their atoms are not bonded)."""
    t = torsion_index.shape[0]
    if t < 2:
        return torch.zeros(0, 2, dtype=torch.long, device=torsion_index.device)
    near = torch.eye(num_nodes, dtype=torch.bool, device=torsion_index.device)
    if edge_index.numel():
        near[edge_index[0], edge_index[1]] = True
        near[edge_index[1], edge_index[0]] = True
    bond = torsion_index[:, 1:3]  # [T, 2]
    # torsions t, u are neighbours when some atom of t's bond is near some atom of u's
    hit = near[bond[:, None, :, None], bond[None, :, None, :]].flatten(2).any(-1)  # [T, T]
    child, parent = torch.nonzero(torch.tril(hit, diagonal=-1), as_tuple=True)
    return torch.stack([child, parent], 1)


def torsion_levels(pairs: Tensor, num_torsions: int) -> Tensor:
    """Level ``[T]`` of each torsion: 0 without parents, else one more than its highest parent's.
    Torsions of a level have all their parents on earlier levels, so a level is drawn at once."""
    level = torch.zeros(num_torsions, dtype=torch.long)
    child, parent = pairs[:, 0].cpu(), pairs[:, 1].cpu()
    order = torch.argsort(child, stable=True)
    for c, p in zip(child[order].tolist(), parent[order].tolist()):  # parents come before children
        level[c] = max(int(level[c]), int(level[p]) + 1)
    return level.to(pairs.device)


def parent_harmonics(theta: Tensor, harmonics: int) -> Tensor:
    """``[..., 2 M]``: :math:`(\\cos m\\theta, \\sin m\\theta)_{m=1..M}` of angles ``theta [...]``."""
    m = torch.arange(1, harmonics + 1, dtype=theta.dtype, device=theta.device)
    x = theta.unsqueeze(-1) * m
    return torch.cat([torch.cos(x), torch.sin(x)], -1)


class CoupledTorsionLaw:
    r"""The autoregressive law of one network over a molecule's (or a batch's) torsions.

    Args:
        base (Tensor): ``[T, H]`` torsion embeddings (the plain head's input).
        pairs (Tensor): ``[P, 2]`` (child, parent) from :func:`torsion_parents`.
        message (callable): ``(index [P'], parent_theta [S, P']) -> [S, P', H]``, the messages of the
            pairs ``pairs[index]`` given their parents' angles.
        params (callable): ``(rows [R], messages [S, R, H] or None) -> (loc, concentration, logits)``
            each ``[S, R, K]`` (``[R, K]`` without messages): the mixtures of the torsions ``rows``
            given the summed messages of their parents (``None``: no parent information).
        components (tuple, optional): ``(loc [T, K], concentration [T, K])`` when the parents move
            only the mixtures' log-weights; drawing then takes one von Mises angle per torsion and
            component for every draw up front and only chooses components level by level.

    Shapes:
        - ``log_prob(theta [S, T])`` -> ``[S, T]``.
        - ``sample(sample_shape)`` -> ``[*sample_shape, T]`` (float64, in :math:`[-\pi, \pi)`).
    """

    def __init__(self, base: Tensor, pairs: Tensor, message, params, components: tuple[Tensor, Tensor] | None = None):
        self.base, self.pairs, self.message, self.params = base, pairs, message, params
        #: ``(loc [T, K], concentration [T, K])`` when the parents move only the log-weights
        #: (mode ``"weights"``): the draws can then take every component's angle at once
        self.components = components
        self.num_torsions = base.shape[0]
        self._levels = None

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size([self.num_torsions])

    def conditional(self, theta: Tensor, rows: Tensor | None = None) -> VonMisesMixture:
        """The mixtures of the torsions ``rows`` (default all) given the parents' angles in each joint
        sample ``theta [S, T]``: batch ``[S, len(rows)]``."""
        rows = torch.arange(self.num_torsions, device=self.base.device) if rows is None else rows
        return VonMisesMixture(*self.params(rows, self._summed(theta, rows, self._pairs_into(rows))))

    def _pairs_into(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """The pairs whose child is among ``rows`` (indices into :attr:`pairs`) and each one's slot in ``rows``."""
        slot = torch.full((self.num_torsions,), -1, dtype=torch.long, device=self.base.device)
        slot[rows] = torch.arange(len(rows), device=self.base.device)
        index = torch.nonzero(slot[self.pairs[:, 0]] >= 0, as_tuple=True)[0] if len(self.pairs) else self.pairs[:0, 0]
        return index, slot[self.pairs[index, 0]]

    def _summed(self, theta: Tensor, rows: Tensor, into: tuple[Tensor, Tensor]) -> Tensor:
        """``[S, len(rows), H]``: the summed messages of each row's parents in each joint sample."""
        index, slots = into
        summed = torch.zeros(theta.shape[0], len(rows), self.base.shape[-1], dtype=self.base.dtype, device=self.base.device)
        if len(index):
            msg = self.message(index, theta[:, self.pairs[index, 1]].to(self.base.dtype))  # [S, P', H]
            summed = summed.index_add(1, slots, msg)
        return summed

    def plan(self) -> list[tuple[Tensor, tuple[Tensor, Tensor]]]:
        """Per level (:func:`torsion_levels`): its torsions and the pairs into them (computed once)."""
        if self._levels is None:
            levels = torsion_levels(self.pairs, self.num_torsions)
            self._levels = []
            for lev in range(int(levels.max()) + 1 if self.num_torsions else 0):
                rows = torch.nonzero(levels == lev, as_tuple=True)[0]
                self._levels.append((rows, self._pairs_into(rows)))
        return self._levels

    def level_params(self, theta: Tensor, lev: int) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture parameters ``[S, R, K]`` (float64) of level ``lev``'s torsions given ``theta [S, T]``
        (only the earlier levels' columns are read; ``[R, K]`` for level 0, which has no parents)."""
        rows, into = self.plan()[lev]
        params = self.params(rows, None) if lev == 0 else self.params(rows, self._summed(theta, rows, into))
        return tuple(x.double() for x in params)

    def own_mixture(self) -> VonMisesMixture:
        """Each torsion's mixture with no parent information (batch ``[T]``), from the embeddings this
        law holds (no second pass through the network)."""
        return VonMisesMixture(*self.params(torch.arange(self.num_torsions, device=self.base.device), None))

    def log_prob(self, theta: Tensor) -> Tensor:
        """Per-torsion conditional log-densities ``[S, T]`` of the joint samples ``theta [S, T]``; their
        sum over torsions is the joint log-density."""
        return self.conditional(theta).log_prob(theta.to(self.base.dtype))

    def sample(self, sample_shape: torch.Size | tuple = (), generator: torch.Generator | None = None,
               stratified: bool = False) -> Tensor:
        """Joint draws, level by level (:func:`torsion_levels`). With ``stratified`` (one-dimensional
        ``sample_shape``), the torsions without parents draw their components systematically, as
        :meth:`VonMisesMixture.sample` does; a torsion with parents has one mixture per draw."""
        sample_shape = torch.Size(sample_shape)
        return _sample_levels([self], torch.zeros(sample_shape.numel(), dtype=torch.long), generator,
                              stratified and len(sample_shape) == 1).reshape(sample_shape + (self.num_torsions,))


def _sample_levels(laws: list[CoupledTorsionLaw], member: Tensor, generator, stratified: bool) -> Tensor:
    """Joint draws ``[n, T]`` (float64), draw i from ``laws[member[i]]`` (laws with the same torsions
    and pairs, e.g. an ensemble's members), level by level: each level's torsions of all draws in
    one von Mises draw. Level 0 (no parents) is drawn per law, systematically with ``stratified``."""
    n, first = len(member), laws[0]
    groups = [torch.nonzero(member == m, as_tuple=True)[0] for m in range(len(laws))]
    theta = torch.zeros(n, first.num_torsions, dtype=torch.float64, device=first.base.device)
    fixed = all(law.components is not None and law.components[0].shape == first.components[0].shape for law in laws)
    with torch.no_grad():
        if fixed and len(first.plan()) > 1:
            # every draw's angle in every torsion and component up front (one von Mises call): choosing
            # a component and then drawing its angle, or drawing all and then choosing, is the same law
            loc = torch.stack([law.components[0] for law in laws]).double()[member]  # [n, T, K]
            kappa = torch.stack([law.components[1] for law in laws]).double()[member]
            angles = _sample_von_mises(kappa, generator) + loc
        for lev, (rows, _) in enumerate(first.plan()):
            if lev == 0:
                for law, idx in zip(laws, groups):
                    if len(idx):
                        theta[idx[:, None], rows] = VonMisesMixture(*law.level_params(theta, 0)).sample(
                            (len(idx),), generator=generator, stratified=stratified)
                continue
            parts = [law.level_params(theta[idx], lev) for law, idx in zip(laws, groups) if len(idx)]
            order = torch.cat([idx for idx in groups if len(idx)])
            if fixed:  # only the components are chosen here: inverse CDF of each draw's weights
                probs = torch.softmax(torch.cat([p[2] for p in parts]), -1)  # [n, R, K]
                u = torch.rand(probs.shape[:-1] + (1,), generator=generator, dtype=probs.dtype)
                comp = torch.searchsorted(probs.cumsum(-1).contiguous(), u.contiguous(), right=True).clamp_max(probs.shape[-1] - 1)
                picked = torch.gather(angles[order[:, None], rows], -1, comp).squeeze(-1)
                theta[order[:, None], rows] = torch.remainder(picked + torch.pi, 2 * torch.pi) - torch.pi
                continue
            mix = VonMisesMixture(*(torch.cat([p[k] for p in parts]) for k in range(3)))
            theta[order[:, None], rows] = mix.sample((), generator=generator)
    return theta


class EnsembleTorsionLaw:
    r"""Equal-weight mixture of joint torsion laws (coupled or not) over the same torsions.

    .. math::
        p(\theta) = \frac1M \sum_m p_m(\theta),\qquad
        p(\theta_t \mid \theta_{<t}) = \sum_m w_m(\theta_{<t})\, p_m(\theta_t \mid \theta_{<t}),\quad
        w_m \propto p_m(\theta_{<t})

    within each molecule (``molecule [T]``: the molecule of each torsion; torsions of a molecule
    consecutive), so that :meth:`log_prob`'s per-torsion values sum to the joint log-density.
    Drawing picks a member per draw, then draws the joint from it.

    Args:
        members (list): laws with ``log_prob`` and ``sample`` (:class:`CoupledTorsionLaw` or
            :class:`VonMisesMixture` over the torsions).
        molecule (Tensor, optional): ``[T]`` molecule of each torsion (default: one molecule).
    """

    def __init__(self, members, molecule: Tensor | None = None):
        if not members:
            raise ValueError("EnsembleTorsionLaw needs at least one member")
        self.members = list(members)
        self.num_torsions = int(self.members[0].batch_shape[-1])
        self.molecule = molecule

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size([self.num_torsions])

    def log_prob(self, theta: Tensor) -> Tensor:
        lp = torch.stack([m.log_prob(theta) for m in self.members])  # [M, S, T]
        cum = lp.cumsum(-1)
        if self.molecule is not None and self.num_torsions:  # restart the running sums at each molecule
            start = torch.ones(self.num_torsions, dtype=torch.bool, device=lp.device)
            start[1:] = self.molecule[1:] != self.molecule[:-1]
            first = torch.cummax(torch.where(start, torch.arange(self.num_torsions, device=lp.device), 0), 0).values
            cum = cum - cum[..., first] + lp[..., first]
        before = cum - lp  # log p_m(theta_<t) within the molecule
        return torch.logsumexp(cum, 0) - torch.logsumexp(before, 0)

    def sample(self, sample_shape: torch.Size | tuple = (), generator: torch.Generator | None = None,
               stratified: bool = False) -> Tensor:
        sample_shape = torch.Size(sample_shape)
        n = sample_shape.numel()
        pick = torch.randint(len(self.members), (n,), generator=generator)
        first = self.members[0]
        if all(isinstance(m, CoupledTorsionLaw) and torch.equal(m.pairs, first.pairs) for m in self.members):
            # coupled members over the same graph: one pass over the levels for all of them
            return _sample_levels(self.members, pick, generator, stratified and len(sample_shape) == 1).reshape(
                sample_shape + (self.num_torsions,))
        out = torch.zeros(n, self.num_torsions, dtype=torch.float64)
        for m, law in enumerate(self.members):
            rows = torch.nonzero(pick == m, as_tuple=True)[0]
            if len(rows):
                out[rows] = law.sample((len(rows),), generator=generator, stratified=stratified).to(torch.float64)
        return out.reshape(sample_shape + (self.num_torsions,))
