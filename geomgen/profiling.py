"""Where a real run's time goes: exclusive wall time of named stages, measured by wrapping the
functions that make up each stage while a block of ordinary code runs::

    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers import embedding

    with StageClock({"MMFF94": [(MMFF, "optimize_conformers")],
                     "ETKDGv3 seed": [(embedding, "embed_seed")]}) as clock:
        generator.generate_many(items, n=10)
    clock.totals   # {"MMFF94": seconds, "ETKDGv3 seed": seconds, "other": seconds}

A benchmark that re-implements a pipeline step by step to time it drifts from the pipeline
(it timed a path without the default's MMFF94 step); this times the pipeline itself.

Time is *exclusive*: a stage's function called from inside another stage's function counts for
the inner stage only (``embed_seed`` calling ``optimize_conformers`` charges the minimisation
to MMFF94), and the block's time outside every stage is ``"other"``. A generator function's
time is the time spent producing its items, whoever iterates it (``send`` and ``throw`` are not
passed on). The wrappers are removed when the block ends, also on error. Single-threaded code
only (one stack of open stages).
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from types import ModuleType


class StageClock:
    """Context manager: ``totals`` (seconds per stage name, plus ``"other"``) and ``calls``
    (calls per stage name) of the code run inside it.

    Args:
        stages: ``{name: [(owner, attribute), ...]}``; ``owner`` a module or a class, the
            attribute a function, method, staticmethod or classmethod of it. A module-level
            function is also replaced wherever a loaded module of the same top-level package
            bound it by ``from ... import`` (``rebind=False``: only on its owner).
        rebind (bool): see ``stages``.

    Raises:
        AttributeError: an owner lacks the attribute (checked on entry, before anything is wrapped).
        ValueError: the same function listed twice.
    """

    def __init__(self, stages: dict[str, list[tuple[object, str]]], rebind: bool = True):
        self.stages = {name: list(targets) for name, targets in stages.items()}
        self.rebind = rebind
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[float]] = []  # per open stage: [start, time of its open children]
        self._undo: list[tuple[object, str, object]] = []
        seen = {}
        for name, targets in self.stages.items():
            for owner, attr in targets:
                if not hasattr(owner, attr):
                    raise AttributeError(f"stage {name!r}: {getattr(owner, '__name__', owner)!r} has no attribute {attr!r}")
                key = (id(owner), attr)
                if key in seen:  # wrapped twice, its calls would count twice
                    raise ValueError(f"{getattr(owner, '__name__', owner)}.{attr} is listed under {seen[key]!r} and {name!r}")
                seen[key] = name

    def _open(self) -> None:
        self._stack.append([time.perf_counter(), 0.0])

    def _close(self, name: str) -> None:
        start, inner = self._stack.pop()
        spent = time.perf_counter() - start
        self.totals[name] = self.totals.get(name, 0.0) + spent - inner
        if self._stack:
            self._stack[-1][1] += spent

    def _wrap(self, func, name: str):
        if inspect.isgeneratorfunction(func):  # the time is spent while it is iterated, not when called
            @functools.wraps(func)
            def timed_generator(*args, **kwargs):
                self.calls[name] = self.calls.get(name, 0) + 1
                items = func(*args, **kwargs)
                while True:
                    self._open()
                    try:
                        item = next(items)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        self._close(name)
                    yield item

            return timed_generator

        @functools.wraps(func)
        def timed(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            self._open()
            try:
                return func(*args, **kwargs)
            finally:
                self._close(name)

        return timed

    def _set(self, owner, attr: str, value) -> None:
        self._undo.append((owner, attr, inspect.getattr_static(owner, attr)))
        setattr(owner, attr, value)

    def __enter__(self) -> StageClock:
        self.totals, self.calls = {}, {}
        self._t0 = time.perf_counter()
        try:
            for name, targets in self.stages.items():
                for owner, attr in targets:
                    raw = inspect.getattr_static(owner, attr)
                    if isinstance(raw, staticmethod):
                        self._set(owner, attr, staticmethod(self._wrap(raw.__func__, name)))
                    elif isinstance(raw, classmethod):
                        self._set(owner, attr, classmethod(self._wrap(raw.__func__, name)))
                    else:
                        wrapped = self._wrap(raw, name)
                        self._set(owner, attr, wrapped)
                        if self.rebind and isinstance(owner, ModuleType):
                            top = owner.__name__.split(".")[0]
                            for mod in list(sys.modules.values()):
                                if (isinstance(mod, ModuleType) and mod is not owner and mod.__name__.split(".")[0] == top
                                        and getattr(mod, attr, None) is raw):
                                    self._set(mod, attr, wrapped)
        except BaseException:
            self._restore()
            raise
        return self

    def _restore(self) -> None:
        while self._undo:
            owner, attr, value = self._undo.pop()
            setattr(owner, attr, value)

    def __exit__(self, *exc) -> None:
        self._restore()
        self.totals["other"] = max(time.perf_counter() - self._t0 - sum(self.totals.values()), 0.0)
