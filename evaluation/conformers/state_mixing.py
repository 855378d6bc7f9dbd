"""How fast the reference sampler mixes the slow discrete states, by setting, at equal CPU time.

    python -m evaluation.conformers.state_mixing --ids drugs-00100 test-00025 --seconds 300 \\
        --settings evaluation no-darts -o evaluation/conformers/state_mixing_darts.md

Every molecule (ids of the shipped SMILES lists) is sampled once per setting with the evaluation
splits' settings (``SPLIT_CONFIGS``) changed as the setting says, the same seed, a CPU cap of
``--seconds`` and no give-up rule (a run that converges stops there), and the table reports per run the effective sample size of the
slowest monitored discrete state and of the slowest torsion per CPU second, the sweeps per
chain, the state populations and the E/Z-flip and dart acceptances. Settings:

* ``evaluation``: the evaluation splits' sampler (one rung per chain; from revision 10 with one
  smart-darting move per sweep between the basin search's minima,
  :mod:`~geomgen.conformers.reference.moves.darting`; from revision 11 the darts carry the
  monitored ring puckers and nitrogen configurations, ``dart_flips``);
* ``no-darts``: the same without the darts (revision 9);
* ``dart-flips``: darts that carry those sites (``dart_flips``: a jump between darts in different
  states flips them too; the evaluation setting from revision 11);
* ``no-dart-flips``: darts that do not (revision 10);
* ``frame-carried``: a fused ring's flip carries every branch by its atom's frame (revision 12;
  ``ring_flip_mirror=False``) instead of mirroring the branches without a stereocentre (revision 13);
* ``hrex4-partial``: a 4-rung Hamiltonian ladder per chain that scales to zero, on its top rung,
  the torsion terms of the rotatable bonds and of the partial double bonds (amides, esters, acids:
  ``ladder_bonds="rotatable+partial"``) and the intramolecular electrostatics, so that the upper
  rungs cross E/Z barriers and break hydrogen bonds, and swaps carry the states down.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SETTINGS = {
    "evaluation": {},
    "no-darts": dict(dart_moves_per_sweep=0.0),
    "dart-flips": dict(dart_flips=True),
    "no-dart-flips": dict(dart_flips=False),
    "frame-carried": dict(ring_flip_mirror=False),
    "hrex4-partial": dict(n_replicas=4, lambda_min=0.0, ladder_bonds="rotatable+partial", ladder_terms="torsion+electrostatic"),
}


def run_one(split: str, mol_id: str, smiles: str, setting: str, seconds: float, seed: int) -> dict:
    """One sampler run; the figures the table reports."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from geomgen.conformers.reference.build import SPLIT_CONFIGS, sample_molecule

    cfg = dict(SPLIT_CONFIGS[split], max_cpu_seconds=seconds, give_up_after=0.0, max_sweeps=10**7, **SETTINGS[setting])
    rec = sample_molecule(mol_id, smiles, cfg, seed)
    if not rec["ok"]:
        return {"id": mol_id, "setting": setting, "error": rec["error"]}
    d = rec["diagnostics"]
    cpu = d["cpu_seconds"]
    state_ess = min(d.get("state_ess") or [float("nan")])
    return {"id": mol_id, "smiles": smiles, "setting": setting, "error": None, "cpu_seconds": cpu, "sweeps": d["sweeps_per_chain"],
            "state_names": d.get("state_names", []), "state_population": d.get("state_population", []),
            "state_ess_min": state_ess, "state_ess_per_cpu_s": state_ess / cpu, "torsion_ess_min": d["ess_min"],
            "torsion_ess_per_cpu_s": d["ess_min"] / cpu, "flip_acceptance": d.get("amide_flip_acceptance"),
            "ring_flip_acceptance": d.get("ring_flip_acceptance") if d.get("n_flippable_rings") else None,
            "dart_acceptance": d.get("dart_acceptance") if d.get("n_darts") else None,
            "swap_acceptance": d.get("swap_acceptance"), "converged": d["converged"]}


def _ratio(row: dict, base: dict | None, key: str) -> str:
    """`` (1.23x)``: ``row[key]`` against the first setting's run of the molecule, or nothing."""
    return f" ({row[key] / base[key]:.2f}x)" if base and base[key] else ""


def _rate(x) -> str:
    """An acceptance rate to 4 places, ``-`` for none."""
    return "-" if x is None else f"{x:.4f}"


def markdown(rows: list[dict], command: str) -> str:
    base = {r["id"]: r for r in rows if r["setting"] == rows[0]["setting"] and not r.get("error")}
    lines = [
        "# Mixing of the slow discrete states at equal CPU time",
        "",
        f"Command: `{command}`",
        "",
        "Each molecule sampled once per setting (module docstring of `evaluation/conformers/state_mixing.py`), the evaluation "
        "splits' settings otherwise, the same seed, a CPU cap and no give-up rule (a run that converges stops there); ESS of the slowest monitored discrete "
        "state and of the slowest torsion, per CPU second (in brackets: against the first setting on that molecule).",
        "",
        "| molecule | setting | CPU s | sweeps / chain | state ESS / CPU s | torsion ESS / CPU s | state populations "
        "| E/Z flip acceptance | ring flip acceptance | dart acceptance | converged |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['id']} | {r['setting']} | failed: {r['error']} | | | | | | | | |")
            continue
        b = base.get(r["id"])
        pops = ", ".join(f"{n} {p:.2f}" for n, p in zip(r["state_names"], r["state_population"])) or "-"
        lines.append(f"| {r['id']} `{r['smiles']}` | {r['setting']} | {r['cpu_seconds']:.0f} | {r['sweeps']} | "
                     f"{r['state_ess_per_cpu_s']:.3f}{_ratio(r, b, 'state_ess_per_cpu_s')} | "
                     f"{r['torsion_ess_per_cpu_s']:.3f}{_ratio(r, b, 'torsion_ess_per_cpu_s')} | "
                     f"{pops} | {_rate(r['flip_acceptance'])} | {_rate(r.get('ring_flip_acceptance'))} | "
                     f"{_rate(r.get('dart_acceptance'))} | "
                     f"{'yes' if r['converged'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    import sys

    from geomgen.atomic import atomic_write_text
    from geomgen.conformers.reference.store import read_smiles_csv

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ids", nargs="+", required=True, help="molecule ids of data/conformers/smiles_<split>.csv (split from the id)")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--seconds", type=float, default=300.0, help="CPU cap per run (default 300)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("-o", "--out", type=Path, default=HERE / "state_mixing.md")
    args = ap.parse_args(argv)
    smiles = {}
    for mol_id in args.ids:
        split = mol_id.rsplit("-", 1)[0]
        table = dict(read_smiles_csv(ROOT / "data" / "conformers" / f"smiles_{split}.csv"))
        if mol_id not in table:
            raise SystemExit(f"--ids: {mol_id} is not in smiles_{split}.csv")
        smiles[mol_id] = (split, table[mol_id])
    tasks = [(split, i, smi, s, args.seconds, args.seed) for i, (split, smi) in smiles.items() for s in args.settings]
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        rows = list(ex.map(run_one, *zip(*tasks)))
    command = "python -m evaluation.conformers.state_mixing " + " ".join(argv if argv is not None else sys.argv[1:])
    atomic_write_text(args.out, markdown(rows, command))
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(rows, indent=1))
    print(markdown(rows, command))
    return rows


if __name__ == "__main__":
    main()
