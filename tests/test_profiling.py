"""geomgen.profiling.StageClock: exclusive stage times on a fake clock (known answers), wrappers
removed afterwards, errors named."""

from __future__ import annotations

import sys
import types

import pytest

from geomgen import profiling
from geomgen.profiling import StageClock


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(profiling.time, "perf_counter", c)
    return c


@pytest.fixture
def pkg(clock, monkeypatch):
    """A package ``fakepkg`` with a module of stage functions and a second module that bound one
    of them by ``from ... import``."""
    mod = types.ModuleType("fakepkg.work")

    def inner(dt):
        clock.now += dt

    def outer(dt_before, dt_inner, dt_after):
        clock.now += dt_before
        mod.inner(dt_inner)
        clock.now += dt_after

    class Tool:
        @staticmethod
        def static(dt):
            clock.now += dt

        @classmethod
        def klass(cls, dt):
            clock.now += dt

        def method(self, dt):
            clock.now += dt
            mod.inner(dt)

    mod.inner, mod.outer, mod.Tool = inner, outer, Tool
    user = types.ModuleType("fakepkg.user")
    user.inner = inner  # as `from fakepkg.work import inner` would
    monkeypatch.setitem(sys.modules, "fakepkg.work", mod)
    monkeypatch.setitem(sys.modules, "fakepkg.user", user)
    return mod, user


def test_exclusive_times_known_answer(clock, pkg):
    mod, user = pkg
    stages = {"outer": [(mod, "outer")], "inner": [(mod, "inner")],
              "tool": [(mod.Tool, "static"), (mod.Tool, "klass"), (mod.Tool, "method")]}
    with StageClock(stages) as sc:
        clock.now += 1.0  # outside every stage
        mod.outer(2.0, 3.0, 4.0)  # outer 6, inner 3
        user.inner(0.5)  # the rebound name is timed too
        mod.Tool.static(0.25)
        mod.Tool.klass(0.125)
        mod.Tool().method(1.0)  # 1.0 to tool, 1.0 to inner
    assert sc.totals == pytest.approx({"outer": 6.0, "inner": 4.5, "tool": 1.375, "other": 1.0})
    assert sc.calls == {"outer": 1, "inner": 3, "tool": 3}
    assert sum(sc.totals.values()) == pytest.approx(clock.now)


def test_wrappers_removed_afterwards_even_on_error(clock, pkg):
    mod, user = pkg
    originals = (mod.inner, user.inner, mod.Tool.__dict__["static"], mod.Tool.__dict__["klass"])
    with pytest.raises(RuntimeError, match="boom"):
        with StageClock({"inner": [(mod, "inner")], "tool": [(mod.Tool, "static"), (mod.Tool, "klass")]}):
            assert mod.inner is not originals[0] and user.inner is not originals[1]
            raise RuntimeError("boom")
    assert (mod.inner, user.inner, mod.Tool.__dict__["static"], mod.Tool.__dict__["klass"]) == originals


def test_no_rebind_leaves_other_modules_alone(clock, pkg):
    mod, user = pkg
    with StageClock({"inner": [(mod, "inner")]}, rebind=False) as sc:
        user.inner(2.0)
        mod.inner(1.0)
    assert sc.totals["inner"] == pytest.approx(1.0) and sc.totals["other"] == pytest.approx(2.0)


def test_a_stage_function_that_raises_still_counts(clock, pkg):
    mod, _ = pkg

    def bad():
        clock.now += 2.0
        raise ValueError("bad input")

    mod.bad = bad
    with StageClock({"bad": [(mod, "bad")]}) as sc:
        with pytest.raises(ValueError):
            mod.bad()
    assert sc.totals["bad"] == pytest.approx(2.0) and sc.calls["bad"] == 1


def test_errors_name_the_problem(pkg):
    mod, _ = pkg
    with pytest.raises(AttributeError, match="'fakepkg.work' has no attribute 'missing'"):
        StageClock({"x": [(mod, "missing")]})
    with pytest.raises(ValueError, match="listed under 'a' and 'b'"):
        StageClock({"a": [(mod, "inner")], "b": [(mod, "inner")]})
    with pytest.raises(ValueError, match="listed under 'a' and 'a'"):
        StageClock({"a": [(mod, "inner"), (mod, "inner")]})


def test_a_generator_stage_counts_the_time_of_its_items(clock, pkg):
    mod, _ = pkg

    def records(k):
        for _ in range(k):
            clock.now += 0.5
            yield "record"
        clock.now += 0.25

    mod.records = records
    with StageClock({"records": [(mod, "records")]}) as sc:
        items = mod.records(3)
        clock.now += 1.0  # between the call and the iteration: not the generator's
        assert list(items) == ["record"] * 3
    assert sc.totals == pytest.approx({"records": 1.75, "other": 1.0})
    assert sc.calls == {"records": 1}
