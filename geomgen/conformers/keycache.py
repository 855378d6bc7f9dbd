"""A disk cache of small arrays by string key, shared by the fragment libraries
(:mod:`~geomgen.conformers.ringlib`, :mod:`~geomgen.conformers.statelib`).

One ``.npz`` file per key, named by the key's SHA-256 and written atomically
(:func:`geomgen.atomic.atomic_write`), so concurrent processes never read a partial file; what a
library builds is deterministic, so two processes writing one key write the same content. A file
that cannot be read, or that another version (or another key) wrote, is reported with a
:class:`RuntimeWarning` and treated as missing, so the caller rebuilds and rewrites it; a folder
that cannot be written is reported once and the caller keeps its results in memory.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np


class KeyCache:
    """Arrays by key in ``folder`` (``None``: no disk cache).

    Args:
        folder: the cache folder, or ``None``.
        version (int): files written by another version are stale.
        what (str): the library's name in warnings (e.g. ``"ring library"``).
        env (str): the environment variable that sets the folder (named in the warning about an
            unwritable folder).
    """

    def __init__(self, folder, version: int, what: str, env: str):
        self.folder = None if folder is None else Path(folder)
        self.version = int(version)
        self.what = what
        self.env = env
        self._warned_unwritable = False

    def path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest[2:40]}.npz"

    def read(self, key: str, check=None) -> dict | None:
        """The arrays stored for ``key`` (``None``: no folder, no file, or a file that is
        unreadable, stale or fails ``check(arrays) -> bool``, each of the last three with a warning)."""
        if self.folder is None:
            return None
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: np.array(z[name]) for name in z.files}
            version, stored = int(arrays.pop("version")), str(arrays.pop("key"))
        except Exception as exc:  # noqa: BLE001 -- any unreadable file is rebuilt
            warnings.warn(f"{self.what} cache file {path} is unreadable ({type(exc).__name__}: {exc}); rebuilding it",
                          RuntimeWarning, stacklevel=3)
            return None
        why = (f"version {version}, not {self.version}" if version != self.version else
               "another key" if stored != key else
               "inconsistent arrays" if check is not None and not check(arrays) else None)
        if why is not None:
            warnings.warn(f"{self.what} cache file {path} is stale ({why}); rebuilding it", RuntimeWarning, stacklevel=3)
            return None
        return arrays

    def write(self, key: str, arrays: dict) -> None:
        """Store ``arrays`` for ``key`` atomically (a folder that cannot be written: one warning)."""
        if self.folder is None:
            return
        from geomgen.atomic import atomic_write

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, version=np.array(self.version), key=np.array(key), **arrays)

        try:
            atomic_write(self.path(key), write)
        except OSError as exc:
            if not self._warned_unwritable:
                warnings.warn(f"{self.what} cache folder {self.folder} is not writable ({exc}); "
                              f"keeping results in memory only (set {self.env})", RuntimeWarning, stacklevel=3)
                self._warned_unwritable = True


def read_shipped(relative: str, version: int, what: str) -> dict | None:
    """The arrays of a library file shipped with the package (``relative`` to the asset roots of
    :func:`geomgen.assets.asset_path`), without its ``version``; ``None`` when the file is absent,
    or written by another version (with a :class:`RuntimeWarning` naming ``what``)."""
    from geomgen.assets import asset_path

    try:
        path = asset_path(relative)
    except FileNotFoundError:
        return None
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: np.array(z[name]) for name in z.files}
    stored = int(arrays.pop("version"))
    if stored != version:
        warnings.warn(f"shipped {what} {path} is of version {stored}, not {version}: ignored", RuntimeWarning, stacklevel=3)
        return None
    return arrays
