"""Hold Ctrl-C (SIGINT) and SIGTERM while work runs, and act on them between work items.

A signal is delivered to any thread of the process that does not block it. Libraries start
threads at import time (OpenBLAS through numpy, torch's pools), and RDKit's ETKDG installs its
own SIGINT handler while it embeds ("Interrupted, cancelling conformer generation"): a Ctrl-C
that reaches one of those threads is swallowed, cancels an embedding (a wrong result), or, for
SIGTERM, kills the process with its finished work in a temporary file. So a command that holds
signals must block them in the main thread *before* anything starts a thread: a thread inherits
its creator's signal mask. :func:`hold` does that; the ``geomgen`` command line calls it before
it imports the subcommand's module.

* :func:`hold` -- block SIGINT and SIGTERM in this thread (and so in every thread started later).
* :func:`release` -- unblock them again, dropping what is still pending.
* :func:`check` -- raise ``KeyboardInterrupt`` for a held Ctrl-C, :class:`Terminated` for SIGTERM.
* :func:`held` -- :func:`hold` ... :func:`release` as a context manager.

Holding needs POSIX signal masks and ``sigtimedwait`` (Linux); elsewhere every function is a
no-op and Ctrl-C works as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Terminated", "CAN_HOLD", "hold", "release", "check", "held", "is_held"]

_NAMES = ("SIGINT", "SIGTERM")
#: holding signals needs POSIX signal masks and sigtimedwait (Linux; not macOS or Windows)
CAN_HOLD = all(hasattr(signal, f) for f in ("pthread_sigmask", "sigpending", "sigtimedwait"))


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (exit status 143 instead of 130)."""


def _signals() -> set:
    return {getattr(signal, name) for name in _NAMES}


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def is_held() -> bool:
    """Whether SIGINT and SIGTERM are blocked in this thread."""
    if not CAN_HOLD:
        return False
    return _signals() <= signal.pthread_sigmask(signal.SIG_BLOCK, set())


def hold() -> bool:
    """Block SIGINT and SIGTERM in this (main) thread; threads started from now on inherit the
    mask. Returns whether they are held (False off Linux or outside the main thread)."""
    if not CAN_HOLD or not _main_thread():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, _signals())
    return True


def _drain() -> set:
    sigs = _signals()
    pending = signal.sigpending() & sigs
    while signal.sigpending() & sigs:
        signal.sigtimedwait(sigs, 0)
    return pending


def release() -> None:
    """Unblock SIGINT and SIGTERM in this thread; a signal still pending is dropped (the work it
    would have stopped is done)."""
    if not CAN_HOLD or not _main_thread():
        return
    _drain()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _signals())


def check() -> None:
    """Act on a held signal: raise ``KeyboardInterrupt`` for Ctrl-C, :class:`Terminated` for SIGTERM."""
    if not CAN_HOLD or not is_held():
        return
    pending = _drain()
    if pending:
        raise Terminated() if signal.SIGTERM in pending else KeyboardInterrupt()


@contextlib.contextmanager
def held() -> Iterator[bool]:
    """Hold SIGINT and SIGTERM for the block (see :func:`hold`); if they were held already on
    entry (by the command line), they stay held on exit. Yields whether they are held."""
    already = is_held()
    ok = hold()
    try:
        yield ok
    finally:
        if ok and not already:
            release()
