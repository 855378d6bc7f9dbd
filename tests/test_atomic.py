"""geomgen.atomic: known answers and properties of the one atomic-write helper.

Every writer is exercised through the same three entry points (``atomic_write`` with a
callback, ``atomic_open`` as a context manager, ``atomic_write_text``) so a property stated once
holds for all of them.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from geomgen.atomic import atomic_open, atomic_write, atomic_write_text

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


# --- the three ways to write bytes, as one interface --------------------------------------------


def _via_write(path, data: bytes, fail: BaseException | None = None):
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data[: len(data) // 2])
            if fail is not None:
                raise fail
            f.write(data[len(data) // 2 :])

    return atomic_write(path, write)


def _via_open(path, data: bytes, fail: BaseException | None = None):
    with atomic_open(path, "wb") as f:
        f.write(data[: len(data) // 2])
        if fail is not None:
            raise fail
        f.write(data[len(data) // 2 :])
    return Path(path)


def _via_text(path, data: bytes, fail: BaseException | None = None):
    text = data.decode("utf-8")
    if fail is None:
        return atomic_write_text(path, text)
    real = Path.write_text

    def half_then_fail(self, content, *args, **kwargs):  # atomic_write_text takes no callback
        real(self, content[: len(content) // 2], *args, **kwargs)
        raise fail

    with mock.patch.object(Path, "write_text", half_then_fail):
        return atomic_write_text(path, text)


WRITERS = {"atomic_write": _via_write, "atomic_open": _via_open, "atomic_write_text": _via_text}


@pytest.fixture(params=list(WRITERS), ids=list(WRITERS))
def writer(request):
    return WRITERS[request.param]


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- known answers -----------------------------------------------------------------------------


def test_content_written(tmp_path, writer):
    path = tmp_path / "out.txt"
    assert writer(path, b"hello\nworld\n") == path
    assert path.read_bytes() == b"hello\nworld\n"
    assert _listing(tmp_path) == ["out.txt"]


def test_atomic_write_text_is_utf8(tmp_path):
    path = tmp_path / "t.md"
    text = "Å, κ = 10, θ ∈ [-π, π)\n"
    atomic_write_text(str(path), text)  # str paths work too
    assert path.read_bytes() == text.encode("utf-8")


def test_atomic_open_text_mode_passes_kwargs(tmp_path):
    path = tmp_path / "t.csv"
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        f.write("a,b\r\n1,é\r\n")
    assert path.read_bytes() == "a,b\r\n1,é\r\n".encode()


def test_existing_file_is_replaced(tmp_path, writer):
    path = tmp_path / "out.txt"
    path.write_bytes(b"old content that is longer than the new one")
    writer(path, b"new")
    assert path.read_bytes() == b"new"
    assert _listing(tmp_path) == ["out.txt"]


def test_parent_folders_are_created(tmp_path, writer):
    path = tmp_path / "a" / "b" / "c" / "out.txt"
    writer(path, b"x")
    assert path.read_bytes() == b"x"


def test_temporary_file_is_hidden_beside_the_target_with_its_suffix(tmp_path):
    """Writers that choose a format by suffix (savefig, np.savetxt) see the target's suffix; the old
    file is still whole while the new one is written."""
    path = tmp_path / "fig.png"
    path.write_bytes(b"old")
    seen = {}

    def write(tmp: str) -> None:
        t = Path(tmp)
        seen.update(parent=t.parent, suffix=t.suffix, name=t.name, size=t.stat().st_size, target=path.read_bytes())
        t.write_bytes(b"new")

    atomic_write(path, write)
    assert seen == dict(parent=tmp_path, suffix=".png", name=seen["name"], size=0, target=b"old")
    assert seen["name"].startswith(".") and seen["name"] != path.name
    assert path.read_bytes() == b"new"


def test_long_file_name(tmp_path):
    """The temporary name stays within the file-system limit when the target's name is at it."""
    path = tmp_path / ("n" * 251 + ".txt")
    atomic_write_text(path, "ok")
    assert path.read_text() == "ok"
    assert _listing(tmp_path) == [path.name]


# --- failures leave the old file untouched and no temporary file ------------------------------


@pytest.mark.parametrize("fail", [ValueError("boom"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
@pytest.mark.parametrize("existing", [True, False], ids=["old-file", "no-file"])
def test_interrupted_write_changes_nothing(tmp_path, writer, fail, existing):
    path = tmp_path / "out.txt"
    if existing:
        path.write_bytes(b"old")
    before = _listing(tmp_path)
    with pytest.raises(type(fail)) as info:
        writer(path, b"new content", fail=fail)
    assert info.value is fail  # the original exception, not one from the clean-up
    assert _listing(tmp_path) == before
    if existing:
        assert path.read_bytes() == b"old"
    else:
        assert not path.exists()


def test_unencodable_text_leaves_the_old_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "new \ud800")  # a lone surrogate has no UTF-8 encoding
    assert path.read_text() == "old" and _listing(tmp_path) == ["t.txt"]


def test_failed_open_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(LookupError):
        with atomic_open(path, "w", encoding="no-such-codec"):
            pass
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("name", ["folder", "folder.txt"])
def test_existing_folder_raises_naming_it(tmp_path, writer, name):
    path = tmp_path / name
    (path / "inside").mkdir(parents=True)
    with pytest.raises(IsADirectoryError) as info:
        writer(path, b"x")
    assert str(path) in str(info.value)
    assert info.value.filename == str(path)
    assert _listing(tmp_path) == [name] and _listing(path) == ["inside"]


@pytest.mark.parametrize("mode", ["r", "rb", "a", "ab", "x", "w+", "wb+", "r+", "wt", ""])
def test_atomic_open_rejects_other_modes(tmp_path, mode):
    path = tmp_path / "sub" / "out.txt"
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'") as info:
        with atomic_open(path, mode):
            pass
    assert repr(mode) in str(info.value)
    assert not (tmp_path / "sub").exists()  # rejected before anything is created


# --- permissions ---------------------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027, 0o077, 0o000, 0o277])
@pytest.mark.parametrize("old_mode", [None, 0o600, 0o755])
def test_permissions_follow_the_umask(tmp_path, writer, umask, old_mode):
    """``0o666 & ~umask``, like ``open(path, "w")`` on a new file, whatever the replaced file had."""
    path = tmp_path / "out.txt"
    if old_mode is not None:
        path.write_bytes(b"old")
        path.chmod(old_mode)
    previous = os.umask(umask)
    try:
        writer(path, b"x")
        assert os.umask(umask) == umask  # the helper leaves the process umask as it was
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@posix_only
def test_process_umask_is_never_changed(tmp_path, writer, monkeypatch):
    """The umask is process-wide: setting it, even briefly, races with files other threads create."""

    def forbidden(mask):
        raise AssertionError("atomic writes must not call os.umask")

    monkeypatch.setattr(os, "umask", forbidden)
    writer(tmp_path / "out.txt", b"x")


# --- properties ----------------------------------------------------------------------------------


def _payloads(seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    sizes = [0, 1, 2, 7, 4095, 4096, 4097, 65537, 1 << 20] + list(rng.integers(0, 10_000, size=6))
    return [rng.integers(0, 256, size=int(n), dtype=np.uint8).tobytes() for n in sizes]


@pytest.mark.parametrize("writer_name", ["atomic_write", "atomic_open"])
def test_round_trip_random_bytes(tmp_path, writer_name):
    """Any byte string, including empty and page-boundary sizes, reads back exactly."""
    write = WRITERS[writer_name]
    for i, data in enumerate(_payloads()):
        path = tmp_path / f"{i}.bin"
        write(path, data)
        assert path.read_bytes() == data, len(data)


def test_round_trip_random_text(tmp_path):
    rng = np.random.default_rng(1)
    alphabet = list("abc xyz\n\t,;") + ["é", "π", "∈", "Å", "😀", "\u2028"]
    for i in range(20):
        text = "".join(rng.choice(alphabet, size=int(rng.integers(0, 3000))))
        path = tmp_path / f"{i}.txt"
        atomic_write_text(path, text)
        assert path.read_bytes() == text.encode("utf-8")


def test_overwrites_keep_the_last_and_leave_one_file(tmp_path, writer):
    """A sequence of writes, some interrupted: the file always holds the last successful write."""
    rng = np.random.default_rng(2)
    path = tmp_path / "out.dat"
    last = None
    for step in range(25):
        data = f"step {step}: {rng.integers(0, 10**9)}\n".encode() * int(rng.integers(1, 50))
        if rng.random() < 0.3:
            with pytest.raises(RuntimeError):
                writer(path, data, fail=RuntimeError(step))
        else:
            writer(path, data)
            last = data
        if last is None:
            assert not path.exists()
        else:
            assert path.read_bytes() == last
        assert _listing(tmp_path) == ([path.name] if last is not None else [])


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    """Threads replacing the same file: each read sees one writer's whole content, never a mix."""
    path = tmp_path / "shared.txt"
    payloads = [(f"writer {k} " * 5000).encode() for k in range(8)]
    path.write_bytes(payloads[0])
    errors, reads = [], []

    def work(k: int) -> None:
        try:
            for _ in range(10):
                _via_write(path, payloads[k])
                reads.append(path.read_bytes())
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(r in payloads for r in reads) and path.read_bytes() in payloads
    assert _listing(tmp_path) == ["shared.txt"]
