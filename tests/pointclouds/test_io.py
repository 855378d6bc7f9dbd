import numpy as np
import pytest
import scipy.stats

from geomgen.pointclouds.io import (
    check_output,
    load_point_cloud,
    normalize_unit_ball,
    read_mesh,
    sample_triangles,
    write_point_cloud,
)

TETRA_V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
TETRA_F = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def _write_ply(path, verts, faces, binary: bool):
    head = [
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        "comment written by a test",
        f"element vertex {len(verts)}",
        "property float x",
        "property float y",
        "property float z",
        "property uchar red",
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    with open(path, "wb") as f:
        f.write(("\n".join(head) + "\n").encode())
        if binary:
            vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1")])
            v = np.zeros(len(verts), dtype=vdt)
            v["x"], v["y"], v["z"], v["red"] = verts[:, 0], verts[:, 1], verts[:, 2], 7
            f.write(v.tobytes())
            for face in faces:
                f.write(np.uint8(len(face)).tobytes() + np.asarray(face, dtype="<i4").tobytes())
        else:
            for p in verts:
                f.write(f"{p[0]} {p[1]} {p[2]} 7\n".encode())
            for face in faces:
                f.write((f"{len(face)} " + " ".join(map(str, face)) + "\n").encode())


@pytest.mark.parametrize("binary", [False, True])
def test_ply_mesh_roundtrip(tmp_path, binary):
    _write_ply(tmp_path / "t.ply", TETRA_V, TETRA_F, binary)
    v, f = read_mesh(tmp_path / "t.ply")
    assert np.allclose(v, TETRA_V) and np.array_equal(f, TETRA_F)


def test_ascii_ply_face_properties_beside_the_index_list(tmp_path):
    """A face colour after the index list (as plyfile and Blender write) is not read as an index."""
    head = ["ply", "format ascii 1.0", "element vertex 4", "property float x", "property float y", "property float z",
            "element face 2", "property uchar flags", "property list uchar int vertex_indices", "property uchar red",
            "end_header"]  # fmt: skip
    body = ["0 0 0", "1 0 0", "1 1 0", "0 1 0", "9 3 0 1 2 2", "9 4 0 1 2 3 1"]
    (tmp_path / "c.ply").write_text("\n".join(head + body) + "\n")
    v, f = read_mesh(tmp_path / "c.ply")
    assert v.shape == (4, 3)
    assert np.array_equal(f, [[0, 1, 2], [0, 1, 2], [0, 2, 3]])


def test_off_with_quads_and_inline_counts(tmp_path):
    # ModelNet writes the counts on the header line; quads are split into triangles
    text = "OFF4 1 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n"
    (tmp_path / "q.off").write_text(text)
    v, f = read_mesh(tmp_path / "q.off")
    assert v.shape == (4, 3) and f.tolist() == [[0, 1, 2], [0, 2, 3]]
    (tmp_path / "q2.off").write_text("OFF\n# comment\n4 1 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n")
    assert np.array_equal(read_mesh(tmp_path / "q2.off")[1], f)


@pytest.mark.parametrize("suffix", [".npy", ".xyz", ".txt", ".ply"])
def test_point_file_roundtrip(tmp_path, suffix):
    pts = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    write_point_cloud(tmp_path / f"p{suffix}", pts)
    back = load_point_cloud(tmp_path / f"p{suffix}")
    assert np.allclose(back, pts, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [f"p{suffix}"]  # no temporary left behind
    assert load_point_cloud(tmp_path / f"p{suffix}", n_points=80).shape == (80, 3)  # resampled
    assert load_point_cloud(tmp_path / f"p{suffix}", n_points=20).shape == (20, 3)


def test_area_uniform_sampling_on_triangles():
    # unit square split into triangles of area 1/8 and 3/8 + 1/2: counts follow the areas
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.25, 0, 0]], dtype=np.float64)
    f = np.array([[0, 4, 3], [4, 1, 3], [1, 2, 3]])
    pts = sample_triangles(v, f, 20000, np.random.default_rng(0))
    assert np.allclose(pts[:, :2].mean(0), [0.5, 0.5], atol=0.01)  # uniform on the square
    assert scipy.stats.kstest(pts[:, 0], "uniform").pvalue > 1e-3
    assert scipy.stats.kstest(pts[:, 1], "uniform").pvalue > 1e-3


def test_mesh_files_are_sampled_on_the_surface(tmp_path):
    _write_ply(tmp_path / "t.ply", TETRA_V, TETRA_F, True)
    pts = load_point_cloud(tmp_path / "t.ply", n_points=500)
    on_face = np.isclose(pts, 0, atol=1e-6).any(1) | np.isclose(pts.sum(1), 1, atol=1e-5)
    assert pts.shape == (500, 3) and on_face.all()


def test_normalize_unit_ball():
    pts = np.random.default_rng(0).random((100, 3)) * 5 + 3
    n, c, s = normalize_unit_ball(pts)
    assert np.allclose(n.mean(0), 0) and np.isclose(np.linalg.norm(n, axis=1).max(), 1)
    assert np.allclose(n * s + c, pts)


def test_bad_files_raise_value_error(tmp_path):
    (tmp_path / "a.obj").write_text("v 0 0 0\n")
    with pytest.raises(ValueError, match="unsupported"):
        read_mesh(tmp_path / "a.obj")
    np.save(tmp_path / "b.npy", np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        read_mesh(tmp_path / "b.npy")
    (tmp_path / "c.ply").write_text("nope\n")
    with pytest.raises(ValueError, match="not a PLY"):
        read_mesh(tmp_path / "c.ply")
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        write_point_cloud(tmp_path / "d.npy", np.zeros((5, 2)))


def test_cut_short_and_malformed_files_name_the_file(tmp_path):
    _write_ply(tmp_path / "a.ply", TETRA_V, TETRA_F, binary=False)
    _write_ply(tmp_path / "b.ply", TETRA_V, TETRA_F, binary=True)
    header = (tmp_path / "b.ply").read_bytes().index(b"end_header\n") + len(b"end_header\n")
    for name, keep, reason in (("a.ply", -12, "cut short: 3 of 4 face rows"), ("b.ply", -10, "cut short: 3 of 4 face rows"),
                               ("b.ply", header + 13 + 5, "cut short: 1 of 4 vertex rows")):  # fmt: skip
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes((tmp_path / name).read_bytes()[:keep])
        with pytest.raises(ValueError, match=reason):
            read_mesh(cut)
    (tmp_path / "c.off").write_text("OFF\n4 1 0\n0 0 0\n1 0 0\n")
    with pytest.raises(ValueError, match="c.off: OFF file cut short: 2 of 5"):
        read_mesh(tmp_path / "c.off")
    (tmp_path / "d.xyz").write_text("1 2 3\n4 five 6\n")
    with pytest.raises(ValueError, match="d.xyz: not a readable .xyz file"):
        read_mesh(tmp_path / "d.xyz")
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(ValueError, match="e.npy: not a readable .npy file"):
        read_mesh(tmp_path / "e.npy")
    with pytest.raises(FileNotFoundError, match="f.npy: no such file"):
        read_mesh(tmp_path / "f.npy")
    (tmp_path / "g.npy").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        read_mesh(tmp_path / "g.npy")


def test_non_finite_points_are_rejected_with_their_count(tmp_path):
    pts = np.zeros((10, 3))
    pts[2, 0], pts[2, 1], pts[7, 2] = np.nan, np.inf, -np.inf
    for suffix in (".npy", ".xyz"):
        write_point_cloud(tmp_path / f"p{suffix}", pts)
        with pytest.raises(ValueError, match=r"3 non-finite value\(s\) \(NaN or inf\) in 2 of 10 points"):
            read_mesh(tmp_path / f"p{suffix}")


def test_check_output(tmp_path):
    check_output(tmp_path / "new" / "x.ply")
    assert list(tmp_path.rglob("*.ply")) == []  # only checked, nothing left behind
    for path, reason in ((tmp_path, "is a folder"), (tmp_path / "x.obj", "unknown output type '.obj'"),
                         ("/proc/x.npy", "cannot write here")):  # fmt: skip
        with pytest.raises(ValueError, match=reason):
            check_output(path)


def test_complex_points_are_refused_not_made_real(tmp_path):
    """Issue 25 (M): a complex .npy cloud was silently cast to its real part."""
    pts = np.zeros((10, 3), dtype=np.complex128)
    pts[4, 1] = 1 + 2j
    np.save(tmp_path / "c.npy", pts)
    np.save(tmp_path / "s.npy", np.full((10, 3), "a"))
    with pytest.raises(ValueError, match=r"c\.npy: complex values \(dtype complex128\); point coordinates must be real numbers"):
        read_mesh(tmp_path / "c.npy")
    with pytest.raises(ValueError, match=r"s\.npy: non-numeric values \(dtype <U1\)"):
        load_point_cloud(tmp_path / "s.npy", 4)
