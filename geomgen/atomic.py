"""Atomic file writes, shared by every capability: a reader sees the old file or the new one,
never a half-written one, and an interrupted write (an error, Ctrl-C, a kill) leaves no
temporary file behind.

* :func:`atomic_write` -- call ``write(tmp_path)``, then rename the temporary file into place.
* :func:`atomic_open` -- the same as a context manager yielding an open file.
* :func:`atomic_write_text` -- write a string.

The temporary file ``.<name>.<random>.tmp<suffix>`` lies beside the target (same folder, so the
rename is atomic; same suffix, so writers that pick a format by suffix still do). It is created
with mode ``0o666`` and the kernel applies the umask, so the result has the permissions of a
plain ``open(path, "w")`` without ever changing the process umask (which would race with other
threads). Its data is flushed to disk before the rename, and the folder entry after it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

#: longest part of the target's name kept in the temporary name (file names are limited to 255 bytes)
_NAME_KEEP = 100


def _temp_beside(path: Path) -> str:
    """Create an empty temporary file beside ``path`` (the folder is created) and return its name."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.stem[:_NAME_KEEP]}.{secrets.token_hex(4)}.tmp{path.suffix[:_NAME_KEEP]}")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies: 0o666 & ~umask
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def _fsync(path: str | Path, folder: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:  # some platforms cannot open a folder; its entry is then the OS's business
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def _commit(tmp: str, path: Path) -> None:
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent, folder=True)


def fsync_and_replace(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Flush ``tmp`` to disk, rename it onto ``path`` and flush the folder entry (a file written
    elsewhere, e.g. a resumable partial file, put in place the way :func:`atomic_write` does)."""
    _commit(str(tmp), Path(path))


def _discard(tmp: str) -> None:
    # never let a failed clean-up hide the exception that caused it
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then ``os.replace`` it into place.

    The parent folder is created. The file gets the usual permissions (``0o666`` less the umask).

    Args:
        path (str or PathLike): the file to (re)place.
        write (callable): writes the whole content to the path it is given (a ``str``); the file
            exists and is empty when it is called.

    Returns:
        Path: ``path``.

    Raises:
        IsADirectoryError: ``path`` is an existing folder (the error's ``filename`` is ``path``).
        whatever ``write`` raises (the temporary file is removed first, the old file is untouched).
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        write(tmp)
        _commit(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """``with atomic_open(path, "w", newline="") as f: ...``: the file appears when the block ends
    without an error; on an error (or Ctrl-C) the old file, if any, is untouched.

    Args:
        path (str or PathLike): the file to (re)place; its parent folder is created.
        mode (str): ``"w"`` (text, default) or ``"wb"``; ``kwargs`` go to :func:`open`.

    Raises:
        ValueError: any other ``mode`` (checked before anything is created).
        IsADirectoryError: ``path`` is an existing folder.
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
        _discard(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def output_problem(path: str | os.PathLike, suffixes: tuple[str, ...], probe: bool = False) -> str | None:
    """Why ``path`` cannot be written as an output file with one of ``suffixes``, or ``None``.

    Checks, before any work is done: not a folder, a known suffix, no parent that is a file;
    with ``probe``, that a temporary file can be created beside it (it is removed again).

    Returns:
        one line naming ``path`` and the reason, or ``None`` when it can be written.
    """
    p = Path(path)
    if p.is_dir():
        return f"{str(path)!r}: is a folder; give a file name ending in {' or '.join(suffixes)}"
    if p.suffix.lower() not in suffixes:
        return f"{str(path)!r}: unknown output type {p.suffix!r} (use {' or '.join(suffixes)})"
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{str(path)!r}: {str(parent)!r} is a file, not a folder"
            break
    if probe:
        try:
            os.unlink(_temp_beside(p))
        except OSError as exc:
            return f"{str(path)!r}: cannot write here ({exc.strerror or exc})"
    return None
