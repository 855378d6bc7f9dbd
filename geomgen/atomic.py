"""Atomic file writes, shared by every capability: a reader sees the old file or the new one,
never a half-written one, and an interrupted write (an error, Ctrl-C, a kill) leaves no
temporary file behind.

* :func:`atomic_write` -- call ``write(tmp_path)``, then rename the temporary file into place.
* :func:`atomic_open` -- the same as a context manager yielding an open file.
* :func:`atomic_write_text` -- write a string.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _temp_beside(path: Path) -> str:
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    return tmp


def _commit(tmp: str, path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
    os.replace(tmp, path)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then ``os.replace`` it into place.

    The parent folder is created. The file gets the usual permissions (``0o666`` less the umask).

    Raises:
        IsADirectoryError: ``path`` is an existing folder.
        whatever ``write`` raises (the temporary file is removed first).
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        write(tmp)
        _commit(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """``with atomic_open(path, "w", newline="") as f: ...``: the file appears when the block ends
    without an error; on an error (or Ctrl-C) the old file, if any, is untouched.

    Args:
        mode (str): ``"w"`` (text, default) or ``"wb"``; ``kwargs`` go to :func:`open`.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
        _commit(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    return atomic_write(path, write)
