import math

import lightning as L
import numpy as np
import torch
from torch_geometric.data import Batch

from geomgen.chem import embed_seed, parse_molecule, rotatable_torsions
from geomgen.datasets.molecule_datamodule import ConformerDataModule
from geomgen.datasets.molecules import ReferenceTorsionDataset, featurize
from geomgen.nn.vonmisesnet import VonMisesNet
from geomgen.nn.vonmisesnet_system import VonMisesNetSystem


def _graph(smiles):
    mol = embed_seed(parse_molecule(smiles))
    ts = rotatable_torsions(mol)
    return mol, ts, featurize(mol, ts.atoms)


def test_output_shapes_and_ranges():
    graphs = [_graph(s)[2] for s in ("CCCCO", "CC(C)Cc1ccc(cc1)C(C)C(=O)O")]
    net = VonMisesNet(hidden=32, num_layers=2, num_components=4)
    loc, conc, logits = net(Batch.from_data_list(graphs))
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
        a = net(Batch.from_data_list([g]))
        b = net(Batch.from_data_list([g2]))
        c = net(Batch.from_data_list([_graph("CCCC")[2], g]))
    for x, y, z in zip(a, b, c):
        assert torch.allclose(x, y, atol=1e-5)
        assert torch.allclose(x, z[1:], atol=1e-5)


def test_reversed_quadruple_gives_same_prediction():
    net = VonMisesNet(hidden=32, num_layers=2).eval()
    mol, ts, g = _graph("CCCCO")
    g2 = g.clone()
    g2.torsion_index = g.torsion_index.flip(-1)
    with torch.no_grad():
        for x, y in zip(net(Batch.from_data_list([g])), net(Batch.from_data_list([g2]))):
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
    from geomgen.commands.vonmisesnet import cli_main

    cli_main(["fit", "--config", "geomgen/configs/conformers/vonmisesnet.yaml", "--trainer.fast_dev_run", "true",
              f"--data.train={tiny_reference}", f"--data.val={tiny_reference}", f"--data.test={tiny_reference}",
              f"--data.root={tmp_path}", f"--trainer.default_root_dir={tmp_path}", "--model.net.init_args.hidden=16",
              "--model.net.init_args.num_layers=1", "--data.batch_size=3"])


def test_export_slim_checkpoint(tiny_checkpoint, tmp_path):
    from geomgen.nn.vonmisesnet import export_checkpoint

    export_checkpoint(tiny_checkpoint, tmp_path / "slim.ckpt")
    a = VonMisesNetSystem.from_checkpoint(tiny_checkpoint)
    b = VonMisesNetSystem.from_checkpoint(tmp_path / "slim.ckpt")
    g = Batch.from_data_list([_graph("CCCCO")[2]])
    with torch.no_grad():
        for x, y in zip(a(g), b(g)):
            assert torch.equal(x, y)
    assert (tmp_path / "slim.ckpt").stat().st_size < tiny_checkpoint.stat().st_size
