"""Plumbing shared by ``geomgen conformers`` (:mod:`.generate`) and ``geomgen reference``
(:mod:`.reference`): the usage-error exit, the exit status of an interrupted run, and standard
output as the SD stream. Standard library and :mod:`geomgen.signals` only: the conformer generation
path must not import reference-sampling code or Lightning (``tests/test_import_rules.py``)."""

from __future__ import annotations

import sys

from geomgen import signals

#: exit status of a usage error (a bad option, input or output path; said in one line before any work)
EXIT_USAGE = 2


def usage_error(prog: str, why: str) -> int:
    """Say ``PROG: WHY`` on standard error; returns :data:`EXIT_USAGE`."""
    print(f"{prog}: {why}", file=sys.stderr)
    return EXIT_USAGE


def interrupted_status(exc: BaseException) -> int:
    """Exit status of a run ended by ``exc``: 143 for SIGTERM (:class:`geomgen.signals.Terminated`), else 130 (Ctrl-C)."""
    return 143 if isinstance(exc, signals.Terminated) else 130


def stdout_closed() -> bool:
    """Whether standard output cannot take the SD stream of ``-o -`` (missing, closed, or a bad file descriptor)."""
    import io
    import os

    if sys.stdout is None or sys.stdout.closed:
        return True
    try:
        os.fstat(sys.stdout.fileno())
    except io.UnsupportedOperation:  # an in-memory stream (a test's capture)
        return False
    except (OSError, ValueError):
        return True
    return False


def quiet_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush of what a failed
    write left in its buffer adds no second message."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
