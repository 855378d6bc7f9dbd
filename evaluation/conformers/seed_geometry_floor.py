"""How far the seed geometry alone keeps geomgen from the references: coverage with oracle torsions.

    python -m evaluation.conformers.seed_geometry_floor --splits test drugs -o evaluation/conformers/seed_geometry_floor.md

geomgen's conformers are its seeds with sampled torsions; bond lengths, angles and ring puckers are
the seed's. Here the sampled torsions are replaced by the right ones: for every converged
reference, each of the molecule's seeds (one per ``ring_seed`` / ``state_seed`` of a plain
generation with the shipped model) gets the exact torsions of each of the n reference conformers
(``dihedral_angles`` at the reference's torsions), and COV-R / AMR-R are computed against those
reference conformers as in ``evaluate.py``. Whatever RMSD remains comes from the seed geometry
(and from rings the seed has in another pucker). ``reference seed`` puts the same torsions on the
reference's own seed (a check: zero apart from the reference's ring flips, and with mirror images
allowed, its mirror moves). The mirror columns add each seed's mirror image: a reference of a
molecule without stereocentres visits both mirror images of its ring and pseudo-chiral
arrangements, which torsions on one seed cannot reach. Compare with ETKDGv3+MMFF's AMR-R and coverage in ``evaluate.py`` tables: a floor above
them means no torsion model on these seeds can match ETKDGv3+MMFF in RMSD.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.tables import markdown_table, publish  # noqa: E402

HERE = Path(__file__).resolve().parent
THRESHOLD = 0.75


def seed_geometries(mol) -> list:
    """One geometry per seed of a generated molecule (its conformers grouped by ``ring_seed`` or
    ``state_seed``; one group when neither is set)."""
    import numpy as np

    out = {}
    for c in mol.GetConformers():
        key = next((int(c.GetProp(p)) for p in ("ring_seed", "state_seed") if c.HasProp(p)), 0)
        out.setdefault(key, np.asarray(c.GetPositions()))
    return list(out.values())


def oracle_scores(ref, seeds: list, n: int) -> dict:
    """COV-R@0.75 and AMR-R of the reference's own torsions (its ``n`` conformers) set on ``seeds``
    (``cov``, ``amr``), and with the mirror images of those conformers added (``cov_mirror``,
    ``amr_mirror``: the seeds' mirror images with the negated torsions, which a reference of a
    molecule without stereocentres samples through its mirror moves)."""
    import numpy as np
    from rdkit import Chem

    from geomgen.conformers.generator import _with_conformers
    from geomgen.conformers.torsions import dihedral_angles, set_torsions
    from geomgen.metrics import coverage

    refs = ref.conformers(n)
    target = np.stack([c.GetPositions() for c in refs.GetConformers()])
    ts = ref.torsions()
    ang = dihedral_angles(target, ts.atoms)
    pos = np.concatenate([set_torsions(s, ts, ang) for s in seeds])
    mirror = np.concatenate([-set_torsions(s, ts, -ang) for s in seeds])
    plain = coverage(refs, _with_conformers(Chem.Mol(ref.mol), pos), (THRESHOLD,))
    both = coverage(refs, _with_conformers(Chem.Mol(ref.mol), np.concatenate([pos, mirror])), (THRESHOLD,))
    return {"cov": plain["COV-R"][THRESHOLD], "amr": plain["AMR-R"],
            "cov_mirror": both["COV-R"][THRESHOLD], "amr_mirror": both["AMR-R"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["test", "drugs"])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--max-molecules", type=int, default=100)
    ap.add_argument("-o", "--out", type=Path, default=HERE / "seed_geometry_floor.md")
    args = ap.parse_args(argv)
    import numpy as np
    import torch
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.reference.store import load_reference_set

    torch.set_num_threads(1)
    gens = {"assembled seeds (default)": ConformerGenerator.from_checkpoint(seed_method="assembly"),
            "ETKDGv3 seed": ConformerGenerator.from_checkpoint(seed_method="etkdg")}
    rows = []
    for split in args.splits:
        refs = load_reference_set(split, converged_only=True)[: args.max_molecules]
        scores = {"reference seed": [], **{k: [] for k in gens}}
        for r in refs:
            scores["reference seed"].append(oracle_scores(r, [r.mol.GetConformer().GetPositions()], args.n))
            for name, g in gens.items():
                mols, _ = g.generate_many([(r.id, Chem.Mol(r.mol))], args.n, seed=args.seed)
                scores[name].append(None if mols[0] is None else oracle_scores(r, seed_geometries(mols[0]), args.n))
            print(split, r.id, {k: v[-1] for k, v in scores.items()}, flush=True)
        for name, s in scores.items():
            ok = [x for x in s if x is not None]
            rows.append([split, name, len(ok), *(f"{np.mean([x[k] for x in ok]):.3f}" for k in ("cov", "amr", "cov_mirror", "amr_mirror"))])
    lines = ["# Seed geometry floor: the references' own torsions on geomgen's seeds", "",
             f"`python -m evaluation.conformers.seed_geometry_floor --splits {' '.join(args.splits)} -n {args.n} "
             f"--seed {args.seed} --max-molecules {args.max_molecules}`: every converged reference (up to the cap), its "
             f"n = {args.n} reference conformers' torsions set on each seed of a plain generation (seed {args.seed}); "
             "COV-R and AMR-R against those reference conformers. See the module docstring.", "",
             *markdown_table(["split", "seeds", "molecules", f"COV-R@{THRESHOLD} (oracle torsions)", "AMR-R (oracle torsions)",
                              f"COV-R@{THRESHOLD}, mirror images too", "AMR-R, mirror images too"], rows)]
    publish(args.out, lines)


if __name__ == "__main__":
    main()
