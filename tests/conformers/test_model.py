import copy
import dataclasses
import math

import lightning as L
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from geomgen.conformers import embed_seed, parse_molecule, rotatable_torsions
from geomgen.conformers.datamodule import ConformerDataModule
from geomgen.conformers.dataset import ReferenceTorsionDataset, TorsionData
from geomgen.conformers.features import collate, featurize
from geomgen.conformers.model import GINELayer, VonMisesNet
from geomgen.conformers.system import VonMisesNetSystem


def _graph(smiles):
    mol = embed_seed(parse_molecule(smiles))
    ts = rotatable_torsions(mol)
    return mol, ts, featurize(mol, ts.atoms)


def test_output_shapes_and_ranges():
    graphs = [_graph(s)[2] for s in ("CCCCO", "CC(C)Cc1ccc(cc1)C(C)C(=O)O")]
    net = VonMisesNet(hidden=32, num_layers=2, num_components=4)
    loc, conc, logits = net(collate(graphs))
    t = sum(len(g.torsion_index) for g in graphs)
    assert loc.shape == conc.shape == logits.shape == (t, 4)
    assert (loc.abs() <= math.pi).all() and (conc > 0).all() and (conc <= net.max_concentration).all()


def test_invariant_to_atom_order_and_batching():
    from rdkit import Chem

    torch.manual_seed(0)
    net = VonMisesNet(hidden=32, num_layers=3).eval()
    mol, ts, g = _graph("CCOc1ccc(CC(N)=O)cc1CCO")
    perm = [int(i) for i in np.random.default_rng(0).permutation(mol.GetNumAtoms())]
    mol2 = Chem.RenumberAtoms(mol, perm)
    inv = np.argsort(perm)  # old index -> new index
    g2 = featurize(mol2, inv[ts.atoms])
    with torch.no_grad():
        a = net(collate([g]))
        b = net(collate([g2]))
        c = net(collate([_graph("CCCC")[2], g]))
    for x, y, z in zip(a, b, c):
        assert torch.allclose(x, y, atol=1e-5)
        assert torch.allclose(x, z[1:], atol=1e-5)


def test_reversed_quadruple_gives_same_prediction():
    net = VonMisesNet(hidden=32, num_layers=2).eval()
    mol, ts, g = _graph("CCCCO")
    g2 = dataclasses.replace(g, torsion_index=g.torsion_index.flip(-1))
    with torch.no_grad():
        for x, y in zip(net(collate([g])), net(collate([g2]))):
            assert torch.allclose(x, y, atol=1e-6)


def test_dataset_cache_and_batching(tiny_reference, tmp_path):
    ds = ReferenceTorsionDataset(str(tiny_reference), root=str(tmp_path))
    assert len(ds) == 6
    d = ds[0]
    assert d.torsion_angles.shape == (len(d.torsion_index), 40)
    assert (tmp_path / "processed").exists() and any(p.suffix == ".pt" for p in (tmp_path / "processed").iterdir())
    ds2 = ReferenceTorsionDataset(str(tiny_reference), root=str(tmp_path))  # loads the cache
    assert torch.equal(ds2[0].x, d.x)


def test_system_learns_and_resumes(tiny_reference, tmp_path):
    dm = ConformerDataModule(train=str(tiny_reference), val=str(tiny_reference), test=str(tiny_reference), batch_size=6,
                             train_samples=40, root=str(tmp_path / "cache"))
    L.seed_everything(0)
    system = VonMisesNetSystem(VonMisesNet(hidden=32, num_layers=2), lr=3e-3)
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ck", save_last=True)
    trainer = L.Trainer(max_epochs=30, accelerator="cpu", logger=False, callbacks=[ckpt], enable_progress_bar=False,
                        enable_model_summary=False, check_val_every_n_epoch=30)
    trainer.fit(system, dm)
    val = trainer.validate(system, dm, verbose=False)[0]
    # a uniform law has NLL log(2 pi) = 1.84; the fit must beat it clearly
    assert val["val/nll"] < 1.6
    assert 0 <= val["val/w1"] < 1.0
    # resume from the last checkpoint: training continues from epoch 30
    trainer2 = L.Trainer(max_epochs=31, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                         check_val_every_n_epoch=30)
    system2 = VonMisesNetSystem(VonMisesNet(hidden=32, num_layers=2), lr=3e-3)
    trainer2.fit(system2, dm, ckpt_path=str(tmp_path / "ck" / "last.ckpt"))
    assert trainer2.current_epoch == 31
    loaded = VonMisesNetSystem.from_checkpoint(tmp_path / "ck" / "last.ckpt")
    assert loaded.net.embed.out_features == 32


def test_lightning_cli_fast_dev_run(tiny_reference, tmp_path):
    from geomgen.conformers.commands.train import cli_main

    cli_main(["fit", "--config", "geomgen/conformers/configs/vonmisesnet.yaml", "--trainer.fast_dev_run", "true",
              f"--data.train={tiny_reference}", f"--data.val={tiny_reference}", f"--data.test={tiny_reference}",
              f"--data.root={tmp_path}", f"--trainer.default_root_dir={tmp_path}", "--model.net.init_args.hidden=16",
              "--model.net.init_args.num_layers=1", "--data.batch_size=3", "--data.converged_only=false"])


def test_export_slim_checkpoint(tiny_checkpoint, tiny_reference, tmp_path):
    from geomgen.conformers.checkpoint import export_checkpoint
    from geomgen.conformers.commands.train import cli_main

    export_checkpoint(tiny_checkpoint, tmp_path / "slim.ckpt")
    a = VonMisesNetSystem.from_checkpoint(tiny_checkpoint)
    b = VonMisesNetSystem.from_checkpoint(tmp_path / "slim.ckpt")
    g = collate([_graph("CCCCO")[2]])
    with torch.no_grad():
        for x, y in zip(a(g), b(g)):
            assert torch.equal(x, y)
    assert (tmp_path / "slim.ckpt").stat().st_size < tiny_checkpoint.stat().st_size
    # the CLI's test stage takes the slim checkpoint as it takes the full one
    cli = cli_main(["test", "--config", "geomgen/conformers/configs/vonmisesnet.yaml", "--ckpt_path", str(tmp_path / "slim.ckpt"),
                    f"--data.test={tiny_reference}", f"--data.root={tmp_path}", "--data.converged_only=false",
                    f"--trainer.default_root_dir={tmp_path}", "--trainer.enable_progress_bar=false", "--model.net.init_args.hidden=16",
                    "--model.net.init_args.num_layers=2", "--model.net.init_args.num_components=3"])
    assert 0 < cli.trainer.callback_metrics["test/w1"] < 3.2


DRUGS = ["CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1", "COc1ccc2[nH]cc(CCN(C)C)c2c1",
         "CC(C)NC[C@H](O)COc1cccc2ccccc12", "O=C(O)c1ccccc1OC(=O)C", "Clc1ccc(cc1)C(c1ccccc1)N1CCN(CC1)CCOCC(=O)O"]


def test_gine_layer_equals_pyg_gineconv():
    from torch_geometric.nn import GINEConv

    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 16, generator=g, dtype=torch.float64)
    edge_index = torch.randint(0, 30, (2, 80), generator=g)
    edge_attr = torch.randn(80, 7, generator=g, dtype=torch.float64)
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.SiLU(), torch.nn.Linear(16, 8)).double()
    ours = GINELayer(mlp, 16, 7).double()
    with torch.no_grad():
        ours.eps.fill_(0.3)
    pyg = GINEConv(copy.deepcopy(mlp), edge_dim=7, train_eps=True).double()
    pyg.load_state_dict(ours.state_dict())
    assert set(ours.state_dict()) == set(pyg.state_dict())
    torch.testing.assert_close(ours(x, edge_index, edge_attr), pyg(x, edge_index, edge_attr), rtol=0, atol=1e-12)


def test_collate_equals_pyg_batch():
    graphs = [_graph(s)[2] for s in DRUGS[:3]]
    ours = collate(graphs)
    pyg = Batch.from_data_list([TorsionData.from_graph(gr) for gr in graphs])
    for key in ("x", "edge_index", "edge_attr", "torsion_index"):
        assert torch.equal(getattr(ours, key), getattr(pyg, key))
    assert ours.num_nodes == pyg.num_nodes


def test_shipped_model_equals_pyg_network():
    """The plain-torch network on the shipped checkpoint (each member, for an ensemble) gives the
    outputs of the same weights in a network built from PyG's GINEConv, on a PyG batch, to 1e-6."""
    from torch_geometric.nn import GINEConv

    from geomgen.assets import asset_path
    from geomgen.conformers.checkpoint import load_vonmisesnet
    from geomgen.conformers.model import VonMisesNetEnsemble

    shipped = load_vonmisesnet(asset_path("models/vonmisesnet.ckpt"))
    members = list(shipped.members) if isinstance(shipped, VonMisesNetEnsemble) else [shipped]
    graphs = []
    for smiles in DRUGS:
        mol, ts, _ = _graph(smiles)
        graphs.append(featurize(mol, ts.atoms, torsion_features=True))
    for net in members:
        ref = copy.deepcopy(net)
        for i, layer in enumerate(ref.convs):
            state = {k: v.clone() for k, v in layer.state_dict().items()}
            conv = GINEConv(copy.deepcopy(layer.nn), edge_dim=layer.lin.in_features, train_eps=True)  # re-initialises its nn
            conv.load_state_dict(state)
            ref.convs[i] = conv
        with torch.no_grad():
            ours = net(collate(graphs))
            theirs = ref.eval()(Batch.from_data_list([TorsionData.from_graph(gr) for gr in graphs]))
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_dataset_converged_only(tiny_reference, tmp_path):
    from geomgen.conformers.reference.store import load_reference_set

    n_conv = sum(r.converged and len(r.torsion_atoms) > 0 for r in load_reference_set(str(tiny_reference)))
    if n_conv == 0:  # 2 chains x 40 sweeps: nothing converges, and the dataset says so
        with pytest.raises(ValueError, match="no converged molecule"):
            ReferenceTorsionDataset(str(tiny_reference), root=str(tmp_path), converged_only=True)
    else:
        assert len(ReferenceTorsionDataset(str(tiny_reference), root=str(tmp_path), converged_only=True)) == n_conv


def test_dataset_rebuilt_only_drops_earlier_references(tiny_reference, tmp_path):
    """In a set whose rebuild is under way, ``rebuilt_only`` keeps the molecules sampled by the
    current sampler and drops the earlier references; the datamodule's ``train_subset`` uses it."""
    import json

    z = dict(np.load(tiny_reference))
    diags = [json.loads(str(d)) for d in z["diagnostics"]]
    has_torsions = z["n_torsions"] > 0
    first = int(np.flatnonzero(has_torsions)[0])
    diags[first]["sampler_version"] = 1
    z["diagnostics"] = np.array([json.dumps(d) for d in diags])
    mixed = tmp_path / "mixed.npz"
    np.savez_compressed(mixed, **z)
    everything = ReferenceTorsionDataset(str(mixed), root=str(tmp_path / "c"))
    rebuilt = ReferenceTorsionDataset(str(mixed), root=str(tmp_path / "c"), rebuilt_only=True)
    assert len(everything) == int(has_torsions.sum()) and len(rebuilt) == len(everything) - 1
    assert str(z["id"][first]) not in {d.mol_id for d in rebuilt}
    dm = ConformerDataModule(train=str(mixed), val=str(mixed), root=str(tmp_path / "c"), train_subset="rebuilt")
    dm.setup("fit")
    assert len(dm.train_set) == len(rebuilt) and len(dm.val_set) == len(everything)
    with pytest.raises(ValueError, match="train_subset must be one of all, rebuilt, converged"):
        ConformerDataModule(train_subset="new")


def test_validation_w1_is_taken_modulo_graph_symmetry(tiny_reference, tmp_path):
    """The dataset carries each torsion's symmetry order (the convergence rule's), and the logged
    ``val/w1`` is the evaluation's W1 (``torsion_w1`` modulo symmetry), not the plain one."""
    from torch_geometric.data import Batch

    from geomgen.conformers.reference.convergence import torsion_w1
    from geomgen.conformers.reference.store import load_reference_set

    ds = ReferenceTorsionDataset(str(tiny_reference), root=str(tmp_path))
    sym = {r.id: r.symmetry for r in load_reference_set(str(tiny_reference)) if len(r.torsion_atoms)}
    for d in ds:
        np.testing.assert_array_equal(d.torsion_symmetry.numpy(), sym[d.mol_id])
    assert any((s > 1).any() for s in sym.values())  # the tiny set has a symmetric rotor
    dm = ConformerDataModule(train=str(tiny_reference), val=str(tiny_reference), batch_size=len(ds), root=str(tmp_path))
    system = VonMisesNetSystem(VonMisesNet(hidden=16, num_layers=1), w1_samples=100).eval()
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged = trainer.validate(system, dm, verbose=False)[0]["val/w1"]
    batch = Batch.from_data_list(list(ds))
    with torch.no_grad():
        mix = system.net.mixture(batch)
    samples = mix.sample((100,), generator=torch.Generator().manual_seed(1234 + batch.num_graphs)).numpy()
    ref = batch.torsion_angles.numpy().T
    expected = np.mean(torsion_w1(samples, ref, batch.torsion_symmetry.numpy()))
    assert logged == pytest.approx(expected, rel=1e-5)
    assert abs(logged - np.mean(torsion_w1(samples, ref))) > 1e-4  # the plain W1 differs


def test_torsion_feature_network_is_invariant_and_round_trips(tmp_path):
    """A network reading the torsion-potential features keeps the atom-order and reversal
    invariances, stores the option in its checkpoint, and the generator featurizes for it."""
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator

    torch.manual_seed(0)
    net = VonMisesNet(hidden=32, num_layers=2, torsion_features=True).eval()
    mol, ts, _ = _graph("CCOc1ccc(CC(N)=O)cc1CCO")
    g = featurize(mol, ts.atoms, torsion_features=True)
    perm = [int(i) for i in np.random.default_rng(0).permutation(mol.GetNumAtoms())]
    g2 = featurize(Chem.RenumberAtoms(mol, perm), np.argsort(perm)[ts.atoms], torsion_features=True)
    g3 = featurize(mol, ts.atoms[:, ::-1].copy(), torsion_features=True)
    with torch.no_grad():
        a, b, c = net(collate([g])), net(collate([g2])), net(collate([g3]))
    for x, y, z in zip(a, b, c):
        assert torch.allclose(x, y, atol=1e-5) and torch.allclose(x, z, atol=1e-5)
    with pytest.raises(ValueError, match="torsion_features=True"):
        net(collate([featurize(mol, ts.atoms)]))
    path = tmp_path / "tf.ckpt"
    torch.save({"net_config": net.config, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    gen = ConformerGenerator.from_checkpoint(path)
    assert gen.net.torsion_features
    out, _ = gen.generate_many([("m", Chem.Mol(mol))], 4, seed=0)
    assert out[0].GetNumConformers() == 4
    # checkpoints written before the option load as networks without it
    old = {k: v for k, v in VonMisesNet(hidden=32, num_layers=2).config.items() if k != "torsion_features"}
    assert VonMisesNet(**old).torsion_features is False


def test_symmetrize_torsions_shifts_by_symmetry_periods_only():
    """Each sample moves by a multiple of its torsion's period 2 pi / s, uniformly over the s
    copies (a chain stuck in one copy becomes symmetric: its harmonics below s vanish), and
    torsions of order 1 are untouched."""
    from geomgen.conformers.dataset import SymmetrizeTorsions, TorsionData

    stuck = torch.full((3, 20000), 0.3)  # every sample in one copy
    d = TorsionData(torsion_angles=stuck, torsion_symmetry=torch.tensor([1, 2, 3]), num_nodes=1)
    torch.manual_seed(0)
    out = SymmetrizeTorsions()(d).torsion_angles
    assert torch.equal(d.torsion_angles, stuck)  # the stored sample is not modified in place
    assert torch.equal(out[0], stuck[0])
    for t, s in ((1, 2), (2, 3)):
        k = torch.round((out[t] - 0.3) / (2 * np.pi / s)) % s  # which copy each sample went to
        assert torch.allclose(torch.remainder(out[t] - 0.3 + 1e-4, 2 * np.pi / s), torch.tensor(1e-4), atol=1e-5)
        counts = torch.bincount(k.long(), minlength=s).double() / out.shape[1]
        assert torch.allclose(counts, torch.full((s,), 1.0 / s, dtype=torch.float64), atol=0.02)
        for h in range(1, s):  # harmonics that the symmetry forbids
            assert abs(torch.exp(1j * h * out[t].double()).mean()) < 0.03
    assert out.min() >= -np.pi and out.max() < np.pi


def test_unconverged_torsions_weighted_in_training_loss(tiny_reference, tmp_path):
    """The dataset carries each torsion's own convergence verdict; with ``unconverged_weight`` w
    the training loss is the weighted mean NLL over torsions (w = 0: converged torsions only,
    w = 1: the plain mean), and validation is unweighted."""
    import json

    from torch_geometric.data import Batch

    z = dict(np.load(tiny_reference))
    diags = [json.loads(str(d)) for d in z["diagnostics"]]
    for d in diags:  # a known pattern of verdicts: alternate torsions converged
        d["torsion_converged"] = [i % 2 == 0 for i in range(d["n_torsions"])]
    z["diagnostics"] = np.array([json.dumps(d) for d in diags])
    path = tmp_path / "verdicts.npz"
    np.savez_compressed(path, **z)
    ds = ReferenceTorsionDataset(str(path), root=str(tmp_path))
    for d in ds:
        assert d.torsion_converged.tolist() == [i % 2 == 0 for i in range(len(d.torsion_symmetry))]
    own = {str(i): json.loads(str(d))["torsion_converged"] for i, d in zip(z["id"], np.load(tiny_reference)["diagnostics"])}
    for d in ReferenceTorsionDataset(str(tiny_reference), root=str(tmp_path / "o")):  # the sampler's own verdicts
        assert d.torsion_converged.tolist() == own[d.mol_id]
    batch = Batch.from_data_list(list(ds))
    torch.manual_seed(0)
    net = VonMisesNet(hidden=16, num_layers=1).eval()
    with torch.no_grad():
        per_torsion = -net.mixture(batch).log_prob(batch.torsion_angles.T).mean(0)
    conv = batch.torsion_converged
    for w, expected in ((1.0, per_torsion.mean()), (0.0, per_torsion[conv].mean()),
                        (0.25, (per_torsion[conv].sum() + 0.25 * per_torsion[~conv].sum()) / (conv.sum() + 0.25 * (~conv).sum()))):
        system = VonMisesNetSystem(net, unconverged_weight=w)
        system.log = lambda *a, **k: None
        with torch.no_grad():
            assert float(system.model_step(batch, "train")[0]) == pytest.approx(float(expected), rel=1e-5)
            assert float(system.model_step(batch, "val")[0]) == pytest.approx(float(per_torsion.mean()), rel=1e-5)
    with pytest.raises(ValueError, match="unconverged_weight must be in"):
        VonMisesNetSystem(net, unconverged_weight=2.0)


def test_datamodule_symmetrize_option(tiny_reference, tmp_path):
    """``symmetrize=True`` adds the symmetry shifts to the training samples only: symmetric
    torsions' samples agree with the stored ones modulo their period, order-1 torsions exactly."""
    dm = ConformerDataModule(train=str(tiny_reference), val=str(tiny_reference), root=str(tmp_path), train_samples=10_000,
                             symmetrize=True)
    dm.setup("fit")
    stored = ReferenceTorsionDataset(str(tiny_reference), root=str(tmp_path))
    moved = False
    for i in range(len(stored)):
        a, b = stored[i], dm.train_set[i]
        if a.torsion_angles.shape[1] > 10_000:
            continue  # subsampled: not comparable sample by sample
        period = (2 * np.pi / a.torsion_symmetry.double())[:, None]
        d = (b.torsion_angles.double() - a.torsion_angles.double()) % period
        assert torch.all((d < 1e-5) | (d > period - 1e-5))
        assert torch.equal(b.torsion_angles[a.torsion_symmetry == 1], a.torsion_angles[a.torsion_symmetry == 1])
        moved |= not torch.equal(b.torsion_angles, a.torsion_angles)
    assert moved  # the tiny set has a symmetric rotor
    assert torch.equal(dm.val_set[0].torsion_angles, stored[0].torsion_angles)


def test_ensemble_density_is_mean_of_members():
    """The ensemble's mixture density equals the mean of its members' densities (members of
    different sizes, one reading torsion features), and it samples and batches like one network."""
    from geomgen.conformers.model import VonMisesNetEnsemble

    torch.manual_seed(0)
    nets = [VonMisesNet(hidden=16, num_layers=1, num_components=3).eval(),
            VonMisesNet(hidden=24, num_layers=2, num_components=5, torsion_features=True).eval()]
    ens = VonMisesNetEnsemble(nets).eval()
    assert ens.torsion_features and ens.num_components == 8
    mol, ts, _ = _graph("CCOc1ccc(CC(N)=O)cc1CCO")
    g = collate([featurize(mol, ts.atoms, torsion_features=True)])
    theta = torch.linspace(-np.pi, np.pi, 37)[:, None].expand(-1, len(ts.atoms))
    with torch.no_grad():
        p = ens.mixture(g).log_prob(theta).exp()
        expected = sum(n.mixture(g).log_prob(theta).exp() for n in nets) / 2
        loc, conc, logits = ens(g)
    assert torch.allclose(p, expected, rtol=1e-5, atol=1e-7)
    assert loc.shape == conc.shape == logits.shape == (len(ts.atoms), 8)
    assert torch.allclose(torch.logsumexp(logits, -1), torch.zeros(len(ts.atoms)), atol=1e-6)
    assert ens.config == {"ensemble": [n.config for n in nets]}
    with pytest.raises(ValueError, match="at least one network"):
        VonMisesNetEnsemble([])


def test_export_ensemble_round_trips_and_generates(tiny_checkpoint, tmp_path):
    """An ensemble checkpoint of two networks loads as their ensemble (same outputs), drives the
    generator like one network, and bad member lists are refused with the reason."""
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.checkpoint import export_ensemble, load_vonmisesnet
    from geomgen.conformers.model import VonMisesNetEnsemble

    torch.manual_seed(1)
    other = VonMisesNet(hidden=24, num_layers=2, num_components=4)
    second = tmp_path / "second.ckpt"
    torch.save({"net_config": other.config, "state_dict": {f"net.{k}": v for k, v in other.state_dict().items()}}, second)
    export_ensemble([tiny_checkpoint, second], tmp_path / "ens.ckpt")
    ens = load_vonmisesnet(tmp_path / "ens.ckpt")
    assert isinstance(ens, VonMisesNetEnsemble) and len(ens.members) == 2
    direct = VonMisesNetEnsemble([load_vonmisesnet(tiny_checkpoint), load_vonmisesnet(second)]).eval()
    g = collate([_graph("CCOc1ccccc1C(N)=O")[2]])
    with torch.no_grad():
        for x, y in zip(ens(g), direct(g)):
            assert torch.equal(x, y)
    mol = _graph("CCOc1ccccc1C(N)=O")[0]
    out, _ = ConformerGenerator.from_checkpoint(tmp_path / "ens.ckpt").generate_many([("m", Chem.Mol(mol))], 3, seed=0)
    assert out[0].GetNumConformers() == 3
    with pytest.raises(ValueError, match="at least two checkpoints"):
        export_ensemble([tiny_checkpoint], tmp_path / "one.ckpt")
    with pytest.raises(ValueError, match="already an ensemble"):
        export_ensemble([tmp_path / "ens.ckpt", second], tmp_path / "nested.ckpt")


def test_datamodule_trains_on_several_reference_files_together(tiny_reference, tmp_path):
    """``train`` may list several splits or files (e.g. ``["train", "train_extra"]``): their
    molecules are trained on together, each with the subset rule; a missing one is an error."""
    from torch_geometric.loader import DataLoader

    one = ConformerDataModule(train=str(tiny_reference), val=str(tiny_reference), root=str(tmp_path))
    one.setup("fit")
    two = ConformerDataModule(train=[str(tiny_reference), str(tiny_reference)], val=str(tiny_reference),
                              root=str(tmp_path), batch_size=4)
    two.setup("fit")
    assert len(two.train_set) == 2 * len(one.train_set)
    ids = [d.mol_id for d in two.train_set]
    assert ids == [d.mol_id for d in one.train_set] * 2
    batch = next(iter(two.train_dataloader()))
    assert batch.num_graphs == min(4, len(two.train_set)) and isinstance(two.train_dataloader(), DataLoader)
    with pytest.raises(FileNotFoundError):
        ConformerDataModule(train=[str(tiny_reference), str(tmp_path / "missing.npz")], root=str(tmp_path)).prepare_data()
