"""Select more training molecules from MOSES with the drugs' mix of torsion classes and functional groups.

    pip download --no-deps molsets==0.3.1 -d /tmp/wheels
    python data/conformers/select_training.py --wheels /tmp/wheels --n 3000 --pool 40000

Issue 28: the shipped VonMisesNet trails ETKDGv3+MMFF on the approved drugs, and what separates the
drugs from the training molecules (MOSES clean leads) is their make-up, not their size: twice the
share of sp3-sp3 torsions, five times the share of basic amines, twice the saturated ring nitrogens,
a third of the amides. This script draws ``--pool`` candidates at random from the MOSES training set
(the molecules that pass the splits' filters of ``make_splits.py`` and are in none of the existing
splits), describes each by binary features (:data:`FEATURES`: functional groups by SMARTS and
torsion classes by :func:`geomgen.conformers.torsions.torsion_class`), and weights the candidates by
raking (iterative proportional fitting, Deming & Stephan 1940) so that the weighted share of every
feature equals its share among the drugs; it then draws ``--n`` candidates without replacement with
probability proportional to the weights (Efraimidis & Spirakis 2006).

The drugs stay evaluation data: only their per-feature shares (one number per feature, in the
report) reach the selection, and a candidate with the same canonical SMILES or the same Murcko
scaffold as a drug is left out. Features that no candidate has (MOSES has no carboxylic acids) are
reported and left out of the raking.

Writes ``data/conformers/smiles_train_extra.csv`` (ids ``trainx-NNNNN``) and
``data/conformers/train_extra_selection.md`` (the shares: pool, current training set, selection,
drugs). Build its references with ``build_references.py --splits train_extra`` (the training split's
sampler settings).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: binary features: name -> SMARTS (functional groups) or ``class:<torsion class>[:min count]``
FEATURES = {
    "basic amine": "[NX3;H0,H1,H2;!$(NC=[O,S,N]);!$(NS=O);!$(Na);!$(N-a);!$(N-[#6]=[#7,#8,#16]);!$(N#*);!$(N=*)]",
    "saturated ring N": "[NX3;R;!$(NC=[O,S,N]);!$(NS=O);!$(Na);!$(N-a)]",
    "carboxylic acid": "C(=O)[OX2H1]",
    "amide": "[CX3](=O)[NX3]",
    "urea": "[NX3][CX3](=O)[NX3]",
    "sulfonamide": "S(=O)(=O)[NX3]",
    "ester": "[CX3](=O)[OX2][#6]",
    "aryl ether": "c[OX2][#6]",
    "halogen": "[F,Cl,Br,I]",
    "two or more sp3-sp3 torsions": "class:sp3-sp3:2",
    "an amide-adjacent torsion": "class:amide-adjacent",
    "an 'other' torsion": "class:other",
    "an aryl-N torsion": "class:aryl-N",
}

_PATTERNS: dict = {}


def features(mol, ts) -> np.ndarray:
    """The :data:`FEATURES` of ``mol`` (with hydrogens) and its rotatable torsions ``ts`` (bool)."""
    from rdkit import Chem

    from geomgen.conformers.torsions import torsion_class

    classes = [torsion_class(mol, int(q[1]), int(q[2])) for q in ts.atoms]
    out = []
    for spec in FEATURES.values():
        if spec.startswith("class:"):
            parts = spec.split(":")
            out.append(classes.count(parts[1]) >= (int(parts[2]) if len(parts) > 2 else 1))
        else:
            if spec not in _PATTERNS:
                _PATTERNS[spec] = Chem.MolFromSmarts(spec)
            out.append(mol.HasSubstructMatch(_PATTERNS[spec]))
    return np.array(out, dtype=bool)


def rake(x: np.ndarray, target: np.ndarray, iters: int = 500, tol: float = 1e-6) -> np.ndarray:
    """Weights ``[n]`` (mean 1) with ``sum(w * x[:, f]) / sum(w) = target[f]`` for every feature f
    (iterative proportional fitting of binary margins): each pass rescales the weights of the rows
    with and without feature f so that its weighted share is ``target[f]``. Features with a target
    of 0 or 1, or that every row or no row has, are skipped. Stops when every share is within ``tol``."""
    x = np.asarray(x, dtype=bool)
    w = np.ones(len(x))
    usable = [f for f in range(x.shape[1]) if 0 < target[f] < 1 and 0 < x[:, f].sum() < len(x)]
    for _ in range(iters):
        for f in usable:
            share = w[x[:, f]].sum() / w.sum()
            w[x[:, f]] *= target[f] / share
            w[~x[:, f]] *= (1 - target[f]) / (1 - share)
        shares = np.array([w[x[:, f]].sum() / w.sum() for f in usable])
        if np.all(np.abs(shares - target[usable]) < tol):
            break
    return w / w.mean()


def weighted_sample(w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` indices drawn without replacement with probability proportional to ``w``
    (Efraimidis-Spirakis keys ``u ** (1 / w)``), in draw order."""
    if k > np.count_nonzero(w > 0):
        raise ValueError(f"cannot draw {k} items from {np.count_nonzero(w > 0)} with positive weight")
    keys = np.log(rng.random(len(w))) / np.where(w > 0, w, np.nan)
    keys = np.where(np.isnan(keys), -np.inf, keys)
    return np.argsort(-keys)[:k]


def shares(x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    w = np.ones(len(x)) if w is None else w
    return (w[:, None] * x).sum(0) / w.sum()


def _describe(smiles_list, kind: str):
    """(kept SMILES, features [n, F]) of the molecules that pass make_splits' filters."""
    from make_splits import accepted

    keep, feats = [], []
    for smi in smiles_list:
        got = accepted(smi, kind)
        if got is None:
            continue
        keep.append(got[0])
        feats.append(features(got[1], got[2]))
    return keep, np.array(feats, dtype=bool).reshape(-1, len(FEATURES))


def _scaffold(smiles: str) -> str:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(Chem.MolFromSmiles(smiles)))


def main(argv=None) -> int:
    from make_splits import _read_member, _smiles_column
    from rdkit import RDLogger
    from tqdm import tqdm

    from geomgen.atomic import atomic_write_text
    from geomgen.conformers.reference.store import read_smiles_csv
    from geomgen.tables import publish

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, required=True, help="folder with the molsets 0.3.1 wheel")
    ap.add_argument("--n", type=int, default=3000, help="molecules to select (default 3000)")
    ap.add_argument("--pool", type=int, default=40000, help="random MOSES candidates described (default 40000)")
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--out", type=Path, default=HERE / "smiles_train_extra.csv")
    args = ap.parse_args(argv)
    RDLogger.DisableLog("rdApp.*")
    rng = np.random.default_rng(args.seed)

    existing = {split: [s for _, s in read_smiles_csv(HERE / f"smiles_{split}.csv")] for split in ("train", "val", "test", "drugs")}
    taken = {s for split in ("train", "val", "test") for s in existing[split]}
    drug_smiles = set(existing["drugs"])
    drug_scaffolds = {_scaffold(s) for s in existing["drugs"]}
    _, drug_x = _describe(existing["drugs"], "drugs")
    _, train_x = _describe(existing["train"], "moses")
    target = shares(drug_x)

    moses = _smiles_column(_read_member(args.wheels, "molsets-*.whl", "moses/dataset/data/train.csv.gz"))
    pool, pool_x = [], []
    in_split = like_drug = 0
    for i in tqdm(rng.permutation(len(moses)), desc="MOSES candidates", total=len(moses)):
        if len(pool) >= args.pool:
            break
        kept, x = _describe([moses[i]], "moses")
        if not kept:
            continue
        smi = kept[0]
        if smi in taken:
            in_split += 1
            continue
        if smi in drug_smiles or _scaffold(smi) in drug_scaffolds:
            like_drug += 1
            continue
        taken.add(smi)
        pool.append(smi)
        pool_x.append(x[0])
    pool_x = np.array(pool_x, dtype=bool)
    w = rake(pool_x, target)
    pick = np.sort(weighted_sample(w, args.n, rng))
    chosen = [pool[i] for i in pick]

    rows = ["id,smiles,source"] + [f"trainx-{k:05d},{s},MOSES train (molsets 0.3.1) selected for the drugs' feature shares"
                                   for k, s in enumerate(chosen)]
    atomic_write_text(args.out, "\n".join(rows) + "\n")
    names = list(FEATURES)
    ess = w.sum() ** 2 / (w ** 2).sum()
    lines = ["# More training molecules: MOSES selected for the drugs' mix of torsions and groups", "",
             f"`python data/conformers/select_training.py --wheels WHEELS --n {args.n} --pool {args.pool} --seed {args.seed}`", "",
             f"{len(pool)} MOSES training molecules drawn at random that pass the splits' filters (left out: {in_split} "
             f"already in a split, {like_drug} identical to a drug or sharing its "
             f"Murcko scaffold); raking weights (effective size {ess:.0f} of {len(pool)}, largest weight {w.max():.1f}); "
             f"{len(chosen)} drawn with probability proportional to the weights into `{args.out.name}`.", "",
             "| feature | pool | current training set | selected | drugs (target) |", "|---|---|---|---|---|"]
    for f, name in enumerate(names):
        unreachable = " (no candidate has it: not raked)" if not pool_x[:, f].any() else ""
        lines.append(f"| {name}{unreachable} | {shares(pool_x)[f]:.3f} | {shares(train_x)[f]:.3f} | "
                     f"{shares(pool_x[pick])[f]:.3f} | {target[f]:.3f} |")
    publish(HERE / "train_extra_selection.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
