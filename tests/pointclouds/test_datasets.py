import h5py
import numpy as np
import pytest
import torch

from geomgen.pointclouds.datamodule import PointCloudDataModule
from geomgen.pointclouds.datasets import ModelNet40, PointCloudFolder, ShapeNetCore55
from geomgen.pointclouds.io import write_point_cloud
from geomgen.pointclouds.transforms import Compose, Jitter, NormalizeUnitBall, RandomRotate
from tests.pointclouds.test_io import TETRA_F, TETRA_V, _write_ply


def _modelnet(root, rng):
    root.mkdir()
    for split, sizes in (("train", (5, 4)), ("test", (3,))):
        for i, s in enumerate(sizes):
            with h5py.File(root / f"ply_data_{split}{i}.h5", "w") as f:
                f["data"] = rng.random((s, 2048, 3)).astype(np.float32)
                f["label"] = rng.integers(0, 40, (s, 1)).astype(np.uint8)
    return root


def test_shapenet_npz(tmp_path):
    data = np.random.default_rng(0).random((6, 2048, 3)).astype(np.float32) * 3 + 1
    np.savez(tmp_path / "shapenet57448xyzonly.npz", data=data)
    ds = ShapeNetCore55(tmp_path / "shapenet57448xyzonly.npz", transform=NormalizeUnitBall())
    pts, label = ds[2]
    assert len(ds) == 6 and pts.shape == (2048, 3) and pts.dtype == torch.float32 and label == -1
    assert torch.allclose(pts.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.isclose(pts.norm(dim=1).max(), torch.tensor(1.0))
    np.savez(tmp_path / "bad.npz", points=data)
    with pytest.raises(ValueError, match="'data'"):
        ShapeNetCore55(tmp_path / "bad.npz")


def test_modelnet40_h5(tmp_path):
    root = _modelnet(tmp_path / "modelnet40_ply_hdf5_2048", np.random.default_rng(0))
    train, test = ModelNet40(root, "train"), ModelNet40(root, "test")
    assert len(train) == 9 and len(test) == 3
    pts, label = train[7]
    assert pts.shape == (2048, 3) and label.dtype == torch.int64 and 0 <= label < 40
    with h5py.File(root / "ply_data_train1.h5") as f:
        assert np.allclose(pts.numpy(), f["data"][2])
    with pytest.raises(FileNotFoundError):
        ModelNet40(tmp_path, "train")


def test_folder_of_files(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "chair").mkdir()
    (tmp_path / "lamp").mkdir()
    np.save(tmp_path / "chair" / "a.npy", rng.random((3000, 3)).astype(np.float32))
    _write_ply(tmp_path / "chair" / "b.ply", TETRA_V, TETRA_F, binary=True)
    (tmp_path / "lamp" / "c.off").write_text("OFF\n4 4 0\n" + "\n".join(" ".join(map(str, v)) for v in TETRA_V)
                                           + "\n" + "\n".join("3 " + " ".join(map(str, f)) for f in TETRA_F) + "\n")  # fmt: skip
    write_point_cloud(tmp_path / "lamp" / "d.xyz", rng.random((100, 3)))
    ds = PointCloudFolder(tmp_path, n_points=256, transform=NormalizeUnitBall())
    assert ds.classes == ["chair", "lamp"] and len(ds) == 4
    labels = [int(ds[i][1]) for i in range(4)]
    assert labels == [0, 0, 1, 1]
    assert all(ds[i][0].shape == (256, 3) for i in range(4))
    assert torch.equal(ds[1][0], ds[1][0])  # deterministic sampling


def test_transforms_compose():
    torch.manual_seed(0)
    pts = torch.randn(100, 3) * 4 + 2
    out = Compose([Jitter(0.01), RandomRotate(), NormalizeUnitBall()])(pts)
    assert out.shape == (100, 3) and torch.isclose(out.norm(dim=1).max(), torch.tensor(1.0))
    rot = RandomRotate()(pts)
    assert torch.allclose(rot.norm(dim=1), pts.norm(dim=1), rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(100, 2\)"):
        NormalizeUnitBall()(torch.zeros(100, 2))


def test_datamodule_on_real_formats(tmp_path):
    root = _modelnet(tmp_path / "mn", np.random.default_rng(1))
    dm = PointCloudDataModule("modelnet40", path=str(root), batch_size=4, val_fraction=0.25)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 2048, 3) and y.shape == (4,)
    assert len(dm.splits["val"]) == 2 and len(dm.splits["train"]) == 7 and len(dm.splits["test"]) == 3
    np.savez(tmp_path / "s.npz", data=np.random.default_rng(0).random((10, 2048, 3)).astype(np.float32))
    dm = PointCloudDataModule("shapenet", path=str(tmp_path / "s.npz"), batch_size=2)
    dm.setup()
    assert sum(len(dm.splits[s]) for s in ("train", "val", "test")) == 10
    with pytest.raises(ValueError, match="needs a path"):
        PointCloudDataModule("modelnet40")


def test_folder_files_are_checked_when_the_dataset_is_built(tmp_path):
    """Issue 25, D8: a 2-D (wrong shape), NaN or complex .npy file in the folder surfaced as a traceback
    in the middle of an epoch; now building the dataset names every bad file with its reason."""
    from geomgen.pointclouds.datasets import DatasetError

    rng = np.random.default_rng(0)
    np.save(tmp_path / "good.npy", rng.random((50, 3)))
    np.save(tmp_path / "flat.npy", rng.random((50, 2)))
    nan = rng.random((50, 3))
    nan[4, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(DatasetError) as info:
        PointCloudFolder(tmp_path, n_points=16)
    msg = str(info.value)
    assert "\n" not in msg and "2 of 3 files cannot be used" in msg
    assert f"{tmp_path / 'flat.npy'}: expected points of shape [N, 3] with N >= 1, got (50, 2)" in msg
    assert f"{tmp_path / 'nan.npy'}: 1 non-finite value(s) (NaN or inf) in 1 of 50 points" in msg
    assert "good.npy" not in msg
