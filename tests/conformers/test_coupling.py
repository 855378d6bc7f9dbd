"""Coupled torsion laws (geomgen.conformers.coupling): parents, levels, normalisation, exact
sampling, the ensemble's chain rule, training and generation with a coupled VonMisesNet."""
import math

import lightning as L
import numpy as np
import pytest
import torch

from geomgen.conformers import embed_seed, parse_molecule, rotatable_torsions
from geomgen.conformers.coupling import EnsembleTorsionLaw, torsion_levels, torsion_parents
from geomgen.conformers.features import collate, featurize
from geomgen.conformers.model import VonMisesNet, VonMisesNetEnsemble


def _graph(smiles):
    mol = embed_seed(parse_molecule(smiles), seed=0)
    ts = rotatable_torsions(mol)
    return mol, ts, featurize(mol, ts.atoms)


def _coupled(seed=0, **kw):
    torch.manual_seed(seed)
    net = VonMisesNet(hidden=16, num_layers=2, num_components=3, coupling=True, **kw).eval()
    with torch.no_grad():  # a strong coupling, so that the tests below see it
        net.couple_angle.weight.mul_(8.0)
        if net.coupling_mode == "weights":
            net.couple_logits.weight.mul_(30.0)
    return net


def _bond_atoms(g):
    return [tuple(sorted(map(int, q[1:3]))) for q in g.torsion_index]


def test_parents_are_earlier_torsions_on_adjacent_or_bonded_bonds():
    _, _, g = _graph("CCCCCCCC")  # octane: five chain torsions, bonds C2-C3 ... C6-C7
    pairs = torsion_parents(g.torsion_index, g.edge_index, g.num_nodes)
    bonds = _bond_atoms(g)
    # expected from the definition on the graph itself
    adj = {(int(a), int(b)) for a, b in g.edge_index.T.tolist()}
    near = lambda a, b: a == b or (a, b) in adj or (b, a) in adj  # noqa: E731
    want = {(t, u) for t in range(len(bonds)) for u in range(t) if any(near(a, b) for a in bonds[t] for b in bonds[u])}
    assert {tuple(p) for p in pairs.tolist()} == want
    # on a chain: each bond pairs with the one and two before it (shared atom; one bond between), not three
    order = sorted(range(len(bonds)), key=lambda t: bonds[t])
    rank = {t: r for r, t in enumerate(order)}
    assert all(1 <= abs(rank[t] - rank[u]) <= 2 for t, u in want)
    assert len(want) == 4 + 3


def test_parents_never_cross_molecules_of_a_batch():
    a, b = _graph("CCCCC")[2], _graph("CCOCC")[2]
    batch = collate([a, b])
    pairs = torsion_parents(batch.torsion_index, batch.edge_index, batch.num_nodes)
    ta = len(a.torsion_index)
    assert all((c < ta) == (p < ta) for c, p in pairs.tolist())


def test_levels_put_every_parent_on_an_earlier_level():
    pairs = torch.tensor([[1, 0], [2, 1], [2, 0], [4, 3]])
    assert torsion_levels(pairs, 5).tolist() == [0, 1, 2, 0, 1]
    assert torsion_levels(torch.zeros(0, 2, dtype=torch.long), 3).tolist() == [0, 0, 0]


def test_uncoupled_network_law_is_its_mixture():
    torch.manual_seed(0)
    net = VonMisesNet(hidden=16, num_layers=2, num_components=3).eval()
    g = _graph("CCCCO")[2]
    theta = torch.rand(7, len(g.torsion_index)) * 6 - 3
    with torch.no_grad():
        assert torch.allclose(net.law(g).log_prob(theta), net.mixture(g).log_prob(theta))
    assert "coupling" not in net.config  # old checkpoints' configs stay as they were


@pytest.mark.parametrize("mode", ["full", "weights"])
def test_coupled_law_is_a_normalised_joint_density(mode):
    """Two coupled torsions (butane-like chain CCCCO: 2 torsions): the joint density integrates to 1."""
    net = _coupled(coupling_mode=mode)
    g = _graph("CCCCO")[2]
    assert len(g.torsion_index) == 2
    with torch.no_grad():
        law = net.law(g)
        assert law.pairs.tolist() == [[1, 0]]
        m = 240
        x = (torch.arange(m) + 0.5) / m * 2 * math.pi - math.pi
        grid = torch.stack(torch.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
        joint = law.log_prob(grid).sum(-1).exp()
        total = float(joint.sum() * (2 * math.pi / m) ** 2)
    assert total == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("mode", ["full", "weights"])
def test_coupled_draws_follow_the_joint_density(mode):
    """Histogram of 40,000 joint draws against the density integrated over 6 x 6 cells, and the
    coupling is real: the child's law differs between parent angles."""
    net = _coupled(seed=3, coupling_mode=mode)
    g = _graph("CCCCO")[2]
    with torch.no_grad():
        law = net.law(g)
        draws = law.sample((40000,), generator=torch.Generator().manual_seed(0))
        m, cells = 240, 6
        x = (torch.arange(m) + 0.5) / m * 2 * math.pi - math.pi
        grid = torch.stack(torch.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
        dens = law.log_prob(grid).sum(-1).exp().reshape(m, m) * (2 * math.pi / m) ** 2
        expected = dens.reshape(cells, m // cells, cells, m // cells).sum((1, 3)).numpy()
        # the child's conditional at two parent angles
        c1 = law.conditional(torch.tensor([[0.0, 0.0]])).log_prob(x[:, None].expand(-1, 2))[:, 1]
        c2 = law.conditional(torch.tensor([[math.pi / 2, 0.0]])).log_prob(x[:, None].expand(-1, 2))[:, 1]
    edges = np.linspace(-math.pi, math.pi, cells + 1)
    hist, _, _ = np.histogram2d(draws[:, 0].numpy(), draws[:, 1].numpy(), bins=[edges, edges])
    assert np.abs(hist / len(draws) - expected).max() < 0.01
    assert float((c1 - c2).abs().max()) > 0.05  # log-densities of the child at two parent angles


def test_ensemble_chain_rule_sums_to_the_mixture_of_joints():
    nets = [_coupled(seed=s) for s in (0, 1)]
    g = collate([_graph("CCCCO")[2], _graph("CCOCCC")[2]])
    ens = VonMisesNetEnsemble(nets).eval()
    theta = torch.rand(5, len(g.torsion_index)) * 6 - 3
    t0 = len(_graph("CCCCO")[2].torsion_index)
    with torch.no_grad():
        g.batch = torch.cat([torch.zeros(len(_graph("CCCCO")[2].x), dtype=torch.long),
                             torch.ones(len(_graph("CCOCCC")[2].x), dtype=torch.long)])
        law = ens.law(g)
        assert isinstance(law, EnsembleTorsionLaw)
        lp = law.log_prob(theta)
        members = [n.law(g).log_prob(theta) for n in nets]
    for sl in (slice(0, t0), slice(t0, None)):  # per molecule: the mixture of the members' joint densities
        joint = torch.logsumexp(torch.stack([m[:, sl].sum(-1) for m in members]), 0) - math.log(2)
        assert torch.allclose(lp[:, sl].sum(-1), joint, atol=1e-5)


def test_coupled_network_trains_saves_and_generates(tiny_reference, tmp_path):
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.checkpoint import load_vonmisesnet
    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.system import VonMisesNetSystem

    dm = ConformerDataModule(train=str(tiny_reference), val=str(tiny_reference), test=str(tiny_reference), batch_size=3,
                             train_samples=16, root=str(tmp_path / "cache"))
    L.seed_everything(0)
    system = VonMisesNetSystem(VonMisesNet(hidden=16, num_layers=2, num_components=3, coupling=True), lr=1e-2)
    before = system.net.couple_angle.weight.detach().clone()
    trainer = L.Trainer(max_steps=6, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.fit(system, dm)
    assert not torch.equal(before, system.net.couple_angle.weight)  # the coupling is trained
    val = trainer.validate(system, dm, verbose=False)[0]
    assert np.isfinite(val["val/nll"]) and 0 <= val["val/w1"] < math.pi
    path = tmp_path / "coupled.ckpt"
    trainer.save_checkpoint(path)
    net = load_vonmisesnet(path)
    assert net.coupling and net.config["coupling"] is True
    mol = _graph("CCCCOc1ccccc1")[0]
    out, reports = ConformerGenerator.from_checkpoint(path).generate_many([("m", Chem.Mol(mol))], 5, seed=0)
    assert out[0].GetNumConformers() == 5 and reports[0].ok
    again, _ = ConformerGenerator.from_checkpoint(path).generate_many([("m", Chem.Mol(mol))], 5, seed=0)
    assert np.array_equal(out[0].GetConformer(2).GetPositions(), again[0].GetConformer(2).GetPositions())


def test_weights_mode_keeps_the_torsion_s_own_components():
    net = _coupled(seed=1, coupling_mode="weights")
    g = _graph("CCCCO")[2]
    with torch.no_grad():
        loc, conc, logits = net(g)
        cond = net.law(g).conditional(torch.tensor([[0.3, -1.0], [2.0, 1.0]]))
    assert torch.allclose(cond.loc, loc.expand(2, -1, -1)) and torch.allclose(cond.concentration, conc.expand(2, -1, -1))
    assert torch.allclose(cond.logits[:, 0], logits[0].expand(2, -1))  # the first torsion has no parent
    assert not torch.allclose(cond.logits[0, 1], cond.logits[1, 1])  # the second's weights follow its parent
    assert net.config["coupling_mode"] == "weights"
    with pytest.raises(ValueError, match="coupling_mode"):
        VonMisesNet(coupling=True, coupling_mode="pairs")


def test_marginal_weight_adds_the_own_mixture_nll_in_training_only(tiny_reference, tmp_path):
    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.system import VonMisesNetSystem

    dm = ConformerDataModule(train=str(tiny_reference), val=str(tiny_reference), test=str(tiny_reference), batch_size=6,
                             train_samples=16, root=str(tmp_path / "cache"))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    net = _coupled(coupling_mode="weights")
    plain, marg = VonMisesNetSystem(net), VonMisesNetSystem(net, marginal_weight=0.5)
    for sys_ in (plain, marg):
        sys_.log = lambda *a, **k: None
    theta = batch.torsion_angles.T
    with torch.no_grad():
        joint = -net.law(batch).log_prob(theta).mean(0).mean()
        own = -net.mixture(batch).log_prob(theta).mean(0).mean()
        assert float(plain.model_step(batch, "train")[0]) == pytest.approx(float(joint), rel=1e-5)
        assert float(marg.model_step(batch, "train")[0]) == pytest.approx(float(joint + 0.5 * own), rel=1e-5)
        assert float(marg.model_step(batch, "val")[0]) == pytest.approx(float(joint), rel=1e-5)
    with pytest.raises(ValueError, match="marginal_weight"):
        VonMisesNetSystem(net, marginal_weight=-1)


@pytest.mark.parametrize("second", ["full", "weights"])
def test_ensemble_draws_follow_the_ensemble_joint_density(second):
    """The members' levels drawn together (one von Mises draw per level; with only weights-mode members,
    every component's angle drawn up front) give the ensemble's joint law."""
    first = "weights" if second == "weights" else "full"
    ens = VonMisesNetEnsemble([_coupled(seed=3, coupling_mode=first), _coupled(seed=5, coupling_mode=second)]).eval()
    g = _graph("CCCCO")[2]
    with torch.no_grad():
        law = ens.law(g)
        draws = law.sample((40000,), generator=torch.Generator().manual_seed(1), stratified=True)
        m, cells = 240, 6
        x = (torch.arange(m) + 0.5) / m * 2 * math.pi - math.pi
        grid = torch.stack(torch.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
        dens = law.log_prob(grid).sum(-1).exp().reshape(m, m) * (2 * math.pi / m) ** 2
    assert float(dens.sum()) == pytest.approx(1.0, abs=1e-3)
    expected = dens.reshape(cells, m // cells, cells, m // cells).sum((1, 3)).numpy()
    edges = np.linspace(-math.pi, math.pi, cells + 1)
    hist, _, _ = np.histogram2d(draws[:, 0].numpy(), draws[:, 1].numpy(), bins=[edges, edges])
    assert np.abs(hist / len(draws) - expected).max() < 0.01
