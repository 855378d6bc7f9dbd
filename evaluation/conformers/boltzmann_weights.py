"""Which energies should the Boltzmann importance weights of ``--boltzmann`` use?

    python -m evaluation.conformers.boltzmann_weights [--split val] [--molecules 15] [--proposals 200]

For each of the first ``--molecules`` converged references of the split, geomgen draws
``--proposals`` conformers (plain mode, seed 0) and they are weighted three ways:

* ``none`` -- uniform weights (plain geomgen);
* ``rigid`` -- exp(-E/kT)/q(theta) with E the MMFF94 energy of the rigidly set geometry (the
  earlier ``--boltzmann``);
* ``relaxed`` -- the same with E after a minimisation with the rotatable torsions restrained to
  their sampled values (the current ``--boltzmann``, ``MMFF.minimize_restrained``).

Each weighted set is scored by the torsion W1 against the reference (angles modulo graph
symmetry), using 4000 draws from the weighted set so resampling noise stays small; the effective
sample size of the weights is reported. Writes ``boltzmann_weights.md`` next to this script.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from geomgen.tables import publish

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="val")
    ap.add_argument("--molecules", type=int, default=15)
    ap.add_argument("--proposals", type=int, default=200)
    ap.add_argument("-o", "--output", default=str(HERE / "boltzmann_weights.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from rdkit import Chem

    from geomgen.conformers import MMFF, ConformerGenerator, dihedral_angles
    from geomgen.conformers.reference.convergence import torsion_w1
    from geomgen.conformers.reference.store import load_reference_set
    from geomgen.metrics.boltzmann import boltzmann_weights, effective_sample_size

    torch.set_num_threads(1)
    refs = [r for r in load_reference_set(args.split) if r.converged][: args.molecules]
    gen = ConformerGenerator.from_checkpoint()
    rng = np.random.default_rng(0)
    rows = []
    for r in refs:
        mol = gen.generate(Chem.Mol(r.mol), n=args.proposals, seed=0)
        ts, mix = gen.predict(mol)
        pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
        ang = dihedral_angles(pos, ts.atoms)
        mmff = MMFF(mol)
        logq = mix.log_prob(torch.from_numpy(ang)).sum(-1).numpy() if mix is not None else np.zeros(len(pos))
        t0 = time.perf_counter()
        relaxed, e_relaxed = mmff.minimize_restrained(pos, ang, ts.atoms)
        seconds = time.perf_counter() - t0
        weighted = {
            "none": (pos, np.full(len(pos), 1.0 / len(pos))),
            "rigid": (pos, boltzmann_weights(mmff.energies(pos), log_proposal=logq)),
            "relaxed": (relaxed, boltzmann_weights(e_relaxed, log_proposal=logq)),
        }
        row = {"id": r.id, "torsions": len(r.symmetry), "relax_s": seconds}
        for name, (p, w) in weighted.items():
            pick = rng.choice(len(p), size=4000, p=w)
            row[f"w1_{name}"] = float(np.mean(torsion_w1(dihedral_angles(p[pick], r.torsion_atoms), r.angles, r.symmetry)))
            row[f"ess_{name}"] = float(effective_sample_size(w))
        rows.append(row)
        print(r.id, {k: round(v, 3) for k, v in row.items() if k.startswith("w1_")}, flush=True)

    lines = [
        "# Boltzmann weights for `--boltzmann`: which energies?",
        "",
        f"`python -m evaluation.conformers.boltzmann_weights --split {args.split} --molecules {args.molecules} "
        f"--proposals {args.proposals}`: the first {len(rows)} converged references of the split, {args.proposals} "
        "plain geomgen proposals each (seed 0), weighted three ways; W1 of 4000 draws from the weighted set against the "
        "reference (rad, torsions modulo graph symmetry); ESS = effective sample size of the weights.",
        "",
        "| molecule | torsions | W1 none | W1 rigid | W1 relaxed | ESS rigid | ESS relaxed | restrained relaxation (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['id']} | {row['torsions']} | {row['w1_none']:.3f} | {row['w1_rigid']:.3f} | {row['w1_relaxed']:.3f} | "
                     f"{row['ess_rigid']:.1f} | {row['ess_relaxed']:.1f} | {row['relax_s']:.1f} |")
    lines.append(f"| **mean** (median ESS) | | **{np.mean([r['w1_none'] for r in rows]):.3f}** | "
                 f"**{np.mean([r['w1_rigid'] for r in rows]):.3f}** | **{np.mean([r['w1_relaxed'] for r in rows]):.3f}** | "
                 f"{np.median([r['ess_rigid'] for r in rows]):.1f} | {np.median([r['ess_relaxed'] for r in rows]):.1f} | "
                 f"{np.mean([r['relax_s'] for r in rows]):.1f} |")
    publish(args.output, lines)


if __name__ == "__main__":
    main()
