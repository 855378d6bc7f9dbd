"""The output files of a ``geomgen conformers`` job, written so that no finished molecule is lost.

A job writes ``OUT.sdf`` and ``OUT.failures.csv``. While it runs, both grow as *partial files*
beside them (``.OUT.sdf.partial``, ``.OUT.failures.csv.partial``), appended molecule by molecule
and flushed, and they are renamed into place when the job ends (finished, failed, or stopped by
Ctrl-C or SIGTERM). A job killed outright (SIGKILL, a crash, a power cut) leaves its partial
files, and ``--resume`` continues from them: the partial files of the last run are always the
newest state of the job, so they take precedence over an ``OUT.sdf`` of an earlier run.

One run at a time writes an output: the SD partial file is locked (``flock``) while the job runs,
and a second run on the same output is refused.

* :class:`JobFiles` -- the lock, the partial files, appending a molecule (all or nothing), the
  final rename.
* :func:`scan_sdf` -- the molecules (consecutive records with one ``input_line`` and
  ``molecule``) of an SD file with their byte ranges and the first record's properties, in flat
  memory; a record cut short at the end (a killed writer) is reported, not an error.
* :func:`read_failure_rows` -- the rows of a failures file, or a ``ValueError`` saying why it is
  not one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from geomgen.conformers.io import FAILURE_FIELDS, failures_path

#: columns of a job's failures file: the common ones, the options' fingerprint and the input record's hash
JOB_FAILURE_FIELDS = (*FAILURE_FIELDS, "options", "input_hash")


def partial_path(path) -> Path:
    """The partial file of an output: ``.NAME.partial`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


@dataclass
class SDFMolecule:
    """One molecule's records in an SD file: where they are and what the first one says."""

    line: int
    name: str
    records: int
    start: int  # byte offset of the first record
    end: int  # byte offset after the last record
    props: dict = field(default_factory=dict)  # SD properties of the first record


@dataclass
class SDFScan:
    """What :func:`scan_sdf` found: the molecules, the end of the last complete record, and whether
    text follows it (a record cut short)."""

    molecules: list[SDFMolecule]
    end: int
    cut: bool


def _record_props(lines: list[bytes]) -> dict:
    props = {}
    for i, row in enumerate(lines[:-1]):
        if row.startswith(b">"):
            a, b = row.find(b"<"), row.find(b">", 1)
            if 0 <= a < b:
                props[row[a + 1 : b].decode("utf-8", "replace")] = lines[i + 1].rstrip(b"\r\n").decode("utf-8", "replace")
    return props


def scan_sdf(path) -> SDFScan:
    """The molecules of an SD file written by ``geomgen conformers`` (see :class:`SDFScan`).

    Memory stays flat: records are read line by line and only the first record's properties of
    each molecule are kept.

    Raises:
        ValueError: a complete record without ``input_line`` and ``molecule`` properties, naming
            the file and the record.
    """
    molecules: list[SDFMolecule] = []
    record: list[bytes] = []
    offset = start = end = n = 0
    with open(path, "rb") as f:
        for row in f:
            record.append(row)
            offset += len(row)
            if row.rstrip(b"\r\n") != b"$$$$":
                continue
            n += 1
            props = _record_props(record)
            line, name = props.get("input_line"), props.get("molecule")
            if line is None or name is None or not line.strip().isdigit():
                title = record[0].strip().decode("utf-8", "replace")[:80]
                raise ValueError(f"{str(path)!r}: record {n} ({title!r}) has no input_line and molecule properties "
                                 "(not written by geomgen conformers)")
            last = molecules[-1] if molecules else None
            if last is not None and (last.line, last.name) == (int(line), name) and last.end == start:
                last.records += 1
                last.end = offset
            else:
                molecules.append(SDFMolecule(int(line), name, 1, start, offset, props))
            start = end = offset
            record = []
    return SDFScan(molecules, end, cut=any(r.strip() for r in record))


def read_failure_rows(path) -> list[dict]:
    """The rows of a failures file (``name``, ``input_line``, ... columns); a last row cut short
    (a killed writer: fewer fields than the header) is left out.

    Raises:
        ValueError: the file is not text, or lacks the columns of a failures file (naming it).
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{str(path)!r}: not a failures file written by geomgen conformers (binary data at byte {exc.start})") from None
    if "\x00" in text:
        raise ValueError(f"{str(path)!r}: not a failures file written by geomgen conformers (binary data)")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
    except csv.Error as exc:
        raise ValueError(f"{str(path)!r}: not a failures file written by geomgen conformers ({exc})") from None
    missing = [k for k in ("name", "input_line") if k not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{str(path)!r}: not a failures file written by geomgen conformers (no {', '.join(missing)} column)")
    complete = text.endswith("\n")
    return [r for i, r in enumerate(rows) if None not in r and (complete or i < len(rows) - 1)
            and all(r.get(k) is not None for k in reader.fieldnames)]


def _csv_row(row: dict) -> bytes:
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=JOB_FAILURE_FIELDS).writerow({k: row.get(k, "") for k in JOB_FAILURE_FIELDS})
    return buf.getvalue().encode("utf-8")


class OutputBusy(Exception):
    """Another run is writing the same output (its partial file is locked)."""


class JobFiles:
    """The partial files of one job's output, locked while the job runs.

    Usage: :meth:`open` (lock; start empty or from given content), then per molecule
    :meth:`begin`, :meth:`write_records` (as often as needed) and :meth:`commit` (or
    :meth:`rollback`), :meth:`write_failure`; at the end :meth:`finish` (rename into place) or
    :meth:`discard` (drop the partial files, leave the earlier output alone).

    Args:
        output: the SD output path (``OUT.sdf``); the failures file is ``OUT.failures.csv``.
    """

    def __init__(self, output):
        self.output = Path(output)
        self.failures = failures_path(output)
        self.sdf_partial = partial_path(self.output)
        self.failures_partial = partial_path(self.failures)
        self._sdf = self._fail = None
        self._mark = 0
        self.molecules = 0  # molecules in the SD partial file
        self.failed = 0  # rows in the failures partial file

    # -- set-up ---------------------------------------------------------------------------------
    def has_partial(self) -> bool:
        """Whether a killed run left partial files (the failures partial file is created once the
        SD partial file holds the run's starting content, so it marks partial files to resume from)."""
        return self.failures_partial.exists()

    def lock(self) -> None:
        """Open (create) the SD partial file and lock it.

        Raises:
            OutputBusy: another run holds the lock.
            OSError: the folder cannot be written.
        """
        import fcntl

        self.output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.sdf_partial, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusy(f"{str(self.output)!r}: another geomgen conformers run is writing it "
                             f"(its partial file {str(self.sdf_partial)!r} is locked)") from None
        self._sdf = os.fdopen(fd, "r+b")

    def start(self, sdf_source=None, sdf_end: int = 0, failure_rows=()) -> None:
        """Fill the partial files: the first ``sdf_end`` bytes of ``sdf_source`` (the SD partial
        file itself, or an earlier output to copy from; nothing when ``None``) and the given
        failure rows."""
        f = self._sdf
        if sdf_source is not None and Path(sdf_source) != self.sdf_partial:
            f.seek(0)
            f.truncate()
            with open(sdf_source, "rb") as src:
                left = sdf_end
                while left > 0:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    f.write(chunk)
                    left -= len(chunk)
        else:
            f.truncate(sdf_end if sdf_source is not None else 0)
        f.seek(0, os.SEEK_END)
        f.flush()
        self._mark = f.tell()
        self._fail = open(self.failures_partial, "wb")
        self._fail.write((",".join(JOB_FAILURE_FIELDS) + "\r\n").encode())
        for row in failure_rows:
            self._fail.write(_csv_row(row))
        self.failed = len(failure_rows)
        self._fail.flush()

    # -- writing --------------------------------------------------------------------------------
    def begin(self) -> None:
        """A molecule starts: :meth:`rollback` returns here."""
        self._mark = self._sdf.tell()

    def write_records(self, text: str) -> None:
        self._sdf.write(text.encode("utf-8"))
        self._sdf.flush()

    def commit(self) -> None:
        """The molecule is complete."""
        self.molecules += 1
        self._mark = self._sdf.tell()

    def rollback(self) -> None:
        """Drop what was written since :meth:`begin` (a molecule that failed or was interrupted half-way)."""
        self._sdf.truncate(self._mark)
        self._sdf.seek(self._mark)
        self._sdf.flush()

    def write_failure(self, row: dict) -> None:
        self._fail.write(_csv_row(row))
        self._fail.flush()
        self.failed += 1

    # -- the end --------------------------------------------------------------------------------
    def _close(self) -> None:
        for f in (self._fail, self._sdf):  # the SD file last: closing it releases the lock
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        self._sdf = self._fail = None

    def finish(self) -> bool:
        """Rename the partial files into place; a partial file with nothing in it is removed, and
        so is an earlier output it would have replaced. Return whether ``OUT.sdf`` was written."""
        from geomgen.atomic import fsync_and_replace

        for f in (self._sdf, self._fail):
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
        wrote = self._sdf is not None and self._sdf.tell() > 0
        pairs = ((self.failures_partial, self.failures, self.failed > 0), (self.sdf_partial, self.output, wrote))
        try:
            for partial, final, keep in pairs:  # the SD file last, under the lock
                if keep:
                    fsync_and_replace(partial, final)
                else:
                    for p in (partial, final):
                        with contextlib.suppress(FileNotFoundError):
                            p.unlink()
        finally:
            self._close()
        return wrote

    def release(self) -> None:
        """Close the files and keep the partial files as they are (for ``--resume``); a partial
        file that :meth:`lock` created and nothing filled is removed."""
        created = self._fail is None and self._sdf is not None and self._sdf.seek(0, os.SEEK_END) == 0
        self._close()
        if created:
            with contextlib.suppress(FileNotFoundError):
                self.sdf_partial.unlink()

    def discard(self) -> None:
        """Drop the partial files and leave the earlier output as it was."""
        for p in (self.failures_partial, self.sdf_partial):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        self._close()
