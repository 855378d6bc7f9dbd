"""Result tables, shared by every capability and the evaluation scripts.

* :func:`markdown_table` -- rows as a GitHub markdown table (header, ``|---|`` rule, one line a row).
* :func:`publish` -- write a report atomically (:mod:`geomgen.atomic`) and print it.
* :func:`best_time` -- the shortest wall time of a callable over a few repeats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from geomgen.atomic import atomic_write_text

__all__ = ["markdown_table", "publish", "best_time"]


def markdown_table(header: Sequence, rows: Iterable[Sequence]) -> list[str]:
    """Lines of a markdown table: ``| a | b |``, ``|---|---|``, then one line per row.

    Cells are written with ``str``; format numbers before passing them. Every row must have as
    many cells as the header.
    """
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"a row has {len(cells)} cells, the header {len(header)}: {cells}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def publish(path: str | Path, lines: str | Iterable[str], echo: bool = True) -> str:
    """Write a report to ``path`` atomically and print it; return its text.

    ``lines`` is the text, written as it is, or its lines, joined with newlines and ended by one.
    """
    text = lines if isinstance(lines, str) else "\n".join(lines) + "\n"
    atomic_write_text(Path(path), text)
    if echo:
        print(text)
    return text


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Shortest wall time in seconds of ``fn()`` over ``repeats`` calls (at least one)."""
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
