"""``geomgen conformers`` into an output folder, chunk by chunk, on any ``concurrent.futures``
executor: a local process pool, or a ``dask.distributed`` cluster (``--dask ADDRESS``).

The input is cut into chunks of consecutive molecules; chunk ``i`` becomes
``OUT/chunk-00000i.sdf`` and ``OUT/chunk-00000i.failures.csv`` (the failures file of a
single-file run, header only when nothing failed), each written atomically by this process (the
driver) when the chunk comes back, so workers need no shared file system. A chunk is a pure
function of its input records and the options (:func:`run_chunk`): each molecule's randomness is
keyed by its canonical SMILES, so the chunk files, concatenated in name order, are byte for byte
the ``OUT.sdf`` of a single-file run (``cat OUT/chunk-*.sdf``; :func:`merge_chunks` also joins the
failures files).

``OUT/manifest.json`` records the options' fingerprint (with the model file's hash and geomgen's
version), the chunk size and a hash of each chunk's input records. ``--resume`` skips the chunks
whose two files exist and refuses when the options or the input differ; without ``--resume`` a
folder that holds an earlier run is refused (nothing is deleted). One run writes a folder at a
time (a ``flock`` on ``OUT/.lock``).

Workers check that they run the same geomgen version and model file (by hash) as the driver and
fail the chunk otherwise: a mismatched worker cannot silently write other conformers.

* :func:`generate_folder` -- the Python API (any executor, or ``None`` for this process).
* :func:`run_chunk` -- one chunk, as a worker runs it.
* :func:`merge_chunks` -- join a finished folder into ``OUT.sdf`` and ``OUT.failures.csv``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
LOCK = ".lock"
#: manifest layout version
FORMAT = 1
#: the default chunk holds about this many conformers (molecules x -n) ...
CHUNK_RECORDS = 10_000
#: ... and is at most this fraction of the input (so a small input still spreads over workers)
MIN_CHUNKS = 64
#: seconds to wait for a Dask scheduler before ``--dask`` gives up
DASK_CONNECT_TIMEOUT = 20.0
#: chunks submitted and not yet written, at most (more are submitted as chunks come back): bounds
#: the memory of this process and of a Dask scheduler for any input size
MAX_PENDING = 512


class FolderError(Exception):
    """A folder run that cannot start (bad folder, refused resume, unreachable scheduler): one line."""


def default_chunk(n: int, molecules: int) -> int:
    """Molecules per chunk when none is given: about :data:`CHUNK_RECORDS` conformers, and at
    least :data:`MIN_CHUNKS` chunks for an input that has that many molecules."""
    return max(1, min(CHUNK_RECORDS // max(n, 1), -(-molecules // MIN_CHUNKS)))


def chunk_name(index: int, width: int) -> str:
    return f"chunk-{index:0{width}d}"


def is_folder_output(output: str, dask: str | None) -> bool:
    """Whether ``-o`` asks for an output folder: a name ending in ``/``, or any name with ``--dask``."""
    return bool(dask) or output.endswith(("/", os.sep))


def folder_problem(output: str) -> str | None:
    """Why ``output`` cannot be an output folder (``None`` when it can)."""
    p = Path(output)
    if output == "-":
        return "an output folder is needed (-o OUT/), not standard output (-)"
    if p.exists() and not p.is_dir():
        return (f"{output!r}: is a file; chunked and --dask runs write a folder of chunk files: give a folder "
                "(e.g. -o out/)")
    if not p.exists() and p.suffix.lower() == ".sdf":
        return f"{output!r}: names an SD file; chunked and --dask runs write a folder of chunk files: give a folder (e.g. -o out/)"
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{output!r}: {str(parent)!r} is a file, not a folder"
            break
    return None


# -- the worker side -------------------------------------------------------------------------------


@dataclass
class ChunkJob:
    """One chunk, as a worker receives it (picklable)."""

    index: int
    n: int
    model: str | None
    model_digest: str  # the driver's model file hash: the worker's must match
    version: str  # the driver's geomgen version: the worker's must match
    settings: dict  # seed, relax, boltzmann, options (see generate._work)
    molecules: list  # InputMolecule
    tasks: list  # generate.Task: the blocks of every molecule, in order


@dataclass
class ChunkOutput:
    """One chunk's files (zlib-compressed SD text, failures file bytes) and what to report."""

    index: int
    sdf: bytes
    failures: bytes
    molecules: int
    records: int
    failed: int
    messages: list = field(default_factory=list)
    seconds: float = 0.0


class _MemoryFiles:
    """The job-files interface of :func:`~geomgen.conformers.commands.generate._assemble`, in memory."""

    def __init__(self):
        self.parts: list[str] = []
        self.rows: list[dict] = []
        self._mark = 0

    def begin(self) -> None:
        self._mark = len(self.parts)

    def write_records(self, text: str) -> None:
        self.parts.append(text)

    def commit(self) -> None:
        self._mark = len(self.parts)

    def rollback(self) -> None:
        del self.parts[self._mark:]

    def write_failure(self, row: dict) -> None:
        self.rows.append(row)


_local = threading.local()
_DIGESTS: dict = {}


def _generator_cache() -> dict:
    """Generators are loaded once per thread (the main thread shares the command's), so threads
    of one worker never share a generator's settings."""
    from geomgen.conformers.commands.generate import _GEN

    if threading.current_thread() is threading.main_thread():
        return _GEN
    if not hasattr(_local, "cache"):
        _local.cache = {}
    return _local.cache


def _worker_digest(model) -> str:
    from geomgen.conformers.commands.generate import _model_digest
    from geomgen.conformers.generator import _model_path

    path = _model_path(model)
    try:
        st = path.stat()
    except OSError as exc:
        raise RuntimeError(f"worker {_host()}: cannot read the model {str(path)!r}: {exc.strerror or exc} (every worker "
                           "needs the model file at the same path)") from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = _model_digest(model)
    return _DIGESTS[key]


def _host() -> str:
    import socket

    return f"{socket.gethostname()} (pid {os.getpid()})"


def failures_bytes(rows) -> bytes:
    """A failures file (as a single-file run writes it) holding ``rows``."""
    from geomgen.conformers.resumable import JOB_FAILURE_FIELDS, _csv_row

    return (",".join(JOB_FAILURE_FIELDS) + "\r\n").encode() + b"".join(_csv_row(r) for r in rows)


def run_chunk(job: ChunkJob, check: Callable[[], None] | None = None) -> ChunkOutput:
    """Generate one chunk: its SD text and failures file, exactly what a single-file run writes
    for these molecules. ``check`` is called between molecules (to act on Ctrl-C in this process).

    Raises:
        RuntimeError: this worker runs another geomgen version or model file than the driver.
    """
    from geomgen import __version__
    from geomgen.conformers.commands.generate import _assemble, _Tally, _work

    t0 = time.perf_counter()
    if job.version != __version__:
        raise RuntimeError(f"worker {_host()}: runs geomgen {__version__}, the run was started with {job.version}: "
                           "install the same geomgen on every worker")
    digest = _worker_digest(job.model)
    if digest != job.model_digest:
        raise RuntimeError(f"worker {_host()}: its model file ({digest}) is not the run's ({job.model_digest}): every "
                           "worker needs the same model file (--model, or the shipped one of the same geomgen)")
    cache = _generator_cache()

    def results():
        for t in job.tasks:
            if check is not None:
                check()
            yield from _work(job.model, [t], **job.settings, cache=cache)

    files, tally, messages = _MemoryFiles(), _Tally(len(job.molecules), len(job.molecules)), []
    _assemble(job.n, job.molecules, job.tasks, results(), files, tally, messages.append)
    sdf = zlib.compress("".join(files.parts).encode("utf-8"), 1)
    return ChunkOutput(job.index, sdf, failures_bytes(files.rows), tally.molecules, tally.records, tally.failed, messages,
                       time.perf_counter() - t0)


# -- the driver side -------------------------------------------------------------------------------


@dataclass
class FolderResult:
    """What a folder run did: chunks in all, already done (skipped), written now; molecules,
    conformers and failures of the chunks written now; whether it was interrupted (and by what)."""

    folder: Path
    chunks: int
    skipped: int = 0
    written: int = 0
    molecules: int = 0
    records: int = 0
    failed: int = 0
    generated: int = 0  # molecules of the chunks written now
    interrupted: BaseException | None = None
    error: str = ""


def _chunk_digest(molecules) -> str:
    from geomgen.conformers.commands.generate import input_hash

    h = hashlib.sha256()
    for m in molecules:
        h.update(f"{m.line}\x1f{m.name}\x1f{input_hash(m.item)}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


class _Folder:
    """The output folder: its lock, manifest and chunk files."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None

    def lock(self) -> None:
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderError(f"{str(self.path)!r}: another geomgen conformers run is writing this folder "
                              f"({str(self.path / LOCK)!r} is locked)") from None
        self._lock = fd

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def chunk_files(self) -> list[Path]:
        return sorted(self.path.glob("chunk-*.sdf")) + sorted(self.path.glob("chunk-*.failures.csv"))

    def remove_temporaries(self) -> None:
        """Temporary files of chunks a killed run was writing."""
        for p in self.path.glob(".chunk-*.tmp*"):
            with contextlib.suppress(OSError):
                p.unlink()

    def read_manifest(self) -> dict | None:
        path = self.path / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FolderError(f"{str(path)!r}: cannot resume: not a manifest written by geomgen conformers ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise FolderError(f"{str(path)!r}: cannot resume: not a manifest of this geomgen version (format "
                              f"{manifest.get('format') if isinstance(manifest, dict) else '?'}, expected {FORMAT})")
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        from geomgen.atomic import atomic_write_text

        atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=1) + "\n")

    def done(self, name: str) -> bool:
        return (self.path / f"{name}.sdf").is_file() and (self.path / f"{name}.failures.csv").is_file()

    def write_chunk(self, name: str, out: ChunkOutput) -> None:
        """The failures file, then the SD file, each atomically (a chunk is done when both exist)."""
        from geomgen.atomic import atomic_write

        sdf = zlib.decompress(out.sdf)
        atomic_write(self.path / f"{name}.failures.csv", lambda tmp: Path(tmp).write_bytes(out.failures))
        atomic_write(self.path / f"{name}.sdf", lambda tmp: Path(tmp).write_bytes(sdf))


def _plan(args, inputs, fp: str, folder: _Folder) -> tuple[dict, int]:
    """The manifest of this run (checked against the folder's on ``--resume``) and the chunk size."""
    from geomgen.conformers.commands.generate import _fingerprint_difference

    old = folder.read_manifest()
    if not args.resume:
        if old is not None or folder.chunk_files():
            raise FolderError(f"{str(folder.path)!r}: holds the chunks of an earlier run; rerun with --resume to continue "
                              "it, or give a new or empty folder (nothing is deleted)")
    elif old is None and folder.chunk_files():
        raise FolderError(f"{str(folder.path)!r}: cannot resume: chunk files but no {MANIFEST} (not a folder written by "
                          "geomgen conformers, or its manifest was removed)")
    same = "--resume needs the input and options of the interrupted run"
    if old is not None:
        diff = _fingerprint_difference(old.get("options"), fp)
        if diff:
            raise FolderError(f"{str(folder.path / MANIFEST)!r}: cannot resume: {diff}; {same}")
        if args.chunk is not None and args.chunk != old.get("chunk"):
            raise FolderError(f"{str(folder.path / MANIFEST)!r}: cannot resume: --chunk {args.chunk} (was "
                              f"{old.get('chunk')}); leave --chunk out to continue with the run's chunks")
    chunk = old["chunk"] if old is not None else args.chunk or default_chunk(args.num_conformers, len(inputs))
    starts = range(0, len(inputs), chunk)
    digests = [_chunk_digest(inputs[s : s + chunk]) for s in starts]
    width = max(5, len(str(max(len(digests) - 1, 0))))
    manifest = {"format": FORMAT, "program": "geomgen conformers", "options": fp, "input": str(args.input),
                "molecules": len(inputs), "chunk": chunk, "chunks": len(digests), "width": width,
                "chunk_inputs": digests}
    if old is not None:
        if old.get("molecules") != len(inputs):
            raise FolderError(f"{str(folder.path / MANIFEST)!r}: cannot resume: the input has {len(inputs)} molecule(s), "
                              f"the interrupted run's had {old.get('molecules')}; {same}")
        for i, (a, b) in enumerate(zip(old.get("chunk_inputs", []), digests)):
            if a != b:
                first, last = inputs[i * chunk].line, inputs[min((i + 1) * chunk, len(inputs)) - 1].line
                raise FolderError(f"{str(folder.path / MANIFEST)!r}: cannot resume: the input of chunk {i} (input lines "
                                  f"{first}..{last}) differs from the interrupted run's; {same}")
        manifest["width"] = old.get("width", width)
    return manifest, chunk


def _jobs(args, inputs, fp: str, manifest: dict, todo: list[int]):
    from geomgen import __version__
    from geomgen.conformers.commands.generate import _model_digest, _options, _tasks

    settings = {"seed": args.seed, "relax": args.relax, "boltzmann": args.boltzmann, "options": _options(args)}
    digest = _model_digest(args.model)
    chunk = manifest["chunk"]
    for i in todo:
        mols = inputs[i * chunk : (i + 1) * chunk]
        yield ChunkJob(i, args.num_conformers, args.model, digest, __version__, settings, mols, _tasks(args, mols, fp))


def run_folder(args, inputs, fp: str, executor: Executor | None = None, progress: bool = True,
               say: Callable[[str], None] | None = None, max_pending: int | None = None) -> FolderResult:
    """Generate ``inputs`` into the folder ``args.output`` (see the module), on ``executor`` (``None``:
    in this process, acting on held Ctrl-C / SIGTERM between molecules). ``args`` carries the
    options of ``geomgen conformers``; ``fp`` is their fingerprint. At most ``max_pending`` chunks
    (default :data:`MAX_PENDING`) are submitted at a time.

    A chunk that raises on a worker stops the run (the chunks already written are kept, and
    ``--resume`` continues): the error is in :attr:`FolderResult.error`.

    Raises:
        FolderError: the folder cannot be written, or ``--resume`` is refused.
    """
    from tqdm import tqdm

    from geomgen import signals

    folder = _Folder(args.output)
    if not folder.path.exists():
        (say or (lambda m: print(m, file=sys.stderr)))(f"geomgen conformers: creating folder {args.output!r} for the chunks")
    try:
        folder.lock()
    except OSError as exc:
        raise FolderError(f"{args.output!r}: cannot write: {exc.strerror or exc}") from None
    try:
        manifest, chunk = _plan(args, inputs, fp, folder)
        folder.remove_temporaries()
        folder.write_manifest(manifest)
        names = [chunk_name(i, manifest["width"]) for i in range(manifest["chunks"])]
        todo = [i for i, name in enumerate(names) if not folder.done(name)]
        res = FolderResult(folder.path, len(names), skipped=len(names) - len(todo))
        sizes = {i: min(chunk, len(inputs) - i * chunk) for i in todo}
        total = sum(sizes.values())
        bar = tqdm(total=total, disable=not progress or total < 2, desc="conformers", unit="mol", file=sys.stderr)

        def tell(message: str) -> None:
            if say is not None:
                say(message)
            elif bar.disable:
                print(message, file=sys.stderr)
            else:
                bar.write(message, file=sys.stderr)

        def finished(out: ChunkOutput) -> None:
            folder.write_chunk(names[out.index], out)
            for m in out.messages:
                tell(m)
            res.written += 1
            res.molecules += out.molecules
            res.records += out.records
            res.failed += out.failed
            res.generated += sizes[out.index]
            bar.update(sizes[out.index])

        try:
            jobs = _jobs(args, inputs, fp, manifest, todo)
            if executor is None:
                for job in jobs:
                    signals.check()
                    finished(run_chunk(job, check=signals.check))
            else:
                _drive(executor, jobs, finished, res, max_pending or MAX_PENDING)
        except KeyboardInterrupt as exc:
            res.interrupted = exc
        finally:
            bar.close()
        return res
    finally:
        folder.unlock()


def _drive(executor: Executor, jobs, finished, res: FolderResult, max_pending: int) -> None:
    """Submit the jobs (at most ``max_pending`` at a time, in order), write each chunk as it comes
    back; held signals are acted on while waiting. On an error or an interruption the chunks not
    yet finished are cancelled."""
    from geomgen import signals

    jobs = iter(jobs)
    pending: dict = {}

    def submit() -> None:
        while len(pending) < max_pending:
            job = next(jobs, None)
            if job is None:
                return
            pending[executor.submit(run_chunk, job)] = job.index

    try:
        submit()
        while pending:
            signals.check()
            done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=pending.get):
                index = pending.pop(f)
                try:
                    out = f.result()
                except Exception as exc:  # a worker's error (or a lost worker): stop the run
                    res.error = f"chunk {index}: {type(exc).__name__}: {exc}"
                    return
                finished(out)
            submit()
    finally:
        for f in pending:
            f.cancel()


def merge_chunks(folder, output) -> tuple[Path, Path | None]:
    """Join a finished output folder into ``output`` (an .sdf) and, when anything failed, its
    failures file: byte for byte what a single-file run writes. Returns both paths (the second
    ``None`` when nothing failed).

    Raises:
        FolderError: a chunk is missing (the run is not finished).
    """
    from geomgen.atomic import atomic_open
    from geomgen.conformers.io import failures_path

    folder = Path(folder)
    manifest = _Folder(folder).read_manifest()
    if manifest is None:
        raise FolderError(f"{str(folder)!r}: no {MANIFEST}: not an output folder of geomgen conformers")
    names = [chunk_name(i, manifest["width"]) for i in range(manifest["chunks"])]
    missing = [n for n in names if not _Folder(folder).done(n)]
    if missing:
        raise FolderError(f"{str(folder)!r}: {len(missing)} chunk(s) not finished (first {missing[0]}); rerun with --resume")
    with atomic_open(output, "wb") as out:
        for n in names:
            with open(folder / f"{n}.sdf", "rb") as f:
                while block := f.read(1 << 20):
                    out.write(block)
    rows = []
    for n in names:
        body = (folder / f"{n}.failures.csv").read_bytes().split(b"\r\n", 1)[1]
        if body:
            rows.append(body)
    fails = failures_path(output)
    if rows:
        header = (folder / f"{names[0]}.failures.csv").read_bytes().split(b"\r\n", 1)[0] + b"\r\n"
        with atomic_open(fails, "wb") as out:
            out.write(header + b"".join(rows))
        return Path(output), fails
    with contextlib.suppress(FileNotFoundError):
        fails.unlink()
    return Path(output), None


@contextlib.contextmanager
def dask_executor(address: str, timeout: float | None = None):
    """The executor of the Dask scheduler at ``address`` (closed on exit).

    Raises:
        FolderError: dask.distributed is not installed, or no scheduler answers within ``timeout``
            seconds (default :data:`DASK_CONNECT_TIMEOUT`).
    """
    try:
        from distributed import Client
    except ImportError:
        raise FolderError("--dask needs dask.distributed: pip install 'geomgen[dask]'") from None
    timeout = DASK_CONNECT_TIMEOUT if timeout is None else timeout
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as exc:
        raise FolderError(f"--dask {address}: cannot connect to the scheduler within {timeout:g} s "
                          f"({type(exc).__name__}: {exc})") from None
    try:
        if not client.scheduler_info().get("workers"):
            print(f"geomgen conformers: --dask {address}: the scheduler has no workers yet; chunks wait for them",
                  file=sys.stderr)
        yield client.get_executor()
    finally:
        client.close()


def generate_folder(source, output, *, executor: Executor | None = None, resume: bool = False, progress: bool = True,
                    max_pending: int | None = None, **options) -> FolderResult:
    """Generate conformers for ``source`` (a SMILES, or a .smi / .csv / .sdf file, as on the command
    line) into the folder ``output``, chunk by chunk, on ``executor`` (any ``concurrent.futures``
    executor: a process pool, a Dask client's ``get_executor()``; ``None`` runs in this process).

    ``options`` are those of ``geomgen conformers`` by their long names: ``num_conformers``,
    ``seed``, ``relax``, ``boltzmann``, ``boltzmann_sweeps``, ``boltzmann_chains``, ``seed_iters``,
    ``ring_seeds``, ``seed_method``, ``model``, ``chunk``, ``enumerate_stereo``; left out, they take the command's
    defaults. At most ``max_pending`` chunks (default :data:`MAX_PENDING`) are submitted at a
    time. The chunk files concatenated are what ``geomgen conformers SOURCE -o OUT.sdf`` with
    the same options writes (see :func:`merge_chunks`).

    Raises:
        TypeError: an unknown option.
        FolderError: a bad option, input or folder, or a refused ``resume``.
    """
    import argparse

    from geomgen.conformers.commands import generate as g

    parser = argparse.ArgumentParser(prog=g.PROG)
    g.add_arguments(parser)
    args = parser.parse_args([str(source), "-o", str(output)])
    unknown = set(options) - set(vars(args)) | {k for k in options if k in ("input", "output", "dask", "jobs", "resume")}
    if unknown:
        raise TypeError(f"generate_folder: unknown option(s) {', '.join(sorted(unknown))}")
    vars(args).update(options, resume=resume, folder=True)
    args.jobs = 1
    try:
        g._check_options(args)
        inputs = g._prepare_inputs(args)
        if inputs is None:
            raise g.UsageError(f"{str(source)!r}: no molecules read (the reason is on standard error)")
        fp = g._job_fingerprint(args)
        g._load_model(args, todo=len(inputs), here=executor is None)
    except g.UsageError as exc:
        raise FolderError(str(exc)) from None
    return run_folder(args, inputs, fp, executor=executor, progress=progress, max_pending=max_pending)
