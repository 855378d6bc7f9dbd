"""``geomgen conformers``: 3D conformers from SMILES with VonMisesNet.

Records are streamed: each molecule's conformers are written, in input order, as soon as it is
done, into a temporary file beside the output that replaces the output at the end; failures go
the same way into ``OUT.failures.csv``. Ctrl-C (or SIGTERM) keeps what is finished in OUT.sdf
and the failures file, and ``--resume`` continues from them without redoing a finished molecule.
A molecule's conformers depend only on (molecule, seed, -n, options), so a resumed job writes
the same bytes as an uninterrupted one.

Ctrl-C and SIGTERM are held while a molecule is being generated and acted on between molecules:
RDKit's ETKDG catches SIGINT itself and returns no conformers ("Interrupted, cancelling conformer
generation"), which would otherwise turn Ctrl-C into a false failure and carry on.

Exit status: 0 when conformers were written, 1 when every molecule failed (or the work failed),
2 for a usage error (bad option, input or output path; nothing is done), 130 when interrupted by Ctrl-C
(143 by SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import NamedTuple

PROG = "geomgen conformers"
#: output file types
OUTPUT_SUFFIXES = (".sdf",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from geomgen.conformers.generator import DEFAULT_BOLTZMANN_CHAINS, DEFAULT_BOLTZMANN_SWEEPS, DEFAULT_RING_SEEDS, DEFAULT_SEED_ITERS

    p.add_argument("input", help="a SMILES string or a .smi / .csv / .sdf file")
    p.add_argument("-n", "--num-conformers", type=int, default=10, help="conformers per molecule (default 10)")
    p.add_argument("-o", "--output", required=True, help="output .sdf (one record per conformer); - for standard output")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--relax", action="store_true", help="MMFF94-minimise every conformer")
    p.add_argument("--boltzmann", action="store_true",
                   help="conformers from short chains of the exact MMFF94 Boltzmann sampler (300 K, every coordinate flexible, "
                        "ring puckers included) started at the network's samples: closer to the Boltzmann law, slower; "
                        "reports each molecule's effective sample size and R-hat")
    p.add_argument("--boltzmann-sweeps", type=int, default=None,
                   help=f"sampler sweeps per conformer with --boltzmann (default {DEFAULT_BOLTZMANN_SWEEPS}; more is closer "
                        "to the Boltzmann law and slower)")
    p.add_argument("--boltzmann-chains", type=int, default=None,
                   help=f"sampler chains per molecule with --boltzmann (default {DEFAULT_BOLTZMANN_CHAINS})")
    p.add_argument("--seed-iters", type=int, default=None,
                   help="MMFF94 iterations on each molecule's seed geometry before its torsions are sampled (default "
                        f"{DEFAULT_SEED_ITERS}; --relax and --boltzmann always minimise it fully)")
    p.add_argument("--ring-seeds", type=int, default=None,
                   help=f"up to this many seed geometries, each with its own ring conformations, for a molecule with a "
                        f"non-aromatic ring below macrocycle size, sharing the conformers by Boltzmann weight (default "
                        f"{DEFAULT_RING_SEEDS}: one seed; 4 matched ETKDGv3+MMFF's coverage on drugs at a fifth of "
                        "geomgen's speed)")
    p.add_argument("--model", default=None, help="VonMisesNet checkpoint (default: the shipped models/vonmisesnet.ckpt)")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel worker processes for files (default: every core this process may use, like RDKit's "
                        "numThreads=0; 1 for one process)")
    p.add_argument("--chunk", type=int, default=64, help="molecules per worker task (default 64)")
    p.add_argument("--enumerate-stereo", action="store_true",
                   help="generate every stereoisomer of a molecule with unspecified stereocentres or double bonds, each as "
                        "its own molecule NAME-1, NAME-2... (at most 32; default: one isomer, reported)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted job: keep the molecules already in OUT.sdf and OUT.failures.csv "
                        "(same input and options), generate the rest")


class UsageError(Exception):
    """A bad option, input or output path: one line, exit status 2, nothing done."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


class MoleculeResult(NamedTuple):
    """One molecule's outcome, as a worker sends it back: its SD records as text, or why it failed."""

    line: int
    name: str
    text: str
    records: int
    reason: str
    warnings: tuple
    note: str


_GEN: dict = {}


def _options(args) -> dict:
    """The :class:`~geomgen.conformers.generator.ConformerGenerator` settings the command line
    sets, each flag left out taking the generator's default."""
    from geomgen.conformers import generator as g

    given = {"seed_iters": args.seed_iters, "boltzmann_sweeps": args.boltzmann_sweeps,
             "boltzmann_chains": args.boltzmann_chains, "ring_seeds": args.ring_seeds}
    defaults = {"seed_iters": g.DEFAULT_SEED_ITERS, "boltzmann_sweeps": g.DEFAULT_BOLTZMANN_SWEEPS,
                "boltzmann_chains": g.DEFAULT_BOLTZMANN_CHAINS, "ring_seeds": g.DEFAULT_RING_SEEDS}
    return {k: defaults[k] if v is None else v for k, v in given.items()}


def _generator(model, options: dict | None = None):
    from geomgen.conformers.generator import ConformerGenerator

    if model not in _GEN:
        _GEN[model] = ConformerGenerator.from_checkpoint(model)
    gen = _GEN[model]
    for key, value in (options or {}).items():
        setattr(gen, key, value)
    return gen


def _work(model, chunk, n, seed, relax, boltzmann, options=None) -> list[MoleculeResult]:
    """Generate for ``chunk`` = [InputMolecule, ...] and render each molecule's SD records."""
    import torch

    torch.set_num_threads(1)
    from geomgen.conformers.io import sdf_records

    gen = _generator(model, options)
    mols, reports = gen.generate_many([(m.name, m.item) for m in chunk], n, seed=seed, relax=relax, boltzmann=boltzmann)
    out = []
    for m, mol, rep in zip(chunk, mols, reports):
        text, count = "", 0
        if mol is not None:
            props = []
            for c, conf in enumerate(mol.GetConformers()):
                p = {"_Name": f"{m.name}_{c}", "molecule": m.name, "input_line": m.line, "conformer": c}
                p.update(conf.GetPropsAsDict())
                props.append(p)
            records = list(sdf_records(mol, props))
            text, count = "".join(records), len(records)
        note = ""
        if mol is not None and "boltzmann_sweeps" in rep.extra:
            x = rep.extra
            stats = "" if rep.ess is None else f", ESS {rep.ess:.1f} and R-hat {x['boltzmann_rhat']:.2f} (slowest torsion)"
            note = (f"{m.name}: Boltzmann mode, {x['boltzmann_chains']} chains, {x['boltzmann_sweeps']} sweeps per conformer{stats}, "
                    f"torsion moves accepted {x['boltzmann_torsion_acceptance']:.2f}"
                    + (f", {x['boltzmann_kept_start']} replaced by their chain's start (stereo)" if x["boltzmann_kept_start"] else ""))
        out.append(MoleculeResult(m.line, m.name, text, count, "" if mol is not None else rep.reason, tuple(rep.warnings), note))
    return out


_SIGNALS = ("SIGINT", "SIGTERM")
#: holding signals needs POSIX signal masks and sigtimedwait (Linux; not macOS or Windows)
_CAN_HOLD = all(hasattr(signal, f) for f in ("pthread_sigmask", "sigpending", "sigtimedwait"))


@contextlib.contextmanager
def _held_signals():
    """Hold SIGINT and SIGTERM in this thread and in every thread started meanwhile (RDKit's,
    torch's, tqdm's inherit the mask); :func:`_check_signals` acts on them. A signal still held at
    the end is dropped (the work it would have stopped is done)."""
    if not _CAN_HOLD or threading.current_thread() is not threading.main_thread():
        yield  # Ctrl-C works as usual (RDKit's handler included)
        return
    sigs = {getattr(signal, name) for name in _SIGNALS}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        while signal.sigpending() & sigs:
            signal.sigtimedwait(sigs, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _check_signals() -> None:
    """Raise ``KeyboardInterrupt`` for a held Ctrl-C, :class:`Interrupted` for a held SIGTERM."""
    if not _CAN_HOLD:
        return
    sigs = {getattr(signal, name) for name in _SIGNALS}
    pending = signal.sigpending() & sigs
    if pending:
        while signal.sigpending() & sigs:
            signal.sigtimedwait(sigs, 0)
        raise Interrupted() if signal.SIGTERM in pending else KeyboardInterrupt()


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # Pool.terminate() must end the worker


def _results(args, pending):
    """:class:`MoleculeResult` of each molecule of ``pending``, in order: one at a time with
    ``--jobs 1``, else in chunks of at most ``--chunk`` molecules (smaller when that is what keeps
    every worker busy) on ``--jobs`` processes. A held Ctrl-C or SIGTERM is raised here, between
    molecules (or while waiting for a worker)."""
    task = (args.num_conformers, args.seed, args.relax, args.boltzmann, _options(args))
    size = max(1, min(args.chunk, -(-len(pending) // (4 * max(args.jobs, 1)))))
    chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
    if args.jobs <= 1 or len(chunks) <= 1:
        for m in pending:
            _check_signals()
            yield from _work(args.model, [m], *task)
        return
    import functools
    import multiprocessing

    # Pool.__exit__ terminates the workers, also when the consumer is interrupted
    with multiprocessing.Pool(min(args.jobs, len(chunks)), initializer=_worker_init) as pool:
        results = pool.imap(functools.partial(_work, args.model, n=task[0], seed=task[1], relax=task[2], boltzmann=task[3],
                                                   options=task[4]), chunks)
        while True:
            _check_signals()
            try:
                res = results.next(timeout=0.1)
            except multiprocessing.TimeoutError:
                continue
            except StopIteration:
                return
            yield from res


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform reports it)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


def _check_options(args) -> None:
    from geomgen.conformers.io import check_output_path

    if args.jobs is None:
        args.jobs = available_cores()
    for flag, value in (("-n", args.num_conformers), ("--jobs", args.jobs), ("--chunk", args.chunk)):
        if value < 1:
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    if args.seed_iters is not None and args.seed_iters < 0:
        raise UsageError(f"--seed-iters must be 0 or more, got {args.seed_iters}")
    for flag in ("boltzmann_sweeps", "boltzmann_chains"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.ring_seeds is not None and args.ring_seeds < 0:
        raise UsageError(f"--ring-seeds must be 0 or more, got {args.ring_seeds}")
    why = check_output_path(args.output, OUTPUT_SUFFIXES)
    if why:
        raise UsageError(why)
    if args.resume and args.output == "-":
        raise UsageError("--resume needs an output file, not standard output (-)")


def _finished(args, inputs) -> tuple[set, dict]:
    """For ``--resume``: the names of the molecules already in OUT.sdf, and the rows of the failures
    file by name, checked against the input and the options."""
    from pathlib import Path

    from geomgen.conformers.io import failures_path, read_failures, read_sdf_groups

    index = {m.name: i for i, m in enumerate(inputs)}
    same = "--resume needs the input and options of the interrupted run"
    done: set[str] = set()
    last = -1
    out = args.output
    if Path(out).is_file():
        try:
            for g in read_sdf_groups(out):
                i = index.get(g.name)
                if i is None or inputs[i].line != g.line:
                    raise UsageError(f"{out!r}: molecule {g.name!r} (input line {g.line}) is not a molecule of {args.input!r}; {same}")
                if g.records != args.num_conformers:
                    raise UsageError(f"{out!r}: {g.name!r} has {g.records} conformers, not -n {args.num_conformers}; {same}")
                if i <= last:
                    raise UsageError(f"{out!r}: molecules out of input order at {g.name!r}; cannot resume from it")
                done.add(g.name)
                last = i
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot resume: {exc}") from None
    failed = {}
    for row in read_failures(out):
        i = index.get(row.get("name"))
        if i is None or str(inputs[i].line) != row.get("input_line"):
            raise UsageError(f"{str(failures_path(out))!r}: failure {row.get('name')!r} (input line {row.get('input_line')}) is not a "
                             f"molecule of {args.input!r}; {same}")
        failed[row["name"]] = row
    return done, failed


class _Tally:
    def __init__(self, total: int, todo: int):
        self.total, self.todo = total, todo
        self.generated = self.copied = self.molecules = self.records = self.failed = 0


def _stream(args, inputs, done, failed, sdf, failures, tally: _Tally) -> None:
    """Write every molecule in input order: copied from the resumed output, or generated."""
    import csv
    import io

    from tqdm import tqdm

    from geomgen.conformers.io import FAILURE_FIELDS, read_sdf_groups

    def fail(row: dict) -> None:
        tally.failed += 1
        if failures is not None:
            buf = io.StringIO()
            csv.DictWriter(buf, fieldnames=FAILURE_FIELDS).writerow({k: row.get(k, "") for k in FAILURE_FIELDS})
            failures.write(buf.getvalue())

    pending = [m for m in inputs if m.name not in done and m.name not in failed]
    old = read_sdf_groups(args.output) if done else iter(())
    results = _results(args, pending)
    bar = tqdm(total=len(pending), disable=len(pending) < 2, desc="conformers", unit="mol", file=sys.stderr)

    def say(message: str) -> None:  # a line on standard error, above the progress bar
        if bar.disable:
            print(message, file=sys.stderr)
        else:
            bar.write(message, file=sys.stderr)

    interrupted = None
    try:
        for m in inputs:
            if m.name in done:
                g = next(old)
                sdf.write(g.text, g.records)
                tally.molecules += 1
                tally.records += g.records
                tally.copied += 1
            elif m.name in failed:
                fail(failed[m.name])
                tally.copied += 1
            elif interrupted is None:  # after an interruption only the finished molecules are copied on
                try:
                    r = next(results)
                except KeyboardInterrupt as exc:
                    interrupted = exc
                    results.close()
                    continue
                bar.update(1)
                tally.generated += 1
                for warning in r.warnings:
                    say(f"{PROG}: warning: {warning}")
                if r.text:
                    sdf.write(r.text, r.records)
                    tally.molecules += 1
                    tally.records += r.records
                    if r.note:
                        say(r.note)
                else:
                    say(f"{PROG}: {r.reason}")
                    fail({"name": r.name, "input_line": r.line, "input": m.item if isinstance(m.item, str) else "", "reason": r.reason})
    finally:
        results.close()  # ends a worker pool now
        if done:
            old.close()
        bar.close()
    if interrupted is not None:
        raise interrupted


class _Stdout:
    """The streamed-output interface on standard output (no temporary file, no resume)."""

    def __init__(self):
        self.count = 0

    def write(self, text: str, count: int = 1) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        self.count += count


def run(args) -> int:
    """Run ``geomgen conformers``; every failure is one line on standard error (see the module's exit statuses)."""
    try:
        with _held_signals():  # first, before RDKit, torch and tqdm start threads
            return _run(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # not held (not the main thread): before any output was opened
        print(f"{PROG}: {args.input}: interrupted; nothing written", file=sys.stderr)
        return 143 if isinstance(exc, Interrupted) else 130
    except OSError as exc:  # e.g. the disk filled up; the streamed files were closed (finished molecules kept)
        print(f"{PROG}: {exc.filename or args.input}: {exc.strerror or exc}", file=sys.stderr)
        return 1


#: most stereoisomers generated per input molecule with --enumerate-stereo
MAX_STEREOISOMERS = 32


def _enumerate_stereo(inputs):
    """Each input molecule with unspecified stereo replaced by its stereoisomers ``NAME-1``, ``NAME-2``...
    (same input line), said on standard error."""
    from geomgen.conformers.io import InputMolecule, unique_name
    from geomgen.conformers.stereo import stereoisomers

    used = {m.name for m in inputs}
    out = []
    for m in inputs:
        isomers, truncated = stereoisomers(m.item, MAX_STEREOISOMERS) if m.item is not None else ([m.item], False)
        if len(isomers) == 1:
            out.append(m)
            continue
        names = [unique_name(f"{m.name}-{k}", used) for k in range(1, len(isomers) + 1)]
        out += [InputMolecule(m.line, name, iso, m.given_name) for name, iso in zip(names, isomers)]
        more = f" (more exist: the first {MAX_STEREOISOMERS})" if truncated else ""
        print(f"{PROG}: {m.name!r}: {len(isomers)} stereoisomers{more}, generated as {names[0]}..{names[-1]}", file=sys.stderr)
    return out


def _load_model(args, todo: int) -> None:
    """Load the model now (in this process for ``--jobs 1``, else only to check it), so that a bad
    ``--model`` is a usage error and not one failure per worker."""
    import torch

    torch.set_num_threads(1)  # the graphs are tiny: one thread avoids oversubscription (and is faster)
    try:
        if args.jobs <= 1 and todo:
            _generator(args.model)
        elif args.model is not None:
            from geomgen.conformers.checkpoint import load_vonmisesnet

            load_vonmisesnet(args.model)
    except (FileNotFoundError, ValueError) as exc:  # the messages name the file
        raise UsageError(str(exc)) from None
    except RuntimeError as exc:  # load_state_dict: another network's weights
        raise UsageError(f"{args.model}: not a VonMisesNet checkpoint of this version ({str(exc).splitlines()[0]})") from None


def _run(args) -> int:
    from geomgen.conformers.io import StreamedFile, failures_path, read_input_molecules

    _check_options(args)
    inputs = read_input_molecules(args.input, PROG)
    if inputs is None:
        return 2
    for m in inputs:
        if m.name != m.given_name:
            print(f"{PROG}: warning: {args.input}: line {m.line}: the name {m.given_name!r} is used before; "
                  f"this molecule is {m.name!r}", file=sys.stderr)
    if args.enumerate_stereo:
        inputs = _enumerate_stereo(inputs)
    done, failed = _finished(args, inputs) if args.resume else (set(), {})
    if args.resume:
        print(f"{PROG}: resuming {args.output}: {len(done)} molecule(s) done, {len(failed)} failed, "
              f"{len(inputs) - len(done) - len(failed)} to go", file=sys.stderr)

    if args.output == "-":
        sdf, failures = _Stdout(), None
    else:  # opened before any work: a path that cannot be written fails now
        from geomgen.conformers.io import FAILURE_FIELDS

        try:
            sdf = StreamedFile(args.output)
        except OSError as exc:
            raise UsageError(f"{args.output!r}: cannot write: {exc.strerror or exc}") from None
        try:
            failures = StreamedFile(failures_path(args.output), newline="")
        except OSError as exc:
            sdf.discard()
            raise UsageError(f"{str(failures_path(args.output))!r}: cannot write: {exc.strerror or exc}") from None
        failures.file.write(",".join(FAILURE_FIELDS) + "\r\n")
    try:
        _load_model(args, todo=len(inputs) - len(done) - len(failed))
    except BaseException:
        if failures is not None:  # nothing done: the outputs of an earlier run stay as they are
            sdf.discard()
            failures.discard()
        raise
    tally = _Tally(len(inputs), todo=len(inputs) - len(done) - len(failed))
    interrupted = None
    try:
        _stream(args, inputs, done, failed, sdf, failures, tally)
    except KeyboardInterrupt as exc:
        interrupted = exc
    finally:
        kept = _close(sdf, failures, keep_old=interrupted is not None and not tally.generated and not tally.copied)
    if interrupted is not None:
        left = tally.todo - tally.generated
        if args.output == "-":
            where = ""
        elif not tally.generated and not tally.copied:
            where = "; nothing written"
        else:
            held = [f"{args.output} holds the {tally.molecules} finished"] if kept else []
            held += [f"{failures_path(args.output)} the {tally.failed} failed"] if tally.failed else []
            where = f"; {', '.join(held)} (rerun with --resume to continue)"
        print(f"{PROG}: {args.input}: interrupted with {left} of {tally.total} molecule(s) left{where}", file=sys.stderr)
        return 143 if isinstance(interrupted, Interrupted) else 130
    if tally.molecules:
        print(f"wrote {tally.records} conformers of {tally.molecules} molecule(s) to {args.output}", file=sys.stderr)
    elif args.output != "-":
        print(f"{PROG}: {args.input}: every molecule failed; no {args.output} written", file=sys.stderr)
    if tally.failed:
        where = "" if args.output == "-" else f"; see {failures_path(args.output)}"
        print(f"{tally.failed} molecule(s) failed{where}", file=sys.stderr)
    return 0 if tally.molecules else 1


def _close(sdf, failures, keep_old: bool) -> bool:
    """Move the streamed files into place (a file with nothing in it is not written, and a stale
    one from an earlier run is removed); with ``keep_old`` (interrupted before anything was done)
    drop them and leave the earlier files alone. Return whether OUT.sdf was written."""
    if failures is None:
        return bool(sdf.count)
    if keep_old:
        sdf.discard()
        failures.discard()
        return False
    failures.finish()
    return sdf.finish()
