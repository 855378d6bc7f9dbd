"""Time to write SD records as a function of the number of conformers (issue 13, item 4).

    python -m evaluation.conformers.write_scaling [--sizes 1000 2000 4000 10000 30000 100000] [--repeats 3]
                                                  [--old-up-to 4000] [--out evaluation/conformers/write_scaling.md]

Ethanol with n conformers (each a copy of one ETKDG conformer, with the per-conformer properties
``geomgen conformers`` writes), written with :func:`geomgen.conformers.io.write_sdf_atomic` to a
temporary folder. Reports the best of ``--repeats`` wall times and the seconds per 1,000 records
at each n: time linear in n means a constant cost per record. For comparison, the old writer
(each record a copy of the whole multi-conformer molecule, so quadratic in n) is timed up to
``--old-up-to`` conformers, and its records are checked to be the same text as the new ones.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ethanol(n: int):
    """Ethanol with ``n`` identical conformers and the SD properties of ``geomgen conformers``."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=0x5EED)
    conf = Chem.Conformer(mol.GetConformer())
    mol.RemoveAllConformers()
    for _ in range(n):
        mol.AddConformer(Chem.Conformer(conf), assignId=True)
    props = [{"_Name": f"ethanol_{c}", "molecule": "ethanol", "input_line": 1, "conformer": c, "MMFF94_energy_kcal_mol": -1.234567}
             for c in range(n)]
    return mol, props


def write_old(path: str, mol, props) -> None:
    """The writer before issue 13: every record copied the molecule with all its conformers."""
    from rdkit import Chem

    with Chem.SDWriter(path) as w:
        for c, conf in enumerate(mol.GetConformers()):
            rec = Chem.Mol(mol)
            for k, v in props[c].items():
                rec.SetProp(k, f"{v:.6g}" if isinstance(v, float) else str(v))
            w.write(rec, confId=conf.GetId())


def same_records(old_text: str) -> str:
    """The old writer's text less its running record number on property lines (``>  <molecule>  (2)``),
    which the new writer leaves out so that a record does not depend on its position in the file."""
    return re.sub(r"(?m)^(>  <.*>)  \(\d+\) $", r"\1  ", old_text)


def loglog_slope(ns, ts) -> float:
    """Least-squares slope of log(time) against log(n): 1 for linear, 2 for quadratic time."""
    import numpy as np

    return float(np.polyfit(np.log(np.asarray(ns, dtype=float)), np.log(np.asarray(ts, dtype=float)), 1)[0])


def main(argv=None) -> int:
    from geomgen.conformers.io import write_sdf_atomic
    from geomgen.tables import best_time, publish

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 10000, 30000, 100000], help="numbers of conformers")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per size; the best is reported (default 3)")
    ap.add_argument("--old-up-to", type=int, default=4000, help="time the old (quadratic) writer up to this n (default 4000)")
    ap.add_argument("--out", default=str(HERE / "write_scaling.md"), help="results file (markdown)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        new_path, old_path = os.path.join(tmp, "new.sdf"), os.path.join(tmp, "old.sdf")
        for n in args.sizes:
            mol, props = ethanol(n)
            t_new = best_time(lambda mol=mol, props=props: write_sdf_atomic(new_path, [(mol, props)]), args.repeats)
            t_old = None
            if n <= args.old_up_to:
                t_old = best_time(lambda mol=mol, props=props: write_old(old_path, mol, props), args.repeats)
                if same_records(Path(old_path).read_text()) != Path(new_path).read_text():
                    raise SystemExit(f"write_scaling.py: old and new writers differ at n = {n}")
            rows.append((n, t_new, t_old))
            old = f"{t_old:.2f} s ({1000 * t_old / n:.3f} s/1k)" if t_old is not None else "-"
            print(f"n = {n:>7}: {t_new:7.2f} s, {1000 * t_new / n:.4f} s per 1,000 records; old writer {old}", file=sys.stderr)
    per_k = [1000 * t / n for n, t, _ in rows]
    slope = loglog_slope([n for n, _, _ in rows], [t for _, t, _ in rows])
    old_rows = [(n, t) for n, _, t in rows if t is not None]
    old_slope = loglog_slope(*zip(*old_rows)) if len(old_rows) > 1 else None
    lines = [
        "# SD writing time against the number of conformers",
        "",
        f"`python -m evaluation.conformers.write_scaling --sizes {' '.join(map(str, args.sizes))} --repeats {args.repeats} "
        f"--old-up-to {args.old_up_to}`: ethanol (9 atoms with hydrogens) with n conformers and the SD properties of "
        f"`geomgen conformers`, written by `write_sdf_atomic`; best of {args.repeats} runs, on {os.cpu_count()} cores "
        "(shared with other jobs, so expect some noise).",
        "",
        "| n conformers | write time (s) | s per 1,000 records | old writer (s) | old: s per 1,000 records |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, t_new, t_old in rows:
        old = (f"{t_old:.2f} | {1000 * t_old / n:.3f}") if t_old is not None else "- | -"
        lines.append(f"| {n:,} | {t_new:.2f} | {1000 * t_new / n:.4f} | {old} |")
    lines += [
        "",
        f"Fitted exponent b of time ~ n^b: **{slope:.2f}** for the writer (1 is linear)"
        + (f"; {old_slope:.2f} for the old writer up to n = {old_rows[-1][0]:,}." if old_slope is not None else "."),
        f"Seconds per 1,000 records stay between {min(per_k):.4f} and {max(per_k):.4f} over a "
        f"{args.sizes[-1] // args.sizes[0]}-fold range of n. The old writer copied the whole molecule with all n "
        "conformers for each record, so its cost per record grew with n. Where both ran, the records are the same "
        "text (the new writer leaves out the old one's running record number on property lines, `>  <molecule>  (2)`, "
        "so that a record does not depend on its position in the file).",
        "",
    ]
    publish(args.out, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
