"""Locate files shipped in the top-level ``data/`` and ``models/`` folders.

An editable install (or a source checkout) reads them from the repository; a regular
(wheel) install gets them as ``data_files`` under ``<prefix>/share/geomgen/`` (see
``[options.data_files]`` in setup.cfg). :func:`asset_path` looks in both places.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _roots() -> list[Path]:
    roots = [_REPO_ROOT]
    for prefix in {sys.prefix, sysconfig.get_paths().get("data", sys.prefix)}:
        roots.append(Path(prefix) / "share" / "geomgen")
    return roots


def asset_path(relative: str) -> Path:
    """Absolute path of a shipped asset, e.g. ``asset_path("models/vonmisesnet.ckpt")``.

    Raises:
        FileNotFoundError: naming every place that was searched.
    """
    tried = []
    for root in _roots():
        p = root / relative
        if p.exists():
            return p
        tried.append(str(p))
    raise FileNotFoundError(f"shipped asset {relative!r} not found; looked in: {', '.join(tried)}")
