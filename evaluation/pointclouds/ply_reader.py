"""Hand-written PLY/OFF reader of geomgen.pointclouds.io against plyfile, meshio and trimesh:
correctness on generated files, messages on malformed files, read time of a 1,000,000-point
binary PLY and a 200,000-point ASCII PLY (median of 5). Prints a Markdown report (``-o FILE`` also writes it).

    python -m evaluation.pointclouds.ply_reader [-o evaluation/pointclouds/ply_reader.md]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import io
import platform
import statistics
import sys
import tempfile
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np

from geomgen.pointclouds.io import read_mesh

# ---------------------------------------------------------------------------------- readers


def _fan(polys) -> np.ndarray | None:
    tris = [(p[0], p[i], p[i + 1]) for p in polys for i in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3) if tris else None


def read_handwritten(path: Path):
    return read_mesh(path)


def read_handwritten_raw(path: Path):
    """The PLY parser alone, without read_mesh's checks (for the timing)."""
    from geomgen.pointclouds.io import _read_ply

    return _read_ply(path)


def read_plyfile(path: Path):
    if path.suffix != ".ply":
        raise NotImplementedError("plyfile reads PLY only")
    from plyfile import PlyData

    data = PlyData.read(str(path))
    v = data["vertex"]
    verts = np.stack([np.asarray(v[c], dtype=np.float64) for c in "xyz"], axis=1)
    faces = None
    names = [e.name for e in data.elements]
    if "face" in names:
        f = data["face"]
        key = "vertex_indices" if "vertex_indices" in f.data.dtype.names else "vertex_index"
        faces = _fan([list(map(int, p)) for p in f[key]])
    return verts, faces


def read_meshio(path: Path):
    import meshio

    m = meshio.read(str(path))
    polys = [list(map(int, c)) for block in m.cells for c in block.data]
    return np.asarray(m.points, dtype=np.float64)[:, :3], _fan(polys)


def read_trimesh(path: Path):
    import trimesh

    m = trimesh.load(str(path), process=False)
    faces = getattr(m, "faces", None)
    faces = np.asarray(faces, dtype=np.int64) if faces is not None and len(faces) else None
    return np.asarray(m.vertices, dtype=np.float64), faces


READERS = {"hand-written": read_handwritten, "plyfile": read_plyfile, "meshio": read_meshio, "trimesh": read_trimesh}

# ------------------------------------------------------------------------------- test files

RNG = np.random.default_rng(0)
V = RNG.random((7, 3)).astype(np.float32)
QUAD_FACES = [[0, 1, 2], [2, 3, 4, 5], [1, 5, 6]]  # a triangle, a quad, a triangle
TRIS = _fan(QUAD_FACES)


def _plyfile_write(path: Path, text: bool, byte_order: str, extra: bool, faces: bool, comments=()):
    from plyfile import PlyData, PlyElement

    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if extra:
        fields += [("nx", "f4"), ("ny", "f4"), ("nz", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vert = np.zeros(len(V), dtype=fields)
    vert["x"], vert["y"], vert["z"] = V.T
    if extra:
        vert["nx"] = 1.0
        vert["red"] = 200
    els = [PlyElement.describe(vert, "vertex")]
    if faces:
        fa = np.empty(len(QUAD_FACES), dtype=[("vertex_indices", "O"), ("red", "u1")])
        fa["vertex_indices"] = [np.asarray(p, dtype=np.int32) for p in QUAD_FACES]
        fa["red"] = 7
        els.append(PlyElement.describe(fa, "face", val_types={"vertex_indices": "i4"}, len_types={"vertex_indices": "u1"}))
    PlyData(els, text=text, byte_order=byte_order, comments=list(comments)).write(str(path))


def _off_text(header_inline: bool, faces: bool, comments: bool) -> str:
    nf = len(QUAD_FACES) if faces else 0
    lines = [f"OFF{len(V)} {nf} 0"] if header_inline else ["OFF", *(["# made by hand"] if comments else []), f"{len(V)} {nf} 0"]
    lines += [" ".join(f"{c:.9g}" for c in v) + ("  # a vertex" if comments else "") for v in V]
    if faces:
        lines += [f"{len(p)} " + " ".join(map(str, p)) for p in QUAD_FACES]
    return "\n".join(lines) + "\n"


def make_cases(d: Path) -> list[tuple[str, Path, bool]]:
    """(name, file, has_faces)."""
    cases = []

    def add(name, fname, has_faces):
        cases.append((name, d / fname, has_faces))

    _plyfile_write(d / "a.ply", text=True, byte_order="=", extra=False, faces=False)
    add("PLY ascii, x/y/z only (plyfile writer)", "a.ply", False)
    _plyfile_write(d / "le.ply", text=False, byte_order="<", extra=False, faces=False)
    add("PLY binary little-endian (plyfile writer)", "le.ply", False)
    _plyfile_write(d / "be.ply", text=False, byte_order=">", extra=False, faces=False)
    add("PLY binary big-endian (plyfile writer)", "be.ply", False)
    _plyfile_write(d / "lef.ply", text=False, byte_order="<", extra=True, faces=True, comments=["a comment"])
    add("PLY binary LE, normals+colors, tri+quad faces with a face colour, comment", "lef.ply", True)
    _plyfile_write(d / "bef.ply", text=False, byte_order=">", extra=True, faces=True)
    add("PLY binary BE, normals+colors, tri+quad faces with a face colour", "bef.ply", True)
    _plyfile_write(d / "af.ply", text=True, byte_order="=", extra=True, faces=True, comments=["c1", "c2"])
    add("PLY ascii, normals+colors, tri+quad faces, comments", "af.ply", True)
    # by hand: obj_info, properties in another order, 'vertex_index', double precision, CRLF-free
    head = ["ply", "format ascii 1.0", "comment by hand", "obj_info test", f"element vertex {len(V)}",
            "property double z", "property uchar red", "property double x", "property double y",
            f"element face {len(QUAD_FACES)}", "property list uchar int vertex_index", "end_header"]  # fmt: skip
    body = [f"{v[2]:.9g} 5 {v[0]:.9g} {v[1]:.9g}" for v in V] + [f"{len(p)} " + " ".join(map(str, p)) for p in QUAD_FACES]
    (d / "hand.ply").write_text("\n".join(head + body) + "\n")
    add("PLY ascii by hand: obj_info, z/red/x/y order, double, 'vertex_index'", "hand.ply", True)
    (d / "f.off").write_text(_off_text(False, True, False))
    add("OFF with tri+quad faces", "f.off", True)
    (d / "p.off").write_text(_off_text(False, False, False))
    add("OFF without faces (0 faces)", "p.off", False)
    (d / "c.off").write_text(_off_text(False, True, True))
    add("OFF with comment lines and trailing comments", "c.off", True)
    (d / "i.off").write_text(_off_text(True, True, False))
    add("OFF with counts on the header line ('OFF7 3 0', ModelNet40)", "i.off", True)
    return cases


def make_malformed(d: Path) -> list[tuple[str, Path]]:
    out = []
    _plyfile_write(d / "m_ok.ply", text=False, byte_order="<", extra=False, faces=True)
    raw = (d / "m_ok.ply").read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    (d / "m_trunc_v.ply").write_bytes(raw[: end + 12 * 3 + 5])
    out.append(("binary PLY cut inside the vertices", d / "m_trunc_v.ply"))
    (d / "m_trunc_f.ply").write_bytes(raw[:-6])
    out.append(("binary PLY cut inside the faces", d / "m_trunc_f.ply"))
    _plyfile_write(d / "m_a.ply", text=True, byte_order="=", extra=False, faces=False)
    lines = (d / "m_a.ply").read_text().splitlines()
    (d / "m_trunc_a.ply").write_text("\n".join(lines[:-3]) + "\n")
    out.append(("ASCII PLY missing 3 vertex rows", d / "m_trunc_a.ply"))
    (d / "m_noxyz.ply").write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float a\nproperty float b\n"
                                   "property float c\nend_header\n1 2 3\n4 5 6\n")  # fmt: skip
    out.append(("PLY vertex without x/y/z (a/b/c)", d / "m_noxyz.ply"))
    (d / "m_noz.ply").write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                                 "end_header\n1 2\n4 5\n")  # fmt: skip
    out.append(("PLY vertex with x/y only", d / "m_noz.ply"))
    (d / "m_magic.ply").write_text("nope\n")
    out.append(("not a PLY file", d / "m_magic.ply"))
    (d / "m_off.off").write_text("OFF\n4 1 0\n0 0 0\n1 0 0\n")
    out.append(("OFF cut short (2 of 4 vertices, no face)", d / "m_off.off"))
    return out


# --------------------------------------------------------------------------------- measures


def _quiet(fn, path):
    with warnings.catch_warnings(), redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(path)


def check(fn, path: Path, has_faces: bool, expect_v: np.ndarray) -> str:
    try:
        v, f = _quiet(fn, path)
    except NotImplementedError:
        return "n/a"
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported in the table (meshio calls sys.exit)
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:60] if str(exc) else ''}"
    if v.shape != expect_v.shape or not np.allclose(v, expect_v, atol=1e-6):
        return f"wrong vertices {v.shape}"
    if has_faces:
        if f is None or not np.array_equal(np.sort(np.sort(f, 1), 0), np.sort(np.sort(TRIS, 1), 0)):
            return f"wrong faces ({None if f is None else f.shape})"
    elif f is not None and len(f):
        return "spurious faces"
    return "ok"


def malformed(fn, path: Path) -> str:
    try:
        v, _ = _quiet(fn, path)
    except NotImplementedError:
        return "n/a"
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        msg = str(exc).splitlines()[0] if str(exc) else ""
        msg = msg.replace(str(path.parent) + "/", "")
        return f"{type(exc).__name__}: {msg[:90]}".replace("|", "/")
    return f"**no error**: returned {np.asarray(v).shape}"


def speed(d: Path, n: int, text: bool, repeats: int = 5) -> tuple[dict, Path]:
    from plyfile import PlyData, PlyElement

    pts = np.random.default_rng(1).random((n, 3)).astype(np.float32)
    vert = np.zeros(n, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    vert["x"], vert["y"], vert["z"] = pts.T
    path = d / f"big_{'ascii' if text else 'binary'}.ply"
    PlyData([PlyElement.describe(vert, "vertex")], text=text, byte_order="<").write(str(path))
    out = {}
    readers = dict(READERS)
    readers["hand-written, parser only (_read_ply)"] = read_handwritten_raw
    for name, fn in readers.items():
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            v, _ = _quiet(fn, path)
            times.append(time.perf_counter() - t)
        assert np.allclose(v, pts, atol=1e-5), name
        out[name] = statistics.median(times)
    return out, path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", help="also write the Markdown report here")
    ap.add_argument("-n", type=int, default=1_000_000, help="points in the timed binary PLY")
    ap.add_argument("--n-ascii", type=int, default=200_000, help="points in the timed ASCII PLY")
    args = ap.parse_args(argv)
    lines = []
    vers = ", ".join(f"{p} {md.version(p)}" for p in ("numpy", "plyfile", "meshio", "trimesh"))
    lines += ["# PLY/OFF reader: hand-written vs plyfile / meshio / trimesh", "",
              f"`python -m evaluation.pointclouds.ply_reader -o evaluation/pointclouds/ply_reader.md`; "
              f"Python {platform.python_version()}, {vers}.", ""]  # fmt: skip
    names = list(READERS)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        lines += ["## Correctness (vertices to 1e-6, faces fan-triangulated, as sets)", "",
                  "| file | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]  # fmt: skip
        for label, path, has_faces in make_cases(d):
            res = [check(READERS[r], path, has_faces, V.astype(np.float64)) for r in names]
            lines.append(f"| {label} | " + " | ".join(res) + " |")
        lines += ["", "## Malformed files (exception and first line of its message)", "",
                  "| file | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]  # fmt: skip
        for label, path in make_malformed(d):
            lines.append(f"| {label} | " + " | ".join(malformed(READERS[r], path) for r in names) + " |")
        for text, n in ((False, args.n), (True, args.n_ascii)):
            t, big = speed(d, n, text)
            kind = "ASCII" if text else "binary little-endian"
            lines += ["", f"## Read time, {n:,}-point {kind} PLY (x/y/z float32, "
                      f"{big.stat().st_size / 1e6:.0f} MB), median of 5", "",
                      "| reader | seconds |", "|---|---|"]  # fmt: skip
            lines += [f"| {r} | {t[r]:.4f} |" for r in t]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
