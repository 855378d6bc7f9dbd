import numpy as np
import pytest

from geomgen.cli import main
from geomgen.pointclouds.examples import EXAMPLES, N_POINTS, build_example, example_path, load_example
from geomgen.pointclouds.io import load_point_cloud
from geomgen.pointclouds.torus_check import torus_frame, torus_hole_check


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_shipped_examples_are_their_recipe(name):
    cloud = load_example(name)
    assert cloud.shape == (N_POINTS, 3) and cloud.dtype == np.float32
    np.testing.assert_allclose(cloud, build_example(name), atol=1e-6)
    assert np.linalg.norm(cloud, axis=1).max() == pytest.approx(1.0, abs=1e-5)


def test_examples_are_package_data():
    import configparser
    from pathlib import Path

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    patterns = cfg["options.package_data"]["geomgen"]
    assert "pointclouds/example_clouds/*.npy" in patterns
    with pytest.raises(ValueError, match="unknown example 'donut'; choose from torus"):
        example_path("donut")


def test_torus_check_known_answers():
    torus = load_example("torus")
    centre, axis, hole = torus_frame(torus)
    assert abs(axis[2]) == pytest.approx(1.0, abs=1e-3) and hole == pytest.approx((1 - 0.35) / 1.35, abs=0.01)
    # another sample of the same torus, rotated and shifted like its reference: no point in the hole
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    other = build_example("torus", seed=1)
    check = torus_hole_check(other @ rot.T + 0.3, torus @ rot.T + 0.3)
    assert check.share == 0.0 and check.passed
    # a filled ball and an oblate shell of the torus's extent have points on the axis
    rng = np.random.default_rng(0)
    u = rng.normal(size=(4000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    ball = u * rng.uniform(0, 1, (4000, 1)) ** (1 / 3)
    shell = u * [1.0, 1.0, 0.37]
    for blob, expected in ((ball, (0.5 * hole) ** 2 * 1.5), (shell, 0.03)):
        res = torus_hole_check(blob, torus)
        assert not res.passed and res.share == pytest.approx(expected, rel=0.25)
    with pytest.raises(ValueError, match=r"\(5,\) and \(2048, 3\)"):
        torus_hole_check(np.zeros(5), torus)


def test_reconstruct_example_and_list(tmp_path, capsys):
    assert main(["pointcloud", "examples"]) == 0
    assert "torus" in capsys.readouterr().out
    out = tmp_path / "t.ply"
    assert main(["pointcloud", "reconstruct", "--example", "torus", "-o", str(out)]) == 0
    recon = load_point_cloud(out)
    assert recon.shape == (1024, 3)
    # the shipped model keeps the torus's hole (evaluation/pointclouds/torus_check.json)
    check = torus_hole_check(recon, load_example("torus"))
    assert check.passed, f"{check.share:.3f} of the reconstructed torus's points lie in its hole"
    assert main(["pointcloud", "reconstruct", "--example", "donut", "-o", str(out)]) == 2
    assert "unknown example 'donut'" in capsys.readouterr().err
