"""``geomgen conformers``: 3D conformers from SMILES with VonMisesNet.

Records are streamed: each molecule's conformers are appended, in input order, to a partial file
beside the output as soon as it is done (block by block for a large ``-n``; a molecule is
written whole or not at all), which replaces the output at the end; failures go the same way
into ``OUT.failures.csv`` (:mod:`geomgen.conformers.resumable`). Ctrl-C or SIGTERM moves what is
finished into place; a kill leaves the partial files; ``--resume`` continues from either without
redoing a finished molecule, and refuses when the input or an option that changes the output
differs (every record carries the options' fingerprint and a hash of its input record). A
molecule's conformers depend only on (molecule, seed, -n, options), so a resumed job writes the
same bytes as an uninterrupted one.

Ctrl-C and SIGTERM are held from the start of the command (:mod:`geomgen.signals`, before numpy,
RDKit and torch start threads) and acted on between molecules: RDKit's ETKDG catches SIGINT itself
and returns no conformers ("Interrupted, cancelling conformer generation"), which would otherwise
turn Ctrl-C into a false failure and carry on.

With an output folder (``-o OUT/``, or ``--dask ADDRESS``) the input is cut into chunks, each
written atomically as ``OUT/chunk-NNNNN.sdf`` and ``.failures.csv`` by this process when it comes
back from a local process pool or a ``dask.distributed`` cluster (:mod:`geomgen.conformers.chunked`);
``--resume`` skips the finished chunks.

Exit status: 0 when conformers were written, 1 when every molecule failed (or the work failed),
2 for a usage error (bad option, input or output path; nothing is done), 130 when interrupted by Ctrl-C
(143 by SIGTERM).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from typing import NamedTuple

from geomgen import signals
from geomgen.conformers.commands._common import EXIT_USAGE, interrupted_status, usage_error

PROG = "geomgen conformers"
#: output file types
OUTPUT_SUFFIXES = (".sdf",)


#: the --help epilog: an output folder, and a run on a Dask cluster
CLUSTER_RECIPE = """\
output folder (-o OUT/): chunk i of the input becomes OUT/chunk-0000i.sdf and .failures.csv, each
written atomically; --resume skips finished chunks; cat OUT/chunk-*.sdf is the single-file output.

on a dask.distributed cluster (pip install "geomgen[dask]" on the client and on every worker):
  dask scheduler                                             # prints its address
  dask worker tcp://HOST:8786 --nworkers 8 --nthreads 1      # on each worker machine
  geomgen conformers big.smi -n 10 -o out/ --dask tcp://HOST:8786 [--resume]
workers need the same geomgen version and the model file at the same path (checked by hash; the
shipped one by default); only this process writes out/, so workers need no shared disk."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from geomgen.conformers.generator import (
        DEFAULT_BOLTZMANN_CHAINS,
        DEFAULT_BOLTZMANN_STATE_MOVES,
        DEFAULT_BOLTZMANN_SWEEPS,
        DEFAULT_RING_CONFORMATIONS,
        DEFAULT_RING_SEEDS,
        DEFAULT_SEED_ITERS,
    )

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = CLUSTER_RECIPE

    p.add_argument("input", help="a SMILES string or a .smi / .csv / .sdf file")
    p.add_argument("-n", "--num-conformers", type=int, default=10, help="conformers per molecule (default 10)")
    p.add_argument("-o", "--output", required=True,
                   help="output .sdf (one record per conformer); - for standard output; a folder (a name ending in /, "
                        "or any name with --dask) for a chunked run: OUT/chunk-NNNNN.sdf and .failures.csv per chunk of the input, "
                        "each written atomically, which concatenated are the single-file output byte for byte")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--relax", action="store_true", help="MMFF94-minimise every conformer")
    p.add_argument("--relax-bonds", type=int, default=None, metavar="ITERS",
                   help="relax every conformer's bond lengths, angles and ring puckers by ITERS MMFF94 iterations with "
                        "its sampled torsions held (default 0: none; 200 lowered the RMSD to the Boltzmann references "
                        "by 0.02 A at the same torsion distribution, about 12x slower; --relax relaxes the torsions too)")
    p.add_argument("--boltzmann", action="store_true",
                   help="conformers from short chains of the exact MMFF94 Boltzmann sampler (300 K, every coordinate flexible, "
                        "ring puckers included) started at the network's samples: closer to the Boltzmann law, slower; "
                        "reports each molecule's effective sample size and R-hat")
    p.add_argument("--boltzmann-sweeps", type=int, default=None,
                   help=f"sampler sweeps per conformer with --boltzmann (default {DEFAULT_BOLTZMANN_SWEEPS}; more is closer "
                        "to the Boltzmann law and slower)")
    p.add_argument("--boltzmann-chains", type=int, default=None,
                   help=f"sampler chains per molecule with --boltzmann (default {DEFAULT_BOLTZMANN_CHAINS})")
    p.add_argument("--boltzmann-state-moves", type=float, default=None, metavar="RATE",
                   help="amide E/Z flips per sweep in the --boltzmann chains, nitrogen inversions at half this rate "
                        f"(default {DEFAULT_BOLTZMANN_STATE_MOVES:g}; 0: every conformer keeps its seed's amide and "
                        "nitrogen states)")
    p.add_argument("--seed-iters", type=int, default=None,
                   help="MMFF94 iterations on each molecule's seed geometry before its torsions are sampled (default "
                        f"{DEFAULT_SEED_ITERS}; --relax and --boltzmann always minimise it fully)")
    p.add_argument("--ring-seeds", type=int, default=None,
                   help=f"up to this many seed geometries, each with its own ring conformations, for a molecule with a "
                        f"non-aromatic ring below macrocycle size, sharing the conformers by Boltzmann weight (default "
                        f"{DEFAULT_RING_SEEDS}: the seed method's own, up to {DEFAULT_RING_CONFORMATIONS} assembled seeds or "
                        "one ETKDGv3 seed; 1: one seed; with --seed-method etkdg, 4 matched ETKDGv3+MMFF's coverage on "
                        "drugs at a fifth of geomgen's speed)")
    p.add_argument("--seed-method", choices=("etkdg", "assembly"), default=None,
                   help="how each molecule's seed geometries are made: assembly (default: ring systems from the "
                        "ring-conformation library, several ring conformations per molecule by weight, the rest from "
                        "standard bond lengths and angles, MMFF94-minimised briefly; ETKDGv3 where assembly cannot place a "
                        "molecule) or etkdg (one ETKDGv3 embedding, MMFF94-minimised briefly). Ring conformations are "
                        "cached per user (GEOMGEN_CACHE_DIR)")
    p.add_argument("--amide-states", choices=("library", "usual"), default=None,
                   help="how assembled seeds place amide (carbamate, urea, ester) E/Z states: usual (default: heavy "
                        "groups anti on every site) or library (each site's state drawn by its probability from the "
                        "fragment library of MMFF94 state energies, shipped for the training and evaluation molecules "
                        "and built on first use and cached per user for others: slow on a new library's first run)")
    p.add_argument("--state-seeds", type=int, default=None, metavar="K",
                   help="at most K seeds per molecule in its low-energy combinations of amide (carbamate, urea, ester, "
                        "acid) E/Z states, each MMFF94-minimised and given a share of the conformers by its Boltzmann "
                        "weight (default 0: every conformer in its seed's states). With --amide-states library they "
                        "cover the sites the library does not place, such as a carboxylic acid's O-H (the two together "
                        "put the amide populations within 0.1 of the references' on average on each evaluation split: "
                        "evaluation/conformers/RESULTS.md)")
    p.add_argument("--acid-states", choices=("minima", "usual"), default=None,
                   help="how a carboxylic acid's O-H (syn/anti) is placed when --state-seeds does not seed it: minima "
                        "(default: seeds in both states sharing the conformers by the MMFF94 minima's Boltzmann weights; "
                        "an O-H hydrogen-bonded to a neighbouring carbonyl or amine is anti in MMFF94) or usual (syn on every "
                        "conformer, as before 2026-12-06). Molecules without an acid are not affected")
    p.add_argument("--draws", choices=("stratified", "independent"), default=None,
                   help="how the mixture components of each torsion are chosen across a molecule's draws: stratified "
                        "(default: systematic sampling in a random order; every conformer still follows the predicted "
                        "law, and a component of weight w gets floor or ceil of its share instead of a binomial count) "
                        "or independent")
    p.add_argument("--model", default=None, help="VonMisesNet checkpoint (default: the shipped models/vonmisesnet.ckpt)")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel worker processes for files (default: every core this process may use, like RDKit's "
                        "numThreads=0; 1 for one process)")
    p.add_argument("--chunk", type=int, default=None,
                   help="molecules per worker task (default 64); with an output folder, molecules per chunk file (default: "
                        "about 10,000 conformers per chunk, and at least 64 chunks for an input that large)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run the chunks on the dask.distributed scheduler at ADDRESS (e.g. tcp://10.0.0.5:8786; needs "
                        "pip install 'geomgen[dask]'); -o must be a folder. Every worker needs the same geomgen version "
                        "and model file at the same path (checked by hash); the output folder is written by this "
                        "process only. --jobs does not apply")
    p.add_argument("--enumerate-stereo", action="store_true",
                   help="generate every stereoisomer of a molecule with unspecified stereocentres or double bonds, each as "
                        "its own molecule NAME-1, NAME-2... (at most 32; default: one isomer, reported)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted job: keep the molecules already in OUT.sdf and OUT.failures.csv "
                        "(same input and options), generate the rest; with an output folder, skip the finished chunks")


class UsageError(Exception):
    """A bad option, input or output path: one line, exit status 2, nothing done."""


#: conformers of one molecule generated (and held in memory) at a time: a larger ``-n`` is made
#: block by block (:meth:`~geomgen.conformers.generator.ConformerGenerator.generate_many`'s
#: ``block``), written as each block is done, so memory stays flat in ``-n``
BLOCK = 1000

#: SD properties that geomgen writes itself; an input record's own are carried over, these are not
OWN_PROPERTIES = frozenset({"molecule", "input_line", "conformer", "torsions_rad", "MMFF94_energy_kcal_mol", "ring_seed",
                            "geomgen_options", "input_hash"})

#: R-hat above this says the Boltzmann-mode chains have not mixed
RHAT_WARN = 1.1


class Task(NamedTuple):
    """One block of one molecule's conformers, as a worker receives it."""

    line: int
    name: str
    item: object
    block: int
    count: int  # conformers in this block
    first: int  # index of the block's first conformer
    props: dict  # SD properties every record carries (from the input record, and the job's fingerprint)


class BlockResult(NamedTuple):
    """One block's outcome, as a worker sends it back: its SD records as text, or why it failed."""

    line: int
    name: str
    block: int
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
             "boltzmann_chains": args.boltzmann_chains, "boltzmann_state_moves": getattr(args, "boltzmann_state_moves", None),
             "ring_seeds": args.ring_seeds,
             "seed_method": getattr(args, "seed_method", None),
             "stratify": None if getattr(args, "draws", None) is None else args.draws == "stratified",
             "amide_states": getattr(args, "amide_states", None), "relax_bonds": getattr(args, "relax_bonds", None),
             "state_seeds": getattr(args, "state_seeds", None), "acid_states": getattr(args, "acid_states", None)}
    defaults = {"seed_iters": g.DEFAULT_SEED_ITERS, "boltzmann_sweeps": g.DEFAULT_BOLTZMANN_SWEEPS,
                "boltzmann_chains": g.DEFAULT_BOLTZMANN_CHAINS, "boltzmann_state_moves": g.DEFAULT_BOLTZMANN_STATE_MOVES,
                "ring_seeds": g.DEFAULT_RING_SEEDS,
                "seed_method": g.DEFAULT_SEED_METHOD, "stratify": g.DEFAULT_STRATIFY, "amide_states": g.DEFAULT_AMIDE_STATES,
                "relax_bonds": g.DEFAULT_RELAX_BONDS, "state_seeds": g.DEFAULT_STATE_SEEDS, "acid_states": g.DEFAULT_ACID_STATES}
    return {k: defaults[k] if v is None else v for k, v in given.items()}


def _model_digest(model) -> str:
    """``sha256:`` and the first 16 hex digits of the model file's hash (the shipped one by default)."""
    import hashlib

    from geomgen.conformers.generator import _model_path

    h = hashlib.sha256()
    with open(_model_path(model), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()[:16]


def fingerprint(args) -> str:
    """The options that decide the output, as ``flag=value`` words: every record carries it, and
    ``--resume`` refuses to continue a job whose records carry another."""
    from geomgen import __version__

    opts = _options(args)
    words = {"-n": args.num_conformers, "--seed": args.seed, "--relax": int(args.relax), "--boltzmann": int(args.boltzmann),
             "--seed-iters": opts["seed_iters"], "--ring-seeds": opts["ring_seeds"],
             "--seed-method": opts["seed_method"], "--draws": "stratified" if opts["stratify"] else "independent",
             "--amide-states": opts["amide_states"], "--acid-states": opts["acid_states"],
             "--boltzmann-sweeps": opts["boltzmann_sweeps"], "--boltzmann-chains": opts["boltzmann_chains"],
             "--enumerate-stereo": int(args.enumerate_stereo), "--model": _model_digest(args.model), "geomgen": __version__}
    if opts["relax_bonds"]:  # only when asked for: the fingerprints of earlier runs stay what they were
        words["--relax-bonds"] = opts["relax_bonds"]
    if opts["state_seeds"] > 1:  # the same (0 and 1 both mean one seed's states)
        words["--state-seeds"] = opts["state_seeds"]
    if args.boltzmann and opts["boltzmann_state_moves"]:  # the same
        words["--boltzmann-state-moves"] = opts["boltzmann_state_moves"]
    return " ".join(f"{k}={v}" for k, v in words.items())


def _fingerprint_difference(stored: str | None, current: str) -> str | None:
    """What differs between two fingerprints, in words (``None`` when nothing does)."""
    if stored == current:
        return None
    if not stored:
        return "it was written without the options' fingerprint (another program, or an older geomgen)"
    old = dict(w.partition("=")[::2] for w in stored.split())
    new = dict(w.partition("=")[::2] for w in current.split())
    diff = [f"{k} {new.get(k, '(none)')} (was {old.get(k, '(none)')})" for k in dict.fromkeys([*new, *old]) if old.get(k) != new.get(k)]
    return "options differ: " + ", ".join(diff)


def input_hash(item) -> str:
    """A short hash of an input record (its SMILES text, or its SD record), so ``--resume`` can tell
    when the input changed under a molecule's name."""
    import hashlib

    if item is None:
        text = ""
    elif isinstance(item, str):
        text = item
    else:
        from rdkit import Chem

        text = Chem.MolToMolBlock(item)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def carried_properties(item) -> dict:
    """The SD properties of an input record (as text) that the output records carry over."""
    if item is None or isinstance(item, str):
        return {}
    from geomgen.conformers.io import sd_safe_name

    def safe(value: str) -> str:  # one value line per line of text, none empty, none an SD record end
        return "\n".join(sd_safe_name(v) or "_" for v in value.splitlines()) if value else value

    return {sd_safe_name(k): safe(item.GetProp(k)) for k in item.GetPropNames() if k not in OWN_PROPERTIES and not k.startswith("_")}


def _generator(model, options: dict | None = None, cache: dict | None = None):
    """The generator of ``model`` (loaded once per ``cache``, by default one per process), set to ``options``."""
    from geomgen.conformers.generator import ConformerGenerator

    cache = _GEN if cache is None else cache
    if model not in cache:
        cache[model] = ConformerGenerator.from_checkpoint(model)
    gen = cache[model]
    for key, value in (options or {}).items():
        setattr(gen, key, value)
    return gen


def _boltzmann_note(name: str, x: dict, ess) -> str:
    rhat = x.get("boltzmann_rhat")
    stats = "" if ess is None else (f", ESS {ess:.1f} and R-hat {rhat:.2f} (slowest torsion; R-hat near 1 means the chains agree, "
                                     f"above {RHAT_WARN} that they have not mixed)")
    note = (f"{name}: Boltzmann mode, {x['boltzmann_chains']} chains, {x['boltzmann_sweeps']} sweeps per conformer{stats}, "
            f"torsion moves accepted {x['boltzmann_torsion_acceptance']:.2f}"
            + (f", {x['boltzmann_kept_start']} replaced by their chain's start (stereo)" if x["boltzmann_kept_start"] else ""))
    if rhat is not None and rhat > RHAT_WARN:
        note += (f"\n{PROG}: warning: {name}: R-hat {rhat:.2f} > {RHAT_WARN}: the Boltzmann-mode chains have not mixed, so the "
                 "conformers are not yet Boltzmann-distributed; raise --boltzmann-sweeps")
    return note


def _work(model, tasks, seed, relax, boltzmann, options=None, cache=None) -> list[BlockResult]:
    """Generate each :class:`Task` of ``tasks`` and render its SD records (the generator taken
    from ``cache``, see :func:`_generator`)."""
    import torch

    torch.set_num_threads(1)
    from geomgen.conformers.io import sdf_records

    gen = _generator(model, options, cache)
    out = []
    for t in tasks:
        mols, reports = gen.generate_many([(t.name, t.item)], t.count, seed=seed, relax=relax, boltzmann=boltzmann, block=t.block)
        mol, rep = mols[0], reports[0]
        text, count = "", 0
        if mol is not None:
            props = []
            for c, conf in enumerate(mol.GetConformers()):
                p = dict(t.props)
                p.update({"_Name": f"{t.name}_{t.first + c}", "molecule": t.name, "input_line": t.line, "conformer": t.first + c})
                p.update(conf.GetPropsAsDict())
                p["geomgen_options"], p["input_hash"] = t.props["geomgen_options"], t.props["input_hash"]
                props.append(p)
            records = list(sdf_records(mol, props))
            text, count = "".join(records), len(records)
        note = _boltzmann_note(t.name, rep.extra, rep.ess) if mol is not None and "boltzmann_sweeps" in rep.extra else ""
        out.append(BlockResult(t.line, t.name, t.block, text, count, "" if mol is not None else rep.reason, tuple(rep.warnings), note))
    return out


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # Pool.terminate() must end the worker


def _tasks(args, pending, fp: str) -> list[Task]:
    """The blocks of every pending molecule, in order."""
    n = args.num_conformers
    out = []
    for m in pending:
        props = {**carried_properties(m.item), "geomgen_options": fp, "input_hash": input_hash(m.item)}
        for b, first in enumerate(range(0, n, BLOCK)):
            out.append(Task(m.line, m.name, m.item, b, min(BLOCK, n - first), first, props))
    return out


def _results(args, tasks):
    """:class:`BlockResult` of each task, in order: one at a time with ``--jobs 1``, else in chunks
    of at most ``--chunk`` tasks (smaller when that is what keeps every worker busy) on ``--jobs``
    processes. A held Ctrl-C or SIGTERM is raised here, between tasks (or while waiting for a worker)."""
    settings = {"seed": args.seed, "relax": args.relax, "boltzmann": args.boltzmann, "options": _options(args)}
    size = max(1, min(args.chunk, -(-len(tasks) // (4 * max(args.jobs, 1)))))
    chunks = [tasks[i : i + size] for i in range(0, len(tasks), size)]
    if args.jobs <= 1 or len(chunks) <= 1:
        for t in tasks:
            signals.check()
            yield from _work(args.model, [t], **settings)
        return
    import functools
    import multiprocessing

    # Pool.__exit__ terminates the workers, also when the consumer is interrupted
    with multiprocessing.Pool(min(args.jobs, len(chunks)), initializer=_worker_init) as pool:
        results = pool.imap(functools.partial(_work, args.model, **settings), chunks)
        while True:
            signals.check()
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


def _same_file(a, b) -> bool:
    import os
    from pathlib import Path

    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _check_options(args) -> None:
    from pathlib import Path

    from geomgen.conformers.chunked import folder_problem, is_folder_output
    from geomgen.conformers.io import check_output_path, failures_path
    from geomgen.conformers.resumable import partial_path

    if args.jobs is None:
        args.jobs = available_cores()
    if getattr(args, "folder", None) is None:
        args.folder = is_folder_output(args.output, getattr(args, "dask", None))
    if args.chunk is None and not args.folder:
        args.chunk = 64
    for flag, value in (("-n", args.num_conformers), ("--jobs", args.jobs), ("--chunk", 1 if args.chunk is None else args.chunk)):
        if value < 1:
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    if args.seed_iters is not None and args.seed_iters < 0:
        raise UsageError(f"--seed-iters must be 0 or more, got {args.seed_iters}")
    for flag in ("boltzmann_sweeps", "boltzmann_chains"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    rate = getattr(args, "boltzmann_state_moves", None)
    if rate is not None and not (rate >= 0 and math.isfinite(rate)):
        raise UsageError(f"--boltzmann-state-moves must be 0 or more, got {rate}")
    if getattr(args, "relax_bonds", None) is not None and args.relax_bonds < 0:
        raise UsageError(f"--relax-bonds must be 0 or more, got {args.relax_bonds}")
    if getattr(args, "state_seeds", None) is not None and args.state_seeds < 0:
        raise UsageError(f"--state-seeds must be 0 or more, got {args.state_seeds}")
    if args.ring_seeds is not None and args.ring_seeds < 0:
        raise UsageError(f"--ring-seeds must be 0 or more, got {args.ring_seeds}")
    if args.folder:
        why = folder_problem(args.output)
        if why:
            raise UsageError(why)
        return
    why = check_output_path(args.output, OUTPUT_SUFFIXES)
    if why:
        if Path(args.output).is_dir() or not Path(args.output).suffix:
            why += f" (or {args.output.rstrip('/')}/, ending in /, for a folder of chunk files)"
        raise UsageError(why)
    if args.resume and args.output == "-":
        raise UsageError("--resume needs an output file, not standard output (-)")
    if args.output == "-" and (sys.stdout is None or sys.stdout.closed):
        raise UsageError("-o -: standard output is closed; give an output file")
    if args.output != "-":
        written = [args.output, failures_path(args.output), partial_path(args.output), partial_path(failures_path(args.output))]
        for path in written:
            if _is_input_file(args.input) and _same_file(path, args.input):
                raise UsageError(f"{str(path)!r}: is the input {args.input!r}; this job would overwrite (or delete) it: "
                                 "choose another output name")
        missing = [p for p in Path(args.output).resolve().parents if not p.exists()]
        if missing:
            print(f"{PROG}: creating folder {str(missing[-1])!r} for the output", file=sys.stderr)


def _is_input_file(source: str) -> bool:
    from pathlib import Path

    try:
        return Path(source).is_file()
    except OSError:  # e.g. a SMILES longer than a file name may be
        return False


class _ResumePoint(NamedTuple):
    """Where a resumed job starts: the first ``done`` input molecules are finished (their records
    are the first ``end`` bytes of ``source``, their failures ``rows``)."""

    source: object
    end: int
    rows: list
    done: int
    molecules: int
    redone: int


def _resume_point(args, inputs, files, fp: str) -> _ResumePoint:
    """Check what an interrupted job left (its partial files if it was killed, else OUT.sdf and
    OUT.failures.csv) against the input and the options, and find the finished prefix."""
    from geomgen.conformers.resumable import SDFScan, read_failure_rows, scan_sdf

    same = "--resume needs the input and options of the interrupted run"
    if files.has_partial():
        sdf_src, fail_src = files.sdf_partial, files.failures_partial
        print(f"{PROG}: recovering the finished molecules of a run that was killed ({str(files.sdf_partial)!r})", file=sys.stderr)
    else:
        sdf_src = files.output if files.output.is_file() else None
        fail_src = files.failures if files.failures.is_file() else None
    try:
        scan = scan_sdf(sdf_src) if sdf_src is not None else SDFScan([], 0, False)
        rows = read_failure_rows(fail_src) if fail_src is not None else []
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot resume: {exc}") from None
    index = {m.name: i for i, m in enumerate(inputs)}
    hashes: dict[int, str] = {}
    status: dict[int, object] = {}
    for where, name, line, stored_fp, stored_hash, value in (
            [(sdf_src, g.name, str(g.line), g.props.get("geomgen_options"), g.props.get("input_hash"), g) for g in scan.molecules]
            + [(fail_src, r.get("name"), r.get("input_line"), r.get("options"), r.get("input_hash"), r) for r in rows]):
        i = index.get(name)
        if i is None or str(inputs[i].line) != line:
            raise UsageError(f"{str(where)!r}: molecule {name!r} (input line {line}) is not a molecule of {args.input!r}; {same}")
        diff = _fingerprint_difference(stored_fp, fp)
        if diff:
            raise UsageError(f"{str(where)!r}: cannot resume: {diff}; {same}")
        if i not in hashes:
            hashes[i] = input_hash(inputs[i].item)
        if stored_hash != hashes[i]:
            raise UsageError(f"{str(where)!r}: molecule {name!r} (input line {line}) was made from another input record than "
                             f"the one now on that line of {args.input!r}; {same}")
        if i in status:
            raise UsageError(f"{str(where)!r}: molecule {name!r} appears twice; cannot resume from it")
        status[i] = value
    done = end = molecules = 0
    kept = []
    while done in status:
        v = status[done]
        if isinstance(v, dict):
            kept.append(v)
        elif v.records == args.num_conformers and v.start == end:
            end = v.end
            molecules += 1
        else:  # a molecule cut short by a kill: made again
            break
        done += 1
    return _ResumePoint(sdf_src, end, kept, done, molecules, len(status) - done)


class _Tally:
    def __init__(self, total: int, todo: int):
        self.total, self.todo = total, todo
        self.generated = self.copied = self.molecules = self.records = self.failed = 0


class _Stdout:
    """The job-files interface on standard output (no partial files, no resume)."""

    molecules = failed = 0

    def begin(self) -> None:
        pass

    def write_records(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def commit(self) -> None:
        self.molecules += 1

    def rollback(self) -> None:  # written already; a molecule that fails half-way is reported
        pass

    def write_failure(self, row: dict) -> None:
        self.failed += 1


def _stream(args, pending, tasks, files, tally: _Tally) -> None:
    """Generate every pending molecule, block by block, appending each to the job's files in input
    order: a molecule is written whole or not at all."""
    from tqdm import tqdm

    results = _results(args, tasks)
    bar = tqdm(total=len(pending), disable=len(pending) < 2, desc="conformers", unit="mol", file=sys.stderr)

    def say(message: str) -> None:  # a line on standard error, above the progress bar
        if bar.disable:
            print(message, file=sys.stderr)
        else:
            bar.write(message, file=sys.stderr)

    try:
        _assemble(args.num_conformers, pending, tasks, results, files, tally, say, step=lambda: bar.update(1))
    finally:
        results.close()  # ends a worker pool now
        bar.close()


def _assemble(n: int, pending, tasks, results, files, tally: _Tally, say, step=None) -> None:
    """Put each pending molecule's :class:`BlockResult` (``results``, in the order of ``tasks``)
    into ``files``: its records, committed when every block succeeded, else rolled back and a
    failure row written; warnings and notes go to ``say``. (The one definition of a job's output,
    for a single file and for each chunk of an output folder.)"""
    blocks = -(-n // BLOCK)
    for m in pending:
        files.begin()
        reason, written = "", 0
        for b in range(blocks):
            try:
                r = next(results)
            except KeyboardInterrupt:
                files.rollback()
                raise
            if reason:  # the molecule failed in an earlier block: its later blocks are dropped
                continue
            for warning in r.warnings if b == 0 else ():
                say(f"{PROG}: warning: {warning}")
            if r.text:
                files.write_records(r.text)
                written += r.records
                if r.note:
                    say(r.note)
            else:
                reason = r.reason if b == 0 else f"{r.reason} (in conformers {b * BLOCK}..; the first {written} were made)"
        if step is not None:
            step()
        tally.generated += 1
        if reason:
            files.rollback()
            say(f"{PROG}: {reason}")
            tally.failed += 1
            files.write_failure({"name": m.name, "input_line": m.line, "input": m.item if isinstance(m.item, str) else "",
                                 "reason": reason, "options": tasks[0].props["geomgen_options"], "input_hash": input_hash(m.item)})
        else:
            files.commit()
            tally.molecules += 1
            tally.records += written


def run(args) -> int:
    """Run ``geomgen conformers``; every failure is one line on standard error (see the module's exit statuses)."""
    try:
        with signals.held():  # already held by geomgen.cli, before numpy, RDKit and torch started threads
            return _run(args)
    except UsageError as exc:
        return usage_error(PROG, str(exc))
    except KeyboardInterrupt as exc:  # before any output was opened
        print(f"{PROG}: {args.input}: interrupted; nothing written", file=sys.stderr)
        return interrupted_status(exc)
    except OSError as exc:  # e.g. the disk filled up
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


def _load_model(args, todo: int, here: bool | None = None) -> None:
    """Load the model now (in this process for ``--jobs 1``, or ``here``, else only to check it), so
    that a bad ``--model`` is a usage error and not one failure per worker."""
    import torch

    torch.set_num_threads(1)  # the graphs are tiny: one thread avoids oversubscription (and is faster)
    try:
        if (args.jobs <= 1 if here is None else here) and todo:
            _generator(args.model)
        elif args.model is not None:
            from geomgen.conformers.checkpoint import load_vonmisesnet

            load_vonmisesnet(args.model)
    except (FileNotFoundError, ValueError) as exc:  # the messages name the file
        raise UsageError(str(exc)) from None
    except RuntimeError as exc:  # load_state_dict: another network's weights
        raise UsageError(f"{args.model}: not a VonMisesNet checkpoint of this version ({str(exc).splitlines()[0]})") from None


def _prepare_inputs(args):
    """The input molecules (stereoisomers enumerated with ``--enumerate-stereo``), or ``None`` after
    one line on standard error saying why not."""
    from geomgen.conformers.io import read_input_molecules

    inputs = read_input_molecules(args.input, PROG)
    if inputs is None:
        return None
    for m in inputs:
        if m.name != m.given_name:
            print(f"{PROG}: warning: {args.input}: line {m.line}: the name {m.given_name!r} is used before; "
                  f"this molecule is {m.name!r}", file=sys.stderr)
    if args.enumerate_stereo:
        inputs = _enumerate_stereo(inputs)
    return inputs


def _job_fingerprint(args) -> str:
    """:func:`fingerprint`, a model that cannot be read being a usage error."""
    try:
        return fingerprint(args)
    except OSError as exc:
        raise UsageError(f"{str(exc.filename or args.model)!r}: cannot read the model: {exc.strerror or exc}") from None


def ineffective_options(args) -> list[str]:
    """Warnings for flags given with another flag that makes them do nothing (the run goes on)."""
    from geomgen.conformers import generator as g

    out = []
    method = getattr(args, "seed_method", None) or g.DEFAULT_SEED_METHOD
    if getattr(args, "amide_states", None) is not None and method != "assembly":
        out.append(f"--amide-states {args.amide_states} has no effect with --seed-method {method}: ETKDGv3 seeds keep the "
                   "amide states they were embedded in")
    if getattr(args, "acid_states", None) is not None and (getattr(args, "state_seeds", None) or 0) > 1:
        out.append(f"--acid-states {args.acid_states} has no effect with --state-seeds {args.state_seeds}: the state seeds "
                   "cover the acids' O-H too")
    if getattr(args, "relax_bonds", None) and (args.relax or args.boltzmann):
        out.append(f"--relax-bonds has no effect with --{'relax' if args.relax else 'boltzmann'}")
    if args.seed_iters is not None and (args.relax or args.boltzmann):
        out.append(f"--seed-iters {args.seed_iters} has no effect with --{'relax' if args.relax else 'boltzmann'}: "
                   "the seed is always minimised fully there")
    if not args.boltzmann:
        for flag in ("boltzmann_sweeps", "boltzmann_chains", "boltzmann_state_moves"):
            if getattr(args, flag, None) is not None:
                out.append(f"--{flag.replace('_', '-')} has no effect without --boltzmann")
    return out


def _run(args) -> int:
    from geomgen.conformers.io import failures_path

    _check_options(args)
    for warning in ineffective_options(args):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    inputs = _prepare_inputs(args)
    if inputs is None:
        return EXIT_USAGE
    fp = _job_fingerprint(args)
    if args.folder:
        return _run_folder(args, inputs, fp)
    _load_model(args, todo=len(inputs))  # before the job's files are touched: a bad --model changes nothing
    if args.output == "-":
        files, start = _Stdout(), _ResumePoint(None, 0, [], 0, 0, 0)
    else:
        files, start = _open_job(args, inputs, fp)
    pending = inputs[start.done:]
    tally = _Tally(len(inputs), todo=len(pending))
    tally.copied, tally.molecules, tally.failed = start.done, start.molecules, len(start.rows)
    interrupted = None
    try:
        _stream(args, pending, _tasks(args, pending, fp), files, tally)
    except KeyboardInterrupt as exc:
        interrupted = exc
    except BaseException:
        if args.output != "-":  # keep the partial files: --resume continues from them
            files.release()
        raise
    if args.output != "-":
        if interrupted is not None and not tally.generated and not tally.copied:
            files.discard()
            kept = False
        else:
            kept = files.finish()
    else:
        kept = bool(files.molecules)
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
        return interrupted_status(interrupted)
    if tally.molecules:
        records = tally.records + start.molecules * args.num_conformers
        print(f"wrote {records} conformers of {tally.molecules} molecule(s) to {args.output}", file=sys.stderr)
    elif args.output != "-":
        print(f"{PROG}: {args.input}: every molecule failed; no {args.output} written", file=sys.stderr)
    if tally.failed:
        where = "" if args.output == "-" else f"; see {failures_path(args.output)}"
        print(f"{tally.failed} molecule(s) failed{where}", file=sys.stderr)
    return 0 if tally.molecules else 1


def _run_folder(args, inputs, fp: str) -> int:
    """A chunked run into the folder ``args.output``, in this process (``--jobs 1``), on a local
    process pool, or on the Dask cluster of ``--dask`` (:mod:`geomgen.conformers.chunked`)."""
    import contextlib

    from geomgen.conformers.chunked import FolderError, dask_executor, run_folder

    _load_model(args, todo=len(inputs), here=not args.dask and args.jobs <= 1)  # else only checked: the workers load it
    try:
        with contextlib.ExitStack() as stack:
            if args.dask:
                executor = stack.enter_context(dask_executor(args.dask))
            elif args.jobs > 1:
                from concurrent.futures import ProcessPoolExecutor

                executor = stack.enter_context(ProcessPoolExecutor(args.jobs, initializer=_worker_init))
            else:
                executor = None
            res = run_folder(args, inputs, fp, executor=executor)
            if executor is not None and not args.dask and (res.interrupted is not None or res.error):
                _end_pool(executor)  # a Ctrl-C must not wait for the chunks still running
    except FolderError as exc:
        raise UsageError(str(exc)) from None
    where = f"{args.output.rstrip('/')}/"
    done = f"{res.written} chunk(s) written now, {res.skipped} already done, {res.chunks} in all"
    if res.written:
        print(f"wrote {res.records} conformers of {res.molecules} molecule(s) to {where} ({done})", file=sys.stderr)
    else:
        print(f"{PROG}: {where}: {done}", file=sys.stderr)
    if res.failed:
        print(f"{res.failed} molecule(s) failed; see {where}chunk-*.failures.csv", file=sys.stderr)
    if res.interrupted is not None:
        print(f"{PROG}: {args.input}: interrupted with {res.chunks - res.skipped - res.written} of {res.chunks} chunk(s) "
              f"left; the finished chunks are in {where} (rerun with --resume to continue)", file=sys.stderr)
        return interrupted_status(res.interrupted)
    if res.error:
        print(f"{PROG}: {res.error}; the finished chunks are kept (rerun with --resume to continue)", file=sys.stderr)
        return 1
    return 1 if res.generated and not res.molecules else 0


def _end_pool(executor) -> None:
    """End a process pool's workers now (Ctrl-C or an error: the chunks they run are not wanted)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()


def _open_job(args, inputs, fp: str):
    """Lock the job's partial files and fill them: empty, or with what ``--resume`` keeps."""
    from geomgen.conformers.resumable import JobFiles, OutputBusy

    files = JobFiles(args.output)
    stale = files.has_partial()
    try:
        files.lock()
    except OutputBusy as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{args.output!r}: cannot write: {exc.strerror or exc}") from None
    try:
        if args.resume:
            start = _resume_point(args, inputs, files, fp)
            print(f"{PROG}: resuming {args.output}: {start.molecules} molecule(s) done, {len(start.rows)} failed, "
                  f"{len(inputs) - start.done} to go" + (f" ({start.redone} finished after the first unfinished one are made again)"
                                                         if start.redone else ""), file=sys.stderr)
            files.start(start.source, start.end, start.rows)
        else:
            if stale:
                print(f"{PROG}: warning: starting over; the unfinished output of a killed run ({str(files.sdf_partial)!r}) "
                      "is replaced (--resume would have continued it)", file=sys.stderr)
            start = _ResumePoint(None, 0, [], 0, 0, 0)
            files.start()
    except UsageError:
        files.release()
        raise
    except OSError as exc:
        files.release()
        raise UsageError(f"{args.output!r}: cannot write: {exc.strerror or exc}") from None
    return files, start
