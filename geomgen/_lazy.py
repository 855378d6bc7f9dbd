"""Lazy re-exports for package ``__init__`` files (as PyG and e3nn do).

A package lists its public names and the submodule each lives in; a name's submodule is
imported the first time the name is looked up, so importing a package costs nothing and
importing one capability loads no other::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {"VonMisesMixture": ".von_mises"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """Module ``__getattr__`` and ``__dir__`` re-exporting ``names`` (public name -> submodule,
    relative to ``package`` when it starts with a dot), and the matching ``__all__``."""

    def __getattr__(name: str):
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), name)
        importlib.import_module(package).__dict__[name] = value  # cache: later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(names))

    return __getattr__, __dir__, list(names)
