"""``geomgen reference``: sample MMFF94 Boltzmann reference ensembles (exact MCMC).

    geomgen reference "CC(=O)Nc1cccc(Cl)c1" -n 300 -o ref.sdf
    geomgen reference mols.smi -o ref.sdf --max-seconds 120 --w1 0.1 --jobs 2

Each molecule is sampled until every rotatable torsion passes the convergence rule (split R-hat,
ESS, inter-half W1, angles modulo graph symmetry) or a cap is hit; the per-molecule diagnostics
go to ``OUT.diagnostics.csv`` beside the output (to standard error with ``-o -``).

Exit status: 0 when samples were written, 1 when every molecule failed or the output could not be
written, 2 for a usage error (a bad option, input or output path; said in one line before any work).
"""

from __future__ import annotations

import argparse

from geomgen.conformers.commands._common import EXIT_USAGE, quiet_stdout, stdout_closed, usage_error

PROG = "geomgen reference"
#: output file types
OUTPUT_SUFFIXES = (".sdf",)
#: integer options of the command itself: (flag, attribute, smallest value); the sampler's options
#: (those settings of :class:`~geomgen.conformers.reference.sampler.SamplerConfig` that declare a flag,
#: the moves' included) come from the config: :func:`sampler_options`
_INT_OPTIONS = (("--jobs", "jobs", 1),)


def sampler_options() -> tuple:
    """The settings of ``SamplerConfig`` that have a ``geomgen reference`` flag (the sampler's
    and its moves', :func:`~geomgen.conformers.reference.config.config_options`)."""
    from geomgen.conformers.reference.config import config_options

    return tuple(o for o in config_options() if o.flags)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a SMILES string or a .smi / .csv / .sdf file")
    p.add_argument("-o", "--output", required=True, help="output .sdf (one record per sample); - for standard output")
    for opt in sampler_options():
        default = opt.default if opt.cli_default is None else opt.cli_default
        kind = dict(action=argparse.BooleanOptionalAction) if opt.type is bool else dict(type=opt.type, choices=opt.choices)
        p.add_argument(*opt.flags, dest=opt.name, default=default, help=opt.help.replace("%", "%%").replace("``", "'"), **kind)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="molecules sampled in parallel processes (default 1)")


def _one(name, item, cfg_kwargs, seed):
    from geomgen.conformers.embedding import embed_seed
    from geomgen.conformers.molecule import MoleculeError, parse_molecule
    from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference

    try:
        if item is None:
            raise MoleculeError(f"{name!r}: unreadable record")
        mol = embed_seed(parse_molecule(item, name=name), seed=seed, name=name)
        res = sample_reference(mol, SamplerConfig(seed=seed, **cfg_kwargs))
        return name, mol, res, None
    except Exception as exc:  # reported per molecule, the others continue
        return name, None, None, str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def _diagnostics_row(name: str, d: dict) -> dict:
    return {"name": name, "torsions": d["n_torsions"], "chains": d["n_chains"], "replicas": d["n_replicas"],
            "sweeps_per_chain": d["sweeps_per_chain"], "torsion_acceptance": round(d["torsion_acceptance"], 3),
            "ncmc_acceptance": round(d["ncmc_acceptance"], 3), "mala_acceptance": round(d["mala_acceptance"], 3),
            "ring_flip_acceptance": round(d["ring_flip_acceptance"], 3),
            "swap_acceptance": " ".join(f"{a:.3f}" for a in d["swap_acceptance"]), "rhat_max": round(d["rhat_max"], 4),
            "ess_min": round(d["ess_min"], 1), "interchain_w1_max": round(d["interchain_w1_max"], 3),
            "converged": d["converged"], "seconds": round(d["seconds"], 2)}


def _samples(name, mol, res):
    import numpy as np
    from rdkit import Chem

    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    props = []
    for s, (pos, e) in enumerate(zip(res.positions, res.energies)):
        conf = Chem.Conformer(out.GetNumAtoms())
        for a, x in enumerate(pos.astype(np.float64)):
            conf.SetAtomPosition(a, x.tolist())
        out.AddConformer(conf, assignId=True)
        p = {"_Name": f"{name}_{s}", "molecule": name, "sample": s, "MMFF94_energy_kcal_mol": float(e)}
        if len(res.torsions):
            p["torsions_rad"] = " ".join(f"{t:.4f}" for t in res.angles[s])
        props.append(p)
    return out, props


def option_problem(args) -> str | None:
    """Why the options of ``geomgen reference`` cannot run (one line), or ``None``: every number
    finite and in its range (``--max-seconds`` may be ``inf``: no cap), the output a writable
    ``.sdf`` file or an open standard output."""
    from geomgen.atomic import output_problem
    from geomgen.conformers.embedding import MAX_SEED

    for opt in sampler_options():
        why = opt.problem(getattr(args, opt.name))
        if why:
            return f"{opt.flags[0]} {why}"
    for flag, attr, low in _INT_OPTIONS:
        if getattr(args, attr) < low:
            return f"{flag} must be at least {low}, got {getattr(args, attr)}"
    if not 0 <= args.seed <= MAX_SEED:
        return f"--seed must be between 0 and {MAX_SEED}, got {args.seed}"
    if args.output == "-":
        return "-o -: standard output is closed" if stdout_closed() else None
    return output_problem(args.output, OUTPUT_SUFFIXES, probe=True)


def _write_outputs(args, results, table) -> tuple[int, str | None]:
    """Write the samples and the diagnostics; returns the record count and the diagnostics file
    (``None`` with ``-o -``: they go to standard error)."""
    from geomgen.conformers.io import write_sdf_atomic, write_table_atomic

    n = write_sdf_atomic(args.output, results)
    if args.output == "-":
        return n, None
    diag_path = args.output.rsplit(".", 1)[0] + ".diagnostics.csv"
    write_table_atomic(diag_path, table)
    return n, diag_path


def run(args) -> int:
    import sys
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from geomgen.conformers.io import read_inputs, write_failures

    prog = PROG
    why = option_problem(args)
    if why:
        return usage_error(prog, why)
    items = read_inputs(args.input, prog)
    if items is None:
        return EXIT_USAGE
    rounds = max(1, min(200, args.max_sweeps))
    cfg = {opt.name: getattr(args, opt.name) for opt in sampler_options()}
    cfg.update(round_sweeps=rounds, min_sweeps=min(200, args.max_sweeps))
    results, failures, table = [], [], []
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        futs = [ex.submit(_one, name, item, cfg, args.seed) for name, item in items]
        for (name, item), fut in tqdm(zip(items, futs), total=len(futs), disable=len(futs) < 2, desc="reference"):
            name, mol, res, err = fut.result()
            if err:
                failures.append({"name": name, "input": item if isinstance(item, str) else "", "reason": err})
                print(f"{prog}: {name}: failed: {err}", file=sys.stderr)
                continue
            if len(res.torsions) == 0:
                print(f"{prog}: {name}: no rotatable torsion; the samples vary bond lengths, angles and hydrogen rotors only",
                      file=sys.stderr)
            results.append(_samples(name, mol, res))
            table.append(_diagnostics_row(name, res.diagnostics))
    if results:
        try:
            n, diag_path = _write_outputs(args, results, table)
        except BrokenPipeError:  # -o - piped into e.g. `head`: geomgen.cli stops quietly
            raise
        except OSError as exc:  # e.g. a full disk, or -o - into /dev/full
            if args.output == "-":
                quiet_stdout()
            where = "standard output" if args.output == "-" else repr(exc.filename or args.output)
            print(f"{prog}: {args.input}: cannot write {where}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        cols = list(table[0])
        lines = ["\t".join(cols)] + ["\t".join(str(row[c]) for c in cols) for row in table]
        if diag_path is None:
            print("\n".join(lines), file=sys.stderr)
            print(f"wrote {n} samples of {len(results)} molecule(s) to standard output", file=sys.stderr)
        else:
            print("\n".join(lines))
            print(f"wrote {n} samples of {len(results)} molecule(s) to {args.output}; diagnostics in {diag_path}", file=sys.stderr)
    try:
        fp = write_failures(args.output, failures)
    except OSError as exc:
        print(f"{prog}: {args.input}: cannot write {str(exc.filename)!r}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if fp:
        print(f"{len(failures)} molecule(s) failed; see {fp}", file=sys.stderr)
    return 0 if results else 1
