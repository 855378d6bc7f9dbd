"""Build the amide state library shipped with geomgen (data/conformers/state_library.npz).

    python data/conformers/build_state_library.py [--out data/conformers/state_library.npz] [--jobs 2]

The partial double-bond fragments (:func:`geomgen.conformers.statelib.site_fragments`) of the
training, validation and test splits (smiles_{train,val,test}.csv), each built with
:func:`geomgen.conformers.statelib.build_state_energies` (seed 0, as the on-disk cache builds
them), written with :func:`geomgen.conformers.statelib.save_library`. The approved drugs
(smiles_drugs.csv) are evaluation data only: their fragments are deliberately left out, so the
drugs split measures the first-use path too. The output is deterministic for a given RDKit
version; ``--jobs`` builds on a process pool (any order gives the same file).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "val", "test")


def _build(key: str):
    from geomgen.conformers.statelib import build_state_energies

    try:
        return build_state_energies(key), None
    except (ValueError, RuntimeError) as exc:
        return None, f"{key}: {exc}"


def main(argv=None) -> int:
    from rdkit import RDLogger
    from tqdm import tqdm

    from geomgen.conformers.molecule import MoleculeError, parse_molecule
    from geomgen.conformers.reference.store import read_smiles_csv
    from geomgen.conformers.statelib import save_library, site_fragments

    RDLogger.DisableLog("rdApp.*")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "state_library.npz"))
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    keys: dict[str, None] = {}
    for mol_id, smiles in (pair for split in SPLITS for pair in read_smiles_csv(HERE / f"smiles_{split}.csv")):
        try:
            keys.update(dict.fromkeys(f.key for f in site_fragments(parse_molecule(smiles, name=mol_id))))
        except MoleculeError as exc:
            print(f"skipped {mol_id}: {exc}", file=sys.stderr)
    t0 = time.perf_counter()
    built, failed = [], []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for out, why in tqdm(pool.map(_build, list(keys), chunksize=4), total=len(keys), desc="fragments"):
            if out is None:
                failed.append(why)
            else:
                built.append(out)
    for why in failed:
        print(f"not built: {why}", file=sys.stderr)
    save_library(args.out, built)
    print(f"{len(built)} fragments ({len(failed)} failed), {Path(args.out).stat().st_size / 1e6:.2f} MB in {args.out}, "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
