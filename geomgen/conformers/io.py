"""Molecule input and output shared by the conformer commands: read SMILES / .smi / .csv /
.sdf inputs, write SD files atomically, and record per-molecule failures."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from geomgen.atomic import atomic_open, atomic_write


def read_molecules(source: str) -> Iterator[tuple[str, object]]:
    """Yield ``(name, smiles_or_mol)`` for a SMILES string or a .smi / .csv / .sdf file.

    * .smi: one SMILES per line, optional name after whitespace; ``#`` comments skipped.
    * .csv: a ``smiles`` column (any case) and optionally ``name`` or ``id``.
    * .sdf: the molecule's ``_Name`` (or its index); unreadable records yield ``None``.
    * anything else that is not an existing file is treated as one SMILES (name ``mol-0``).

    Raises:
        ValueError: for a file with an unknown extension or a csv without a smiles column.
    """
    path = Path(source)
    if not path.is_file():
        if path.suffix.lower() in {".smi", ".csv", ".sdf", ".txt"}:
            raise ValueError(f"input file {source!r} does not exist")
        yield "mol-0", source
        return
    ext = path.suffix.lower()
    if ext in {".smi", ".txt"}:
        with open(path) as f:
            for i, line in enumerate(f):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(maxsplit=1)
                yield (parts[1].strip() if len(parts) > 1 else f"mol-{i}"), parts[0]
    elif ext == ".csv":
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            cols = {c.lower(): c for c in reader.fieldnames or []}
            if "smiles" not in cols:
                raise ValueError(f"{source!r}: no 'smiles' column (columns: {reader.fieldnames})")
            name_col = cols.get("name") or cols.get("id")
            for i, row in enumerate(reader):
                yield (row[name_col] if name_col and row[name_col] else f"mol-{i}"), row[cols["smiles"]]
    elif ext == ".sdf":
        from rdkit import Chem

        for i, mol in enumerate(Chem.SDMolSupplier(str(path), removeHs=False)):
            name = mol.GetProp("_Name") if mol is not None and mol.HasProp("_Name") and mol.GetProp("_Name") else f"mol-{i}"
            yield name, mol
    else:
        raise ValueError(f"input file {source!r}: unknown extension {ext!r} (use .smi, .csv or .sdf)")


def write_sdf_atomic(path, mols) -> int:
    """Write molecules (each conformer a record) to ``path`` atomically; return record count.

    ``path == "-"`` writes to standard output. Each item of ``mols`` is ``(mol, conf_props)`` where ``conf_props`` is a list with one dict
    of SD properties per conformer (or ``None``).
    """
    import sys

    from rdkit import Chem

    def write_all(writer) -> int:
        n = 0
        for mol, props in mols:
            for c, conf in enumerate(mol.GetConformers()):
                rec = Chem.Mol(mol)
                for k, v in (props[c] if props is not None else {}).items():
                    rec.SetProp(k, f"{v:.6g}" if isinstance(v, float) else str(v))
                writer.write(rec, confId=conf.GetId())
                n += 1
        writer.flush()
        return n

    if str(path) == "-":  # standard output
        return write_all(Chem.SDWriter(sys.stdout))
    n = 0

    def write(tmp: str) -> None:
        nonlocal n
        with Chem.SDWriter(tmp) as w:
            n = write_all(w)

    atomic_write(path, write)
    return n


def read_inputs(source: str, prog: str):
    """All ``(name, item)`` of ``source`` for a command, or ``None`` after printing why not."""
    import sys

    try:
        items = list(read_molecules(source))
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
    if not items:
        print(f"{prog}: no molecules in {source!r}", file=sys.stderr)
        return None
    return items


def failures_path(output) -> Path:
    out = Path(output)
    return out.with_name(out.stem + ".failures.csv")


def write_failures(output, failures: list[dict]) -> Path | None:
    """Write ``name, input, reason`` rows beside ``output``; remove a stale file when none.
    With ``output == "-"`` (standard output) failures are only reported on standard error."""
    if str(output) == "-":
        return None
    path = failures_path(output)
    if not failures:
        if path.exists():
            path.unlink()
        return None
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["name", "input", "reason"])
        w.writeheader()
        for rec in failures:
            w.writerow({k: rec.get(k, "") for k in ("name", "input", "reason")})
    return path


def write_table_atomic(path, rows: list[dict]) -> None:
    """Write a list of dicts as csv atomically."""
    keys = list(rows[0].keys()) if rows else []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()})
