"""Do the reference chains sample both chairs of a saturated six-membered ring?

    python -m evaluation.conformers.ring_puckers [--splits val test] [--seconds 40] [--jobs 2]

For every converged reference with a ring of six sp3 atoms, the molecule is embedded with
ETKDGv3 + MMFF94 (seeds 0-39) until both chairs of that ring are found (the signs of the six
ring torsions alternate, + - + - + - or - + - + - +). The reference sampler then runs from each
chair (same settings as the build, ``--seconds`` CPU seconds each), without and with ring-flip
moves (``SamplerConfig(ring_flips_per_sweep=1)``), and the script reports the torsion W1 between
the two chairs' ensembles (worst torsion, modulo graph symmetry), the gap between their mean
MMFF94 energies (kcal/mol) and the flip acceptance.

If the two ensembles differ without flips, a reference (whose chains all start from one seed) is
the Boltzmann law *conditional on the seed's chair*, and the convergence rule, which compares
chains that share that chair, cannot see it. Writes ``ring_puckers.md`` next to this script.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from geomgen.tables import publish

HERE = Path(__file__).resolve().parent


def saturated_six_ring(mol):
    from rdkit import Chem

    for ring in mol.GetRingInfo().AtomRings():
        if len(ring) == 6 and all(mol.GetAtomWithIdx(a).GetHybridization() == Chem.HybridizationType.SP3 for a in ring):
            return list(ring)
    return None


def is_chair(pattern: tuple) -> bool:
    return all(pattern[i] == -pattern[(i + 1) % 6] for i in range(6))


def run_one(split: str, mol_id: str, seconds: float) -> dict:
    os.environ["OMP_NUM_THREADS"] = "1"
    from rdkit import Chem

    from geomgen.conformers import dihedral_angles
    from geomgen.conformers.embedding import embed_seed
    from geomgen.conformers.reference.convergence import torsion_w1
    from geomgen.conformers.reference.ring_flip import ring_pucker_signs
    from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference
    from geomgen.conformers.reference.store import load_reference_set

    ref = next(r for r in load_reference_set(split) if r.id == mol_id)
    ring = saturated_six_ring(ref.mol)
    chairs = {}
    for s in range(40):
        m = embed_seed(Chem.Mol(ref.mol), seed=s, name=mol_id)
        p = ring_pucker_signs(m.GetConformer().GetPositions(), ring)
        if is_chair(p):
            chairs.setdefault(p, m)
        if len(chairs) == 2:
            break
    row = {"split": split, "id": mol_id, "smiles": Chem.MolToSmiles(Chem.RemoveHs(ref.mol)), "chairs": len(chairs)}
    if len(chairs) < 2:
        return row
    for flips in (0.0, 1.0):
        ens, energies, acc = [], [], []
        for m in chairs.values():
            out = sample_reference(m, SamplerConfig(seed=0, warmup_sweeps=100, round_sweeps=100, min_sweeps=200,
                                                    max_sweeps=100_000, max_cpu_seconds=seconds, ring_flips_per_sweep=flips))
            ens.append(dihedral_angles(out.positions, ref.torsion_atoms))
            energies.append(float(out.energies.mean()))
            acc.append(out.diagnostics["ring_flip_acceptance"])
        key = "flips" if flips else "plain"
        row.update({f"{key}_w1_between_chairs": float(np.max(torsion_w1(ens[0], ens[1], ref.symmetry))),
                    f"{key}_energy_gap": float(abs(energies[0] - energies[1])),
                    f"{key}_flip_acceptance": float(np.mean(acc))})
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["val", "test"])
    ap.add_argument("--seconds", type=float, default=40.0, help="CPU seconds per chair (default 40)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(HERE / "ring_puckers.md"))
    args = ap.parse_args(argv)
    from geomgen.conformers.reference.store import load_reference_set

    todo = []
    counts = {}
    for split in args.splits:
        refs = [r for r in load_reference_set(split) if r.converged]
        ringed = [r for r in refs if saturated_six_ring(r.mol) is not None]
        counts[split] = (len(refs), len(ringed))
        todo += [(split, r.id) for r in ringed]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_one, *zip(*todo), [args.seconds] * len(todo)))
    lines = [
        "# Reference chains and the chairs of saturated six-membered rings",
        "",
        f"`python -m evaluation.conformers.ring_puckers --splits {' '.join(args.splits)} --seconds {args.seconds:g}`: "
        "every converged reference with a ring of six sp3 atoms; the reference sampler run from each chair of that ring "
        f"(found among ETKDGv3 + MMFF94 seeds 0-39), {args.seconds:g} CPU s each.",
        "",
        "| split | converged | with a saturated 6-ring |",
        "|---|---|---|",
        *[f"| {s} | {n} | {k} |" for s, (n, k) in counts.items()],
        "",
        "Without ring flips (the sampler the references were built with) and with one ring-flip move per sweep "
        "(`SamplerConfig(ring_flips_per_sweep=1)`): the worst torsion W1 between the ensembles started from the two "
        "chairs (rad; a sampler that crosses between them gives the same law from both) and the gap between their mean "
        "energies (kcal/mol).",
        "",
        "| split | molecule | SMILES | W1 between chairs | energy gap | W1 between chairs, flips | energy gap, flips "
        "| flip acceptance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["chairs"] < 2:
            lines.append(f"| {r['split']} | {r['id']} | `{r['smiles']}` | one chair found | | | | |")
            continue
        lines.append(f"| {r['split']} | {r['id']} | `{r['smiles']}` | "
                     f"{r['plain_w1_between_chairs']:.3f} | {r['plain_energy_gap']:.2f} | "
                     f"{r['flips_w1_between_chairs']:.3f} | {r['flips_energy_gap']:.2f} | {r['flips_flip_acceptance']:.3f} |")
    both = [r for r in rows if r["chairs"] == 2]
    if both:
        lines += ["", f"Of {len(both)} molecules with both chairs, the ensembles started from the two chairs differ by "
                  f"more than 0.1 rad (worst torsion) without flips in {sum(r['plain_w1_between_chairs'] > 0.1 for r in both)}; with flips, in "
                  f"{sum(r['flips_w1_between_chairs'] > 0.1 for r in both)}."]
    publish(args.output, lines)


if __name__ == "__main__":
    main()
