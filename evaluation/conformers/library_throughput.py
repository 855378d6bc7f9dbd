"""Conformers for a screening library: geomgen against RDKit ETKDGv3 at the same number of cores.

    python -m evaluation.conformers.library_throughput [--molecules 1000] [-n 10 50] [--jobs J]
    python -m evaluation.conformers.library_throughput --memory-only --memory-sizes 1000 10000

The library is the first ``--molecules`` lines of evaluation/conformers/library.smi (10,000
molecules of the MOSES scaffold test set, drawn by make_library.py). For each ``-n``, in one run
and on the same ``--jobs`` cores (default: every core this process may use), each method reads
the SMILES file and writes an SD file, run as its own process:

* ``ETKDGv3``: RDKit ``EmbedMultipleConfs(n)`` per molecule, ``numThreads=J``;
* ``ETKDGv3+MMFF``: the same, then ``MMFFOptimizeMoleculeConfs(numThreads=J)``;
* ``geomgen``: ``geomgen conformers LIB -n N -o OUT.sdf --jobs J`` (the shipped model);
* ``api:etkdg``, ``api:assembly:empty``, ``api:assembly:warm``, ``api:assembly:bare``: the Python
  API (``ConformerGenerator.generate_many`` in ``J`` worker processes, chunks of
  :data:`API_CHUNK` molecules, SD text as the CLI writes it) with ETKDGv3 seeds or with seeds
  assembled from the ring library (issue 27). ``empty``: an empty ring-library disk cache, the
  shipped library on (a fresh install); ``warm``: the cache the ``empty`` run filled;
  ``bare``: an empty cache and no shipped library (every ring system built on first use). These
  set the cache per row, which the CLI cannot; ``api:etkdg`` is the same harness with ETKDGv3
  seeds, and a CLI row (``geomgen``, the default seeds) differs from its API row only by the
  harness. A ``:library-amides`` suffix (e.g. ``api:assembly:warm:library-amides``) draws the amide
  states from the amide state library (:mod:`geomgen.conformers.statelib`, cached in the same
  folder as the ring library, ``amide_states="library"``); without it, or with ``:usual-amides``,
  every amide is in the assembler's usual state (the default). An ``:itersK`` suffix (e.g.
  ``api:assembly:warm:iters0``) sets the MMFF94 iterations on each seed (``seed_iters``, default
  100): the rows' seed paths show how many molecules then fall back to ETKDGv3.

Reported per method: wall time (model loading and start-up included), conformers per second,
speed-up over ETKDGv3 of the same run, peak memory of the whole process tree (the sum of the
processes' proportional set sizes, sampled every 0.1 s, so shared pages count once) and molecules
that failed; for the API methods also the seeds' path (assembled / ETKDGv3 fallback), the ring
library's hit rate (lookups not built in the run) and the size of the disk cache.
``--memory-sizes`` adds geomgen runs at ``-n 10`` over other library sizes to show
that peak memory does not grow with the number of molecules. ``--stages`` times each stage on one
core for the ETKDGv3 seed path and for the assembled seed path (warm cache): the generator's own
``generate_many`` with its defaults, timed in place (:class:`geomgen.profiling.StageClock`), so
the table cannot leave out a step the default takes. Writes
library_throughput.md and library_throughput.json beside this script.

"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from geomgen.conformers.ringlib import CACHE_ENV

HERE = Path(__file__).resolve().parent
LIBRARY = HERE / "library.smi"


# -- the baseline, run in its own process -------------------------------------------------------
def etkdg_worker(smi: str, out: str, n: int, jobs: int, mmff: bool) -> None:
    """Embed ``n`` ETKDGv3 conformers per molecule of ``smi`` (optionally MMFF94-minimised) into ``out``."""
    from rdkit import Chem, RDLogger

    from geomgen.conformers.embedding import etkdg_conformers

    RDLogger.DisableLog("rdApp.*")
    failed = 0
    with Chem.SDWriter(out) as w:
        for line in Path(smi).read_text().splitlines():
            smiles, name = line.split()[:2]
            mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                failed += 1
                continue
            mol = etkdg_conformers(Chem.AddHs(mol), n, seed=0, mmff_iters=2000 if mmff else 0, threads=jobs)
            cids = [c.GetId() for c in mol.GetConformers()]
            if not cids:
                failed += 1
                continue
            mol.SetProp("_Name", name)
            for cid in cids:
                w.write(mol, confId=cid)
    print(json.dumps({"failed": failed}))


# -- geomgen through the Python API, run in its own process ---------------------------------------
#: molecules per task of the API worker pool
API_CHUNK = 20
_API_GEN = None


def _api_init(seed_method: str, cache: str, shipped: bool, amide_states: str, seed_iters: int | None = None) -> None:
    import torch

    torch.set_num_threads(1)
    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.ringlib import RingLibrary
    from geomgen.conformers.statelib import CACHE_SUBFOLDER, StateLibrary

    global _API_GEN
    lib = RingLibrary(folder=cache or False, shipped=shipped)
    states = StateLibrary(folder=Path(cache) / CACHE_SUBFOLDER if cache else False, shipped=shipped)
    opts = {} if seed_iters is None else {"seed_iters": seed_iters}
    _API_GEN = ConformerGenerator.from_checkpoint(seed_method=seed_method, ring_library=lib, state_library=states,
                                                  amide_states=amide_states, **opts)


def _api_chunk(args) -> tuple:
    from geomgen.conformers.io import sdf_records

    items, n = args
    before = dict(_API_GEN.ring_library.stats) if _API_GEN.ring_library else {}
    states_before = dict(_API_GEN.state_library.stats)
    texts, failed, paths = [], 0, {}
    for name, smi in items:
        mols, reps = _API_GEN.generate_many([(name, smi)], n, seed=0)
        if mols[0] is None:
            failed += 1
            continue
        seed = reps[0].extra.get("seed", "etkdg")
        paths[seed] = paths.get(seed, 0) + 1
        mols[0].SetProp("_Name", name)
        texts.append("".join(sdf_records(mols[0])))
    after = dict(_API_GEN.ring_library.stats) if _API_GEN.ring_library else {}
    states_after = dict(_API_GEN.state_library.stats)
    return ("".join(texts), failed, paths, {k: after.get(k, 0) - before.get(k, 0) for k in after},
            {k: states_after[k] - states_before.get(k, 0) for k in states_after})


def api_worker(smi: str, out: str, n: int, jobs: int, seed_method: str, cache: str, shipped: bool,
               amide_states: str = "usual", seed_iters: int | None = None) -> None:
    """``n`` conformers per molecule of ``smi`` through ``ConformerGenerator`` in ``jobs`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    lines = [line.split()[:2] for line in Path(smi).read_text().splitlines() if line.strip()]
    items = [(name, smiles) for smiles, name in lines]
    chunks = [(items[k: k + API_CHUNK], n) for k in range(0, len(items), API_CHUNK)]
    failed, paths, stats, state_stats = 0, {}, {}, {}
    with ProcessPoolExecutor(jobs, initializer=_api_init, initargs=(seed_method, cache, shipped, amide_states, seed_iters)) as pool, \
            open(out, "w") as f:
        for text, nf, p, st, sst in pool.map(_api_chunk, chunks):
            f.write(text)
            failed += nf
            for k, v in p.items():
                paths[k] = paths.get(k, 0) + v
            for k, v in st.items():
                stats[k] = stats.get(k, 0) + v
            for k, v in sst.items():
                state_stats[k] = state_stats.get(k, 0) + v
    print(json.dumps({"failed": failed, "paths": paths, "library": stats, "state_library": state_stats}))


def run_api(smi: Path, out: Path, n: int, jobs: int, seed_method: str, cache: Path | None, shipped: bool,
            amide_states: str = "usual", seed_iters: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--api-worker", str(smi), str(out), str(n), str(jobs), seed_method,
           str(cache or ""), str(int(shipped)), amide_states, "" if seed_iters is None else str(seed_iters)]
    res = measure(cmd)
    info = json.loads(res["stdout"].strip().splitlines()[-1]) if res["rc"] == 0 else {}
    res["failed"] = info.get("failed")
    res["paths"] = info.get("paths")
    lib = info.get("library") or {}
    total = sum(lib.values())
    res["hit_rate"] = (total - lib.get("built", 0)) / total if total else None
    res["lookups"] = lib
    res["state_lookups"] = info.get("state_library") or {}
    res["cache_mb"] = sum(p.stat().st_size for p in cache.rglob("*.npz")) / 2**20 if cache and cache.exists() else None
    res["conformers"] = out.read_text().count("$$$$") if out.exists() else 0
    return res


# -- where geomgen's time goes --------------------------------------------------------------------
def _stages() -> dict:
    """The stages of ``ConformerGenerator.generate_many`` for :class:`geomgen.profiling.StageClock`."""
    from geomgen.conformers import embedding, features, io, molecule, ringlib, stereo, torsions
    from geomgen.conformers.assembly import Assembler
    from geomgen.conformers.clashes import ClashGuard
    from geomgen.conformers.generator import ConformerGenerator
    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.stereo import StereoGuard
    from geomgen.distributions.von_mises import VonMisesMixture

    return {
        "parse SMILES": [(molecule, "parse_molecule"), (molecule, "canonical_isomeric_smiles")],
        "rotatable torsions": [(torsions, "rotatable_torsions")],
        "ring systems (keys) and library lookups": [(ringlib, "ring_systems"), (ringlib.RingLibrary, "get")],
        "assembly (internal coordinates, overlap checks)": [(Assembler, "__init__"), (Assembler, "seed")],
        "ETKDGv3 seed (fallback or seed_method=etkdg)": [(embedding, "embed_seed")],
        "MMFF94 on the seeds": [(MMFF, "optimize_conformers")],
        "stereo checks of the seeds": [(stereo, "stereo_matches"), (stereo, "fixed_stereo")],
        "features": [(features, "featurize")],
        "network": [(ConformerGenerator, "predict_many")],
        "drawing torsions": [(VonMisesMixture, "sample")],
        "setting torsions": [(torsions, "set_torsions")],
        "clash and stereo checks of the conformers": [(ClashGuard, "ok"), (StereoGuard, "ok")],
        "SD text": [(io, "sdf_records")],
    }


def stage_times(smiles: list[str], n: int = 10, seed_method: str = "etkdg", library=None) -> dict:
    """Mean milliseconds per molecule of each stage of ``ConformerGenerator.generate_many`` with
    its defaults (``seed_method`` aside) on one core, SD text included: the real path timed by
    :class:`geomgen.profiling.StageClock`, so it includes what the defaults do (MMFF94 on the
    seeds, the ETKDGv3 fallback of assembled seeds that fail) and nothing they skip. ``library``:
    the ring library (a warm one: the warm path). Returns ``{"ms": {stage: ms}, "calls":
    {stage: calls per molecule}, "fallback": share of molecules generated again from ETKDGv3}``."""
    import torch

    torch.set_num_threads(1)
    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers import io as conformer_io
    from geomgen.profiling import StageClock

    kwargs = {"ring_library": library} if library is not None else {}
    gen = ConformerGenerator.from_checkpoint(seed_method=seed_method, **kwargs)
    items = [(f"m{i}", smi) for i, smi in enumerate(smiles)]
    with StageClock(_stages()) as clock:
        mols, reports = gen.generate_many(items, n=n)
        for m in mols:
            if m is not None:
                list(conformer_io.sdf_records(m))  # through the module: the name the clock wraps
    per = len(smiles)
    return {"ms": {k: 1000 * v / per for k, v in clock.totals.items()},
            "calls": {k: v / per for k, v in clock.calls.items()},
            "fallback": sum("seed_fallback" in r.extra for r in reports) / per}


def etkdg_ms(smiles: list[str], n: int) -> float:
    """Mean milliseconds per molecule of RDKit ETKDGv3 embedding ``n`` conformers on one core."""
    from rdkit import Chem

    from geomgen.conformers.embedding import etkdg_conformers

    t0 = time.perf_counter()
    for smi in smiles:
        etkdg_conformers(Chem.AddHs(Chem.MolFromSmiles(smi)), n)
    return 1000 * (time.perf_counter() - t0) / len(smiles)


# -- measuring a run -----------------------------------------------------------------------------
def _tree_pss_mb(proc) -> float:
    """Sum of the proportional set sizes (MB) of ``proc`` and its descendants."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; return wall seconds, exit status, peak tree memory (MB) and its stdout."""
    import psutil

    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc = psutil.Process(popen.pid)
    peak = [0.0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], _tree_pss_mb(proc))
            except psutil.NoSuchProcess:
                return
            done.wait(0.1)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    out, err = popen.communicate()
    seconds = time.perf_counter() - t0
    done.set()
    th.join()
    return {"rc": popen.returncode, "seconds": seconds, "peak_mb": peak[0], "stdout": out, "stderr": err[-2000:]}


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


def run_geomgen(exe: str, smi: Path, out: Path, n: int, jobs: int, extra: tuple = ()) -> dict:
    res = measure([exe, "conformers", str(smi), "-n", str(n), "-o", str(out), "--jobs", str(jobs), *extra])
    failures = out.with_name(out.name[: -len(".sdf")] + ".failures.csv")
    res["failed"] = max(_count_lines(failures) - 1, 0)  # minus the header
    res["conformers"] = out.read_text().count("$$$$") if out.exists() else 0
    return res


def run_etkdg(smi: Path, out: Path, n: int, jobs: int, mmff: bool) -> dict:
    cmd = [sys.executable, __file__, "--etkdg-worker", str(smi), str(out), str(n), str(jobs), str(int(mmff))]
    res = measure(cmd)
    res["failed"] = json.loads(res["stdout"].strip().splitlines()[-1])["failed"] if res["rc"] == 0 else None
    res["conformers"] = out.read_text().count("$$$$") if out.exists() else 0
    return res


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--etkdg-worker":
        smi, out, n, jobs, mmff = sys.argv[2:7]
        etkdg_worker(smi, out, int(n), int(jobs), bool(int(mmff)))
        return 0
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--api-worker":
        smi, out, n, jobs, method, cache, shipped, amides, iters = sys.argv[2:11]
        api_worker(smi, out, int(n), int(jobs), method, cache, bool(int(shipped)), amides, int(iters) if iters else None)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molecules", type=int, default=1000)
    ap.add_argument("-n", type=int, nargs="+", default=[10, 50])
    from geomgen.conformers.commands.generate import available_cores

    ap.add_argument("--jobs", type=int, default=available_cores(), help="cores for every method (default: all available)")
    ap.add_argument("--memory-sizes", type=int, nargs="*", default=[], help="library sizes for the memory check (geomgen, -n 10)")
    ap.add_argument("--memory-only", action="store_true", help="only the memory check")
    ap.add_argument("--methods", nargs="+", default=["ETKDGv3", "ETKDGv3+MMFF", "geomgen"],
                    help='ETKDGv3, ETKDGv3+MMFF, geomgen, or geomgen with options, e.g. "geomgen --seed-iters 2000"; '
                         'api:etkdg, api:assembly:empty, api:assembly:warm, api:assembly:bare (module docstring)')
    ap.add_argument("--stage-methods", nargs="+", default=["etkdg", "assembly"], help="seed paths of the stage breakdown")
    ap.add_argument("--fresh", action="store_true", help="drop the rows of earlier runs from the results files")
    ap.add_argument("--stages", type=int, default=200, help="molecules for the per-stage breakdown on one core (0: none)")
    ap.add_argument("--out", default=str(HERE / "library_throughput"))
    args = ap.parse_args(argv)
    exe = shutil.which("geomgen", path=str(Path(sys.executable).parent)) or shutil.which("geomgen")
    lines = LIBRARY.read_text().splitlines()
    rows, mem_rows = [], []
    run_id = time.strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory() as tmp:
        smi = Path(tmp) / "lib.smi"
        smi.write_text("\n".join(lines[: args.molecules]) + "\n")
        for n in [] if args.memory_only else args.n:
            for method in args.methods:
                out = Path(tmp) / f"{method.split()[0]}-{n}.sdf"
                if method.startswith("api:"):
                    _, seed_method, *state = method.split(":")
                    amides = "library" if "library-amides" in state else "usual"
                    iters = [int(x[5:]) for x in state if x.startswith("iters") and x[5:].isdigit()]
                    seed_iters = iters[-1] if iters else None
                    state = [x for x in state if x not in ("usual-amides", "library-amides") and not x.startswith("iters")]
                    cache = None
                    if seed_method == "assembly":
                        cache = Path(tmp) / ("cache-bare" if state == ["bare"] else "cache")
                        if state in (["empty"], ["bare"]):
                            shutil.rmtree(cache, ignore_errors=True)
                            cache.mkdir()
                        elif not cache.exists():  # warm without an empty run before it: fill the cache first
                            run_api(smi, out, n, args.jobs, seed_method, cache, True, amides, seed_iters)
                    res = run_api(smi, out, n, args.jobs, seed_method, cache, state != ["bare"], amides, seed_iters)
                elif method.startswith("geomgen"):  # geomgen, or e.g. "geomgen --seed-iters 2000"
                    res = run_geomgen(exe, smi, out, n, args.jobs, tuple(method.split()[1:]))
                else:
                    res = run_etkdg(smi, out, n, args.jobs, mmff=method.endswith("MMFF"))
                row = {"method": method, "n": n, "molecules": args.molecules, "jobs": args.jobs, "run": run_id,
                       **{k: res[k] for k in ("rc", "seconds", "peak_mb", "failed", "conformers")},
                       **{k: res[k] for k in ("paths", "hit_rate", "lookups", "state_lookups", "cache_mb") if k in res}}
                row["conformers_per_second"] = row["conformers"] / row["seconds"]
                rows.append(row)
                print(json.dumps(row), flush=True)
                if res["rc"] != 0:
                    print(res["stderr"], file=sys.stderr)
                out.unlink(missing_ok=True)
        for size in args.memory_sizes:
            sub = Path(tmp) / f"lib{size}.smi"
            sub.write_text("\n".join(lines[:size]) + "\n")
            out = Path(tmp) / f"mem-{size}.sdf"
            cache = Path(tmp) / f"ring-cache-{size}"  # an empty ring cache: a fresh install's first run
            os.environ[CACHE_ENV] = str(cache)
            res = run_geomgen(exe, sub, out, 10, args.jobs)
            os.environ.pop(CACHE_ENV)
            mem_rows.append({"molecules": size, "n": 10, "jobs": args.jobs,
                             "cache_mb": sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 2**20,
                             **{k: res[k] for k in ("rc", "seconds", "peak_mb", "failed", "conformers")}})
            print(json.dumps(mem_rows[-1]), flush=True)
            out.unlink(missing_ok=True)
    stages = {}
    if args.stages and not args.memory_only:
        smiles = [line.split()[0] for line in lines[: args.stages]]
        stages = {"molecules": len(smiles), "n": 10, "etkdg_ms": etkdg_ms(smiles, 10)}
        from geomgen.conformers.ringlib import RingLibrary

        stages["paths"] = {}
        for method in args.stage_methods:
            lib = RingLibrary(folder=False) if method == "assembly" else None
            stage_times(smiles[:20] if method == "etkdg" else smiles, 10, method, lib)  # warm-up (imports, model; fills the library: the warm path)
            stages["paths"][method] = stage_times(smiles, 10, method, lib)
        print(json.dumps(stages), flush=True)
    text = render(rows, mem_rows, args, stages)
    print(text)
    from geomgen.atomic import atomic_write_text

    previous = {}
    if Path(args.out + ".json").exists():
        previous = json.loads(Path(args.out + ".json").read_text())
    # earlier runs are kept (each with its own ETKDGv3 baseline) unless --fresh
    kept = [] if args.fresh else [r for r in previous.get("throughput", []) if r.get("run") != run_id]
    payload = {"throughput": kept + rows, "memory": mem_rows or previous.get("memory", []),
               "stages": stages or previous.get("stages", {})}
    atomic_write_text(args.out + ".json", json.dumps(payload, indent=1))
    atomic_write_text(args.out + ".md", render(payload["throughput"], payload["memory"], args, payload["stages"]))
    return 0


def render(rows: list[dict], mem_rows: list[dict], args, stages: dict | None = None) -> str:
    out = ["# Conformers for a screening library: geomgen vs RDKit ETKDGv3", "",
           "`python -m evaluation.conformers.library_throughput` on the first molecules of "
           "evaluation/conformers/library.smi (MOSES scaffold test set); every method on the same cores, "
           "in one run; wall time includes start-up and model loading; memory is the peak summed PSS of the process tree.", ""]
    if rows:
        out += ["Ratios are against ETKDGv3 of the same run (same n); a run's rows were measured one after another.", "",
                "| run | molecules | n | cores | method | wall (s) | conformers/s | vs ETKDGv3 | peak memory (MB) | failed |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        base = {(r["n"], r.get("run")): r["conformers_per_second"] for r in rows if r["method"] == "ETKDGv3"}
        for r in sorted(rows, key=lambda r: (r["n"], r.get("run") or "", r["method"] != "ETKDGv3")):
            b = base.get((r["n"], r.get("run")))
            ratio = f"{r['conformers_per_second'] / b:.2f}x" if b else "-"
            out.append(f"| {r.get('run') or '-'} | {r['molecules']} | {r['n']} | {r['jobs']} | {r['method']} | {r['seconds']:.1f} | "
                       f"{r['conformers_per_second']:.0f} | {ratio} | {r['peak_mb']:.0f} | {r['failed']} |")
        api = [r for r in rows if r["method"].startswith("api:assembly")]
        if api:
            out += ["", "`api:*` rows run `ConformerGenerator.generate_many` in worker processes (each with its own ring "
                    "cache): `api:etkdg` with ETKDGv3 seeds, `api:assembly:*` with seeds assembled from the ring "
                    "library (`seed_method=\"assembly\"`); `empty`: empty disk cache, shipped library on (a fresh install); "
                    "`warm`: the cache the `empty` run filled; `bare`: empty cache, no shipped library (every ring system "
                    "built on first use).",
                    "", "Assembled seeds (API rows): seed paths (the ETKDGv3 fallback includes molecules whose sampling failed on "
                    "the assembled seeds and were generated again), ring-library lookups and their hit rate (lookups not "
                    "built in the run), amide-state fragment lookups (rows since 2026-12-03 16:50), disk cache after the run:", "",
                    "| run | n | method | assembled | ETKDGv3 fallback | lookups (memory / shipped / disk / built) | hit rate | "
                    "amide-state lookups (memory / shipped / disk / built / failed) | cache (MB) |",
                    "|---|---|---|---|---|---|---|---|---|"]
            for r in sorted(api, key=lambda r: (r["n"], r.get("run") or "")):
                lk = r.get("lookups") or {}
                paths = r.get("paths") or {}
                hit = f"{r['hit_rate']:.3f}" if r.get("hit_rate") is not None else "-"
                cache = f"{r['cache_mb']:.2f}" if r.get("cache_mb") is not None else "-"
                sl = r.get("state_lookups")
                states = " / ".join(str(sl.get(k, 0)) for k in ("memory", "shipped", "disk", "built", "failed")) if sl else "-"
                out.append(f"| {r.get('run') or '-'} | {r['n']} | {r['method']} | {paths.get('assembled', 0)} | {paths.get('etkdg', 0)} | "
                           f"{lk.get('memory', 0)} / {lk.get('shipped', 0)} / {lk.get('disk', 0)} / {lk.get('built', 0)} | {hit} | "
                           f"{states} | {cache} |")
    if mem_rows:
        out += ["", "Peak memory against library size (`geomgen conformers`, n = 10):", "",
                "| molecules | cores | wall (s) | peak memory (MB) | ring cache after (MB) | failed |", "|---|---|---|---|---|---|"]
        for r in mem_rows:
            cache = f"{r['cache_mb']:.1f}" if r.get("cache_mb") is not None else "-"
            out.append(f"| {r['molecules']} | {r['jobs']} | {r['seconds']:.0f} | {r['peak_mb']:.0f} | {cache} | {r['failed']} |")
    for method, st in ((stages or {}).get("paths") or {}).items():
        what = "assembled seeds, warm ring library" if method == "assembly" else "ETKDGv3 seeds"
        total = sum(st["ms"].values())
        out += ["", f"Where geomgen's time goes ({what}): `ConformerGenerator.generate_many` with its defaults "
                f"(seed_method={method!r}), SD text included, one core, first {stages['molecules']} molecules, n = {stages['n']}, "
                "timed in place by `geomgen.profiling.StageClock` (exclusive time; 'other': the generator's own bookkeeping). "
                f"Molecules generated again from an ETKDGv3 seed: {st['fallback']:.0%}. RDKit ETKDGv3 embedding the same "
                f"{stages['n']} conformers: {stages['etkdg_ms']:.1f} ms per molecule.", "",
                "| stage | ms per molecule | calls per molecule | share | in ETKDGv3(n) units |", "|---|---|---|---|---|"]
        for k, v in sorted(st["ms"].items(), key=lambda kv: -kv[1]):
            calls = st["calls"].get(k)
            out.append(f"| {k} | {v:.1f} | {'-' if calls is None else f'{calls:.2f}'} | {v / total:.0%} | {v / stages['etkdg_ms']:.3f} |")
        out.append(f"| total | {total:.1f} | | 100% | {total / stages['etkdg_ms']:.3f} (at most {stages['etkdg_ms'] / total:.1f}x ETKDGv3) |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
