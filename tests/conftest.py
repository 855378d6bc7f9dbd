import warnings

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _ring_cache(tmp_path_factory):
    """Every test (and the CLI processes it starts) caches ring conformations in a folder of its
    session, not in the user's cache (the default seeds are assembled from the ring library)."""
    import os

    old = os.environ.get("GEOMGEN_CACHE_DIR")
    os.environ["GEOMGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("ring-cache"))
    yield
    if old is None:
        os.environ.pop("GEOMGEN_CACHE_DIR", None)
    else:
        os.environ["GEOMGEN_CACHE_DIR"] = old


# Tolerance table for numerical tests run in both precisions (e3nn habit).
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    # the tests use tiny tensors: one thread avoids oversubscription on small shared machines
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)


TINY_SMILES = ["CCCCO", "OCC(=O)Nc1ccccc1", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "COc1ccc(CCN)cc1", "C[C@@H](O)c1ccccc1", "CCOC(=O)CCc1ccncc1"]


@pytest.fixture(scope="session")
def tiny_reference(tmp_path_factory):
    """A 6-molecule reference set built with a very short sampler run (session-wide)."""
    from geomgen.conformers.reference.build import build_reference_set
    from geomgen.conformers.reference.store import assemble

    root = tmp_path_factory.mktemp("tiny_reference")
    csv_path = root / "smiles_tiny.csv"
    csv_path.write_text("id,smiles,source\n" + "".join(f"t{i},{s},test\n" for i, s in enumerate(TINY_SMILES)))
    cfg = dict(n_chains=2, n_samples=40, warmup_sweeps=10, round_sweeps=40, min_sweeps=40, max_sweeps=40)
    build_reference_set(csv_path, root / "work", cfg, jobs=1, progress=False)
    assemble(csv_path, root / "work", root / "reference_tiny.npz")
    return root / "reference_tiny.npz"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_reference, tmp_path_factory):
    """A VonMisesNet checkpoint trained for a few steps on the tiny set (a real Lightning checkpoint)."""
    import lightning as L

    from geomgen.conformers.datamodule import ConformerDataModule
    from geomgen.conformers.model import VonMisesNet
    from geomgen.conformers.system import VonMisesNetSystem

    root = tmp_path_factory.mktemp("tiny_ckpt")
    dm = ConformerDataModule(train=str(tiny_reference), val=str(tiny_reference), test=str(tiny_reference),
                             batch_size=3, train_samples=16, root=str(root / "cache"))
    system = VonMisesNetSystem(VonMisesNet(hidden=16, num_layers=2, num_components=3), lr=1e-2)
    trainer = L.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(root))
    trainer.fit(system, dm)
    path = root / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path
