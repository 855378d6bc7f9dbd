"""Torsion marginals of a few validation molecules: MMFF94 reference vs geomgen (plain and --boltzmann) vs ETKDGv3+MMFF.

    python -m evaluation.conformers.plot_marginals [--split val --molecules 4 -n 200]

Writes evaluation/conformers/marginals.png (one row per molecule, one panel per torsion, histograms
on [-pi, pi) with the circular W1 of each method to the reference in the legend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.conformers._args import sample_parser
from geomgen.atomic import atomic_write

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = sample_parser(__doc__.splitlines()[0], molecules=4, n=200, n_help="conformers per method (default 200)")
    ap.add_argument("-o", "--output", default=str(HERE / "marginals.png"))
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from rdkit import Chem

    from evaluation.conformers.evaluate import etkdg
    from geomgen.conformers import ConformerGenerator, dihedral_angles
    from geomgen.conformers.reference.convergence import torsion_w1
    from geomgen.conformers.reference.store import load_reference_set

    torch.set_num_threads(1)
    refs = [r for r in load_reference_set(args.split, converged_only=True) if 2 <= len(r.torsion_atoms) <= 4][: args.molecules]
    if not refs:
        raise SystemExit(f"plot_marginals.py: no converged reference with 2-4 torsions in split {args.split!r}")
    gen = ConformerGenerator.from_checkpoint()
    ncol = max(len(r.torsion_atoms) for r in refs)
    fig, axes = plt.subplots(len(refs), ncol, figsize=(3.2 * ncol, 2.4 * len(refs)), squeeze=False)
    bins = np.linspace(-np.pi, np.pi, 37)
    for row, ref in enumerate(refs):
        runs = (("geomgen", gen.generate(Chem.Mol(ref.mol), n=args.n, seed=0)),
                ("geomgen --boltzmann", gen.generate(Chem.Mol(ref.mol), n=args.n, seed=0, boltzmann=True)),
                ("ETKDGv3+MMFF", etkdg(ref, args.n, 0, relax=True)))
        ang = {name: dihedral_angles(np.stack([c.GetPositions() for c in m.GetConformers()]), ref.torsion_atoms) for name, m in runs}
        for t in range(ncol):
            ax = axes[row, t]
            if t >= len(ref.torsion_atoms):
                ax.axis("off")
                continue
            ax.hist(ref.angles[:, t], bins=bins, density=True, color="0.7", label="MMFF94 reference")
            for name, color in zip(ang, ("tab:blue", "tab:green", "tab:red")):
                w1 = torsion_w1(ang[name][:, t : t + 1], ref.angles[:, t : t + 1], ref.symmetry[t : t + 1])[0]
                ax.hist(ang[name][:, t], bins=bins, density=True, histtype="step", lw=1.5, color=color, label=f"{name} (W1 {w1:.2f})")
            ax.set_title(f"{ref.id} torsion {t}", fontsize=8)
            ax.set_xlim(-np.pi, np.pi)
            ax.legend(fontsize=6)
        axes[row, 0].set_ylabel(ref.smiles[:28], fontsize=7)
    fig.tight_layout()
    out = Path(args.output)
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
