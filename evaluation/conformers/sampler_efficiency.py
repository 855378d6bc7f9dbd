"""Reference sampler efficiency: the previous sampler against the new one at equal wall time.

    python -m evaluation.conformers.sampler_efficiency [--molecules 20] [--seconds 30] [--jobs 2]

The same validation molecules (the first ``--molecules`` of data/conformers/smiles_val.csv),
the same seed geometry and the same cap of ``--seconds`` wall time per molecule for every
sampler, one core per molecule (``--jobs`` molecules at a time, same for all samplers, samplers
interleaved per molecule). Samplers:

* ``previous``: rigid torsion moves (half uniform, half Gaussian), symmetry moves and MALA at
  300 K: the move set the earlier reference sets were built with (and, after this measurement,
  the default of ``SamplerConfig``);
* ``jumps+ncmc``: rigid moves of which half are well-to-well jumps, NCMC torsion moves on
  conjugated torsions (0.2 per sweep), symmetry moves, MALA;
* ``jumps+ncmc+hrex``: the same plus a 3-rung Hamiltonian replica ladder (torsion terms of the
  rotatable bonds scaled down to 0.3 on the top rung);
* ``previous+mala1`` and ``jumps`` (on request with ``--samplers``): the previous move set with one
  MALA step per sweep instead of one per two movable bonds; rigid moves with a quarter jumps;
* ``as-built`` (on request): the previous move set run with the code the references of sampler
  revision 1 were built with, whose MALA gradient after a rejected proposal was partly taken at
  that proposal (RDKit's distance cache); ``previous`` is the same move set with the gradient
  always of the current geometry (revision 2);
* ``previous+flips`` (on request): the previous move set with one ring-flip move per sweep
  (``geomgen.conformers.reference.ring_flip``);
* ``flips+mirror`` and ``flips+mirror+pairs`` (on request): ``previous+flips`` with mirror moves
  (achiral molecules with only aromatic rings), and with one torsion-pair move per sweep too;
* ``hrex4`` and ``hrex4+ele`` (on request): the previous move set on a 4-rung Hamiltonian ladder
  scaling the rotatable torsion terms to 0 on the top rung, without and with the intramolecular
  electrostatics (which hold the hydrogen-bonded states that stall the unconverged references).

``--unconverged`` takes the first ``--molecules`` validation molecules that the shipped
reference set marks unconverged (the hard ones) instead of the first ones; ``--cpu`` caps CPU
seconds instead of wall seconds, so runs on a loaded machine get the same work.

Each run stops when every torsion passes the convergence rule
(:mod:`geomgen.conformers.reference.convergence`) or at the cap. Reported per sampler: the
fraction of molecules converged within the cap, the median seconds to convergence, and the
ESS per second of the slowest torsion (median over molecules). Results go to
``sampler_efficiency.md`` / ``.csv`` and a figure ``sampler_efficiency.png`` (fraction converged
against wall time).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

#: the rigid + symmetry + MALA move set the version-2 build started with
PREVIOUS = dict(n_replicas=1, ncmc_per_sweep=0, p_uniform=0.5, p_jump=0.0)
FLIPS = dict(PREVIOUS, ring_flips_per_sweep=1.0)
SAMPLERS = {
    "previous": PREVIOUS,
    "jumps+ncmc": dict(n_replicas=1, ncmc_per_sweep=0.2, p_uniform=0.25, p_jump=0.5),
    "jumps+ncmc+hrex": dict(n_replicas=3, lambda_min=0.3, ncmc_per_sweep=0.2, p_uniform=0.25, p_jump=0.5),
    "previous+mala1": dict(PREVIOUS, mala_per_sweep=1),
    "jumps": dict(n_replicas=1, ncmc_per_sweep=0, p_uniform=0.25, p_jump=0.25),
    "hrex4": dict(n_replicas=4, lambda_min=0.0),
    "hrex4+ele": dict(n_replicas=4, lambda_min=0.0, ladder_terms="torsion+electrostatic"),
    "as-built": PREVIOUS,
    "previous+flips": FLIPS,
    "flips+mirror": dict(FLIPS, mirror_moves=True),
    "flips+mirror+pairs": dict(FLIPS, mirror_moves=True, pair_moves_per_sweep=1.0),
}
#: samplers run with the code path the references were built with before revision 2 (see
#: ``SAMPLER_REVISION`` in geomgen.conformers.reference.build): RDKit's gradient taken straight
#: from its distance cache, i.e. partly at the last proposal evaluated
STALE_GRADIENT = {"as-built"}


def _stale_gradient(self, pos):
    return np.asarray(self.ff.CalcGrad(np.asarray(pos, dtype=np.float64).ravel().tolist())).reshape(-1, 3)
DEFAULT_SAMPLERS = ("previous", "jumps+ncmc", "jumps+ncmc+hrex")


def run_one(mol_id: str, smiles: str, sampler: str, seconds: float, cpu: bool = False) -> dict:
    os.environ["OMP_NUM_THREADS"] = "1"
    from geomgen.conformers.embedding import embed_seed
    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.molecule import parse_molecule
    from geomgen.conformers.reference.sampler import SamplerConfig, sample_reference

    if not hasattr(MMFF, "_fresh_grad"):  # workers are reused: keep the package's gradient to restore it
        MMFF._fresh_grad = MMFF.grad
    MMFF.grad = _stale_gradient if sampler in STALE_GRADIENT else MMFF._fresh_grad
    mol = embed_seed(parse_molecule(smiles, name=mol_id), seed=0, name=mol_id)
    cap = {"max_cpu_seconds": seconds} if cpu else {"max_seconds": seconds}
    cfg = SamplerConfig(seed=0, warmup_sweeps=100, round_sweeps=50, min_sweeps=100, max_sweeps=10**7, **cap,
                        **SAMPLERS[sampler])
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = sample_reference(mol, cfg)
    wall = time.perf_counter() - t0
    spent = time.process_time() - c0 if cpu else wall
    d = res.diagnostics
    return {"id": mol_id, "sampler": sampler, "torsions": d["n_torsions"], "converged": d["converged"], "seconds": round(wall, 2),
            "sweeps": d["sweeps_per_chain"], "rhat_max": round(d["rhat_max"], 4), "ess_min": round(d["ess_min"], 1),
            "w1_max": round(d["interchain_w1_max"], 4), "ess_min_per_s": round(d["ess_min"] / spent, 3),
            "energy_mean": round(float(res.energies.mean()), 3), "angles": res.angles, "symmetry": res.symmetry,
            "swap_acceptance": d["swap_acceptance"], "ncmc_acceptance": round(d["ncmc_acceptance"], 3)}


def plot(rows: list[dict], samplers, seconds: float, n_mols: int, path: str) -> None:
    """Fraction of molecules converged against wall time, one step curve per sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geomgen.atomic import atomic_write

    fig, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(0, seconds, 200)
    for name in samplers:
        secs = np.array([float(r["seconds"]) if str(r["converged"]) == "True" else np.inf for r in rows if r["sampler"] == name])
        ax.step(grid, [(secs <= g).mean() for g in grid], where="post", label=name)
    ax.set_xlabel("wall time per molecule (s, one core)")
    ax.set_ylabel("fraction of molecules converged")
    ax.set_title(f"{n_mols} validation molecules")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molecules", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0, help="wall-time cap per molecule and sampler (default 30)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--samplers", nargs="+", default=list(DEFAULT_SAMPLERS), choices=list(SAMPLERS))
    ap.add_argument("--out", default=str(HERE / "sampler_efficiency"))
    ap.add_argument("--unconverged", action="store_true", help="the first molecules the shipped val references leave unconverged")
    ap.add_argument("--cpu", action="store_true", help="cap CPU seconds, not wall seconds")
    args = ap.parse_args(argv)
    with open(ROOT / "data" / "conformers" / "smiles_val.csv", newline="") as f:
        mols = [(r["id"], r["smiles"]) for r in csv.DictReader(f)]
    if args.unconverged:
        from geomgen.conformers.reference.store import load_reference_set

        stuck = {r.id for r in load_reference_set("val") if not r.converged}
        mols = [m for m in mols if m[0] in stuck]
    mols = mols[: args.molecules]
    tasks = [(i, s, name, args.seconds, args.cpu) for i, s in mols for name in args.samplers]  # interleaved per molecule
    rows = []
    from tqdm import tqdm

    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        for row in tqdm(ex.map(run_one, *zip(*tasks)), total=len(tasks), desc="sampler runs"):
            rows.append(row)
    lines = [
        f"# Reference sampler efficiency at equal {'CPU' if args.cpu else 'wall'} time",
        "",
        f"`python -m evaluation.conformers.sampler_efficiency --molecules {args.molecules} --seconds {args.seconds:g} --jobs {args.jobs}"
        + (" --unconverged" if args.unconverged else "") + (" --cpu" if args.cpu else "")
        + (f" --samplers {' '.join(args.samplers)} --out {os.path.relpath(args.out, ROOT)}" if tuple(args.samplers) != DEFAULT_SAMPLERS else "")
        + "`: "
        f"the first {len(mols)} validation molecules{' left unconverged by the shipped references' if args.unconverged else ''}, "
        f"{args.seconds:g} {'CPU ' if args.cpu else ''}s cap per molecule and sampler, one core per run, "
        f"{args.jobs} runs at a time; convergence rule of `geomgen.conformers.reference.convergence` (split R-hat < 1.05, "
        "ESS >= 100, inter-half W1 <= 0.1 rad, angles modulo graph symmetry).",
        "",
        "| sampler | converged within cap | median s to converge (converged only) | median ESS/s of slowest torsion | median worst W1 (rad) |",
        "|---|---|---|---|---|",
    ]
    base = None
    for name in args.samplers:
        rs = [r for r in rows if r["sampler"] == name]
        conv = [r for r in rs if r["converged"]]
        ess_rate = float(np.median([r["ess_min_per_s"] for r in rs]))
        base = base or ess_rate
        lines.append(f"| {name} | {len(conv)}/{len(rs)} | {np.median([r['seconds'] for r in conv]) if conv else float('nan'):.1f} | "
                     f"{ess_rate:.2f} ({ess_rate / base:.2f}x) | {np.median([r['w1_max'] for r in rs]):.3f} |")
    if len(args.samplers) > 1:
        from geomgen.conformers.reference.convergence import torsion_w1

        first = {r["id"]: r for r in rows if r["sampler"] == args.samplers[0]}
        lines += ["", f"Agreement with `{args.samplers[0]}` on the same molecules (the same law is sampled, so differences are "
                  "Monte Carlo error and, for a sampler that is not exact, bias):", "",
                  "| sampler | median mean-energy difference (kcal/mol) | median worst-torsion W1 between the two ensembles (rad) |",
                  "|---|---|---|"]
        for name in args.samplers[1:]:
            rs = [r for r in rows if r["sampler"] == name and len(r["symmetry"])]
            de = [r["energy_mean"] - first[r["id"]]["energy_mean"] for r in rs]
            w1 = [float(np.max(torsion_w1(r["angles"], first[r["id"]]["angles"], r["symmetry"]))) for r in rs]
            lines.append(f"| {name} | {np.median(de):+.2f} | {np.median(w1):.3f} |")
    from geomgen.atomic import atomic_open
    from geomgen.tables import publish

    publish(args.out + ".md", lines)
    with atomic_open(args.out + ".csv", "w", newline="") as f:
        fields = [k for k in rows[0] if k not in ("angles", "symmetry")]
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    plot(rows, args.samplers, args.seconds, len(mols), args.out + ".png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
