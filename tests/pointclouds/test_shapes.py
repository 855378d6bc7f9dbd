import numpy as np
import pytest
import scipy.stats
import torch

from geomgen.pointclouds.datamodule import PointCloudDataModule
from geomgen.pointclouds.io import sample_triangles
from geomgen.pointclouds.shapes import CLASSES, ProceduralShapes, _grid_mesh, random_rotation, sample_shape


def test_at_least_eight_classes_all_sampled():
    assert len(CLASSES) >= 8
    for i, name in enumerate(CLASSES):
        pts = sample_shape(name, 300, np.random.default_rng(i))
        assert pts.shape == (300, 3) and pts.dtype == np.float32 and np.isfinite(pts).all()
    with pytest.raises(ValueError, match="unknown class"):
        sample_shape("teapot", 10, np.random.default_rng(0))


def test_grid_mesh_sampling_is_area_uniform_on_the_sphere():
    # Archimedes: for points uniform on the unit sphere, z is uniform on [-1, 1]
    verts, faces = _grid_mesh(
        lambda u, v: np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], -1), (0, 2 * np.pi), (0, np.pi)
    )
    pts = sample_triangles(verts, faces, 20000, np.random.default_rng(0))
    assert scipy.stats.kstest((pts[:, 2] + 1) / 2, "uniform").pvalue > 1e-3


def test_random_rotation_is_a_rotation():
    r = random_rotation(np.random.default_rng(0))
    assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1)


def test_deterministic_split_and_cached(tmp_path, monkeypatch):
    kw = dict(n_points=32, shapes_per_class=10, seed=3)
    a = {s: ProceduralShapes(tmp_path / "a", s, **kw) for s in ("train", "val", "test")}
    b = ProceduralShapes(tmp_path / "b", "test", **kw)
    assert [len(a[s]) for s in ("train", "val", "test")] == [70, 10, 20]
    assert torch.equal(a["test"].points, b.points) and torch.equal(a["test"].labels, b.labels)
    assert sorted(a["test"].labels.unique().tolist()) == list(range(len(CLASSES)))
    # splits are disjoint
    keys = {s: {tuple(p[0].tolist()) for p in a[s].points} for s in a}
    assert not (keys["train"] & keys["test"]) and not (keys["train"] & keys["val"])
    other = ProceduralShapes(tmp_path / "a", "test", n_points=32, shapes_per_class=10, seed=4)
    assert not torch.equal(other.points, b.points)
    files = sorted(p.name for p in (tmp_path / "a" / "processed").iterdir())
    assert len(files) == 2 and all(f.startswith("shapes_v") for f in files)
    # the cache is reused: no processing on the second load
    monkeypatch.setattr(ProceduralShapes, "process", lambda self: pytest.fail("reprocessed"))
    ProceduralShapes(tmp_path / "a", "val", **kw)


def test_pre_transform_enters_the_cache_key(tmp_path):
    class Shift:
        def __call__(self, pts):
            return pts + 10

        def __repr__(self):
            return "Shift()"

    plain = ProceduralShapes(tmp_path, "val", n_points=16, shapes_per_class=3)
    shifted = ProceduralShapes(tmp_path, "val", n_points=16, shapes_per_class=3, pre_transform=Shift())
    assert torch.allclose(shifted.points, plain.points + 10)


def test_datamodule_batches(tmp_path):
    dm = PointCloudDataModule("shapes", path=str(tmp_path), n_points=32, shapes_per_class=10, batch_size=8, rotate=True)
    dm.prepare_data()
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 32, 3) and y.shape == (8,)
    assert torch.allclose(x.norm(dim=-1).amax(-1), torch.ones(8), atol=1e-5)
    xv, _ = next(iter(dm.val_dataloader()))
    assert torch.allclose(xv.mean(1), torch.zeros(3), atol=1e-5)
