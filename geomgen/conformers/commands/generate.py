"""``geomgen conformers``: 3D conformers from SMILES with VonMisesNet."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a SMILES string or a .smi / .csv / .sdf file")
    p.add_argument("-n", "--num-conformers", type=int, default=10, help="conformers per molecule (default 10)")
    p.add_argument("-o", "--output", required=True, help="output .sdf (one record per conformer); - for standard output")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--relax", action="store_true", help="MMFF94-minimise every conformer")
    p.add_argument("--boltzmann", action="store_true",
                   help="Boltzmann importance resampling (weights exp(-E/kT)/q, 300 K); reports the ESS")
    p.add_argument("--model", default=None, help="VonMisesNet checkpoint (default: the shipped models/vonmisesnet.ckpt)")
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes for files (default 1)")
    p.add_argument("--chunk", type=int, default=64, help="molecules per worker task (default 64)")


def _work(model, chunk, n, seed, relax, boltzmann):
    import torch

    torch.set_num_threads(1)
    from rdkit import Chem

    from geomgen.conformers.generator import ConformerGenerator

    # conformer properties (energies, weights) must survive pickling back from worker processes
    Chem.SetDefaultPickleProperties(Chem.PropertyPickleOptions.AllProps)
    gen = _GEN.get(model) or _GEN.setdefault(model, ConformerGenerator.from_checkpoint(model))
    mols, reports = gen.generate_many(chunk, n, seed=seed, relax=relax, boltzmann=boltzmann)
    return [(name, mol, rep) for (name, _), mol, rep in zip(chunk, mols, reports)]


_GEN: dict = {}


def run(args) -> int:
    import sys

    import torch

    # The graphs are tiny: one thread avoids oversubscription (and is faster) for inference.
    torch.set_num_threads(1)

    from tqdm import tqdm

    from geomgen.conformers.io import read_inputs, write_failures, write_sdf_atomic

    if args.num_conformers < 1:
        print("geomgen conformers: -n must be positive", file=sys.stderr)
        return 2
    items = read_inputs(args.input, "geomgen conformers")
    if items is None:
        return 2
    try:
        from geomgen.conformers.generator import ConformerGenerator

        if args.jobs <= 1:
            _GEN[args.model] = ConformerGenerator.from_checkpoint(args.model)
    except FileNotFoundError as exc:
        print(f"geomgen conformers: model not found: {exc}", file=sys.stderr)
        return 2
    chunks = [items[i : i + args.chunk] for i in range(0, len(items), args.chunk)]
    results = []
    bar = tqdm(total=len(items), disable=len(items) < 2, desc="conformers", unit="mol")
    if args.jobs <= 1:
        for chunk in chunks:
            results += _work(args.model, chunk, args.num_conformers, args.seed, args.relax, args.boltzmann)
            bar.update(len(chunk))
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=args.jobs) as ex:
            futs = [ex.submit(_work, args.model, c, args.num_conformers, args.seed, args.relax, args.boltzmann) for c in chunks]
            for fut in futs:
                res = fut.result()
                results += res
                bar.update(len(res))
    bar.close()
    written, failures = [], []
    inputs = dict(items)
    for name, mol, rep in results:
        if mol is None:
            failures.append({"name": name, "input": inputs.get(name) if isinstance(inputs.get(name), str) else "", "reason": rep.reason})
            print(f"geomgen conformers: {rep.reason}", file=sys.stderr)
            continue
        props = []
        for c, conf in enumerate(mol.GetConformers()):
            p = {"_Name": f"{name}_{c}", "molecule": name, "conformer": c}
            p.update(conf.GetPropsAsDict())
            props.append(p)
        written.append((mol, props))
        if rep.ess is not None:
            print(f"{name}: Boltzmann ESS {rep.ess:.1f} of {4 * args.num_conformers} proposals", file=sys.stderr)
    if written:
        n = write_sdf_atomic(args.output, written)
        print(f"wrote {n} conformers of {len(written)} molecule(s) to {args.output}", file=sys.stderr)
    fp = write_failures(args.output, failures)
    if fp:
        print(f"{len(failures)} molecule(s) failed; see {fp}", file=sys.stderr)
    return 0 if written else 1
