"""Molecule input and output shared by the conformer commands: read SMILES / .smi / .csv /
.sdf inputs (with line numbers and unique names), write SD files atomically or streamed record
by record, read back a streamed file to resume it, and record per-molecule failures."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from geomgen.atomic import atomic_open, output_problem

#: input file types, by suffix
INPUT_SUFFIXES = (".smi", ".txt", ".csv", ".sdf")
#: columns of a failures file
FAILURE_FIELDS = ("name", "input_line", "input", "reason")


class InputMolecule(NamedTuple):
    """One molecule of an input.

    Attributes:
        line (int): where it is: the line of a .smi / .csv file (1-based), the record number of
            an .sdf file (1-based), 1 for a SMILES given on the command line.
        name (str): its name, unique within the input (a repeated name gets ``_2``, ``_3``...).
        item: a SMILES string, an RDKit molecule, or ``None`` for an unreadable SD record.
        given_name (str): the name as the input gives it (or its default, ``mol-<index>``).
    """

    line: int
    name: str
    item: object
    given_name: str


def sd_safe_name(name: str) -> str:
    """``name`` made safe as an SD title line and property value: control characters (line breaks,
    tabs, NUL) become ``_``, and a name that an SD reader would take for a record or block end
    (``$$$$``, ``M  END``) or a property header (``>``) gets a leading ``_``."""
    safe = "".join("_" if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in str(name)).strip()
    if safe.startswith(("$$$$", "M  END", ">")):
        safe = "_" + safe
    return safe


def _is_file(path: Path) -> tuple[bool, bool]:
    """(is a folder, is a file); a string too long to be a file name is neither."""
    try:
        return path.is_dir(), path.is_file()
    except OSError:  # e.g. "File name too long": a long SMILES on the command line
        return False, False


def _raw_molecules(source: str) -> Iterator[tuple[int, str, object]]:
    path = Path(source)
    ext = path.suffix.lower() if len(source) < 256 else ""
    is_dir, is_file = _is_file(path)
    if is_dir:
        raise ValueError(f"{source!r}: is a folder, not an input file")
    if not is_file:
        if ext in INPUT_SUFFIXES:
            raise ValueError(f"input file {source!r} does not exist")
        yield 1, "mol-0", source
        return
    try:
        if ext in {".smi", ".txt"}:
            with open(path, encoding="utf-8-sig") as f:
                for i, line in enumerate(f):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    parts = line.split(maxsplit=1)
                    yield i + 1, (parts[1].strip() if len(parts) > 1 else f"mol-{i}"), parts[0]
        elif ext == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: a byte-order mark is not part of the header
                reader = csv.DictReader(f)
                cols = {c.lower(): c for c in reader.fieldnames or []}
                if "smiles" not in cols:
                    raise ValueError(f"{source!r}: no 'smiles' column (columns: {reader.fieldnames})")
                name_col = cols.get("name") or cols.get("id")
                for i, row in enumerate(reader):
                    yield reader.line_num, (row[name_col] if name_col and row[name_col] else f"mol-{i}"), row[cols["smiles"]]
        elif ext == ".sdf":
            from rdkit import Chem

            if path.stat().st_size == 0:
                return
            for i, mol in enumerate(Chem.SDMolSupplier(str(path), removeHs=False)):
                name = mol.GetProp("_Name") if mol is not None and mol.HasProp("_Name") and mol.GetProp("_Name") else f"mol-{i}"
                yield i + 1, name, mol
        else:
            raise ValueError(f"input file {source!r}: unknown extension {ext!r} (use .smi, .csv or .sdf)")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source!r}: not a text file ({exc.reason} at byte {exc.start})") from None


def unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when taken; the result is added to ``used``."""
    unique, k = name, 1
    while unique in used:
        k += 1
        unique = f"{name}_{k}"
    used.add(unique)
    return unique


def iter_input_molecules(source: str) -> Iterator[InputMolecule]:
    """The molecules of a SMILES string or a .smi / .csv / .sdf file, with line numbers and unique names.

    * .smi: one SMILES per line, optional name after whitespace; ``#`` comments skipped.
    * .csv: a ``smiles`` column (any case) and optionally ``name`` or ``id``.
    * .sdf: the molecule's ``_Name`` (or its index); unreadable records have ``item = None``.
    * anything else that is not an existing file is treated as one SMILES (name ``mol-0``), also a
      string too long to be a file name.

    Text files may start with a UTF-8 byte-order mark.

    Names are made safe for SD files (:func:`sd_safe_name`: no line breaks, nothing an SD reader
    would take for a record end). Default names are ``mol-<index>`` (0-based line / row / record
    index). A name seen before gets
    the first free suffix ``_2``, ``_3``..., so failures and SD records can be told apart.

    Raises:
        ValueError: a missing file with an input suffix, a folder, an unknown extension, a csv
            without a smiles column, a file that is not text.
        OSError: a file that cannot be read (permissions...).
    """
    used: set[str] = set()
    for line, name, item in _raw_molecules(source):
        name = sd_safe_name(name) or f"mol-{line - 1}"
        yield InputMolecule(line, unique_name(name, used), item, name)


def read_molecules(source: str) -> Iterator[tuple[str, object]]:
    """``(name, smiles_or_mol)`` of each molecule of :func:`iter_input_molecules` (names unique)."""
    for m in iter_input_molecules(source):
        yield m.name, m.item


def read_input_molecules(source: str, prog: str) -> list[InputMolecule] | None:
    """All :class:`InputMolecule` of ``source``, or ``None`` after printing one line saying why not."""
    import sys

    try:
        items = list(iter_input_molecules(source))
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
    except OSError as exc:
        print(f"{prog}: {source!r}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return None
    if not items:
        print(f"{prog}: no molecules in {source!r}", file=sys.stderr)
        return None
    return items


def read_inputs(source: str, prog: str):
    """All ``(name, item)`` of ``source`` for a command, or ``None`` after printing why not."""
    items = read_input_molecules(source, prog)
    return None if items is None else [(m.name, m.item) for m in items]


def _prop_text(props: dict) -> str:
    return "".join(f">  <{k}>  \n{f'{v:.6g}' if isinstance(v, float) else v}\n\n" for k, v in props.items() if k != "_Name")


def sdf_records(mol, props=None) -> Iterator[str]:
    """The SD record (text) of each conformer of ``mol``.

    ``props`` is a list with one dict of SD properties per conformer (or ``None``); ``_Name``
    is the record's title line; floats are written with 6 significant digits.

    RDKit writes the molecule's connection table once (V2000, from the first conformer); each
    record is that table with the conformer's coordinates in place, so the cost per record is
    that of formatting its coordinates. The table carries no wedge bonds: RDKit derives them
    from a 2D projection of each conformer, so they would differ between conformers of one
    molecule, while a 3D record's stereochemistry is in its coordinates (and the atom parities,
    the same for every conformer of one stereoisomer), which is where readers take it from.
    Molecules too large for V2000 (more than 999 atoms or bonds) are written record by record
    by RDKit's SD writer.
    """
    from rdkit import Chem

    confs = list(mol.GetConformers())
    if not confs:
        return
    props = props if props is not None else [{} for _ in confs]
    n_atoms, n_bonds = mol.GetNumAtoms(), mol.GetNumBonds()
    if n_atoms > 999 or n_bonds > 999:
        template = Chem.Mol(mol)
        template.RemoveAllConformers()
        for c, conf in enumerate(confs):
            rec = Chem.Mol(template)
            rec.AddConformer(Chem.Conformer(conf), assignId=True)
            for k, v in props[c].items():
                rec.SetProp(k, f"{v:.6g}" if isinstance(v, float) else str(v))
            yield Chem.SDWriter.GetText(rec)
        return
    lines = Chem.MolToMolBlock(mol, confId=confs[0].GetId()).split("\n")
    counts = 3  # title, program and comment lines, then the counts line
    atom_tails = [line[30:] for line in lines[counts + 1 : counts + 1 + n_atoms]]
    bonds = lines[counts + 1 + n_atoms : counts + 1 + n_atoms + n_bonds]
    bonds = [b[:9] + "  0" + b[12:] if b[9:12] in ("  1", "  6") and b[6:9] == "  1" else b for b in bonds]  # no wedges
    head = "\n".join(lines[1 : counts + 1]) + "\n"
    tail = "\n".join([*bonds, *lines[counts + 1 + n_atoms + n_bonds :]]).rstrip("\n") + "\n"
    default_name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    for c, conf in enumerate(confs):
        pos = conf.GetPositions()
        atoms = "".join(f"{x:10.4f}{y:10.4f}{z:10.4f}{t}\n" for (x, y, z), t in zip(pos.tolist(), atom_tails))
        name = str(props[c].get("_Name", default_name))
        yield f"{name}\n{head}{atoms}{tail}{_prop_text(props[c])}$$$$\n"


def write_sdf_atomic(path, mols) -> int:
    """Write molecules (each conformer a record) to ``path`` atomically; return record count.

    ``path == "-"`` writes to standard output. Each item of ``mols`` is ``(mol, conf_props)`` where ``conf_props`` is a list with one dict
    of SD properties per conformer (or ``None``). Time is linear in the number of records
    (:func:`sdf_records`; evaluation/conformers/write_scaling.py).
    """
    import sys

    def write_all(f) -> int:
        n = 0
        for mol, props in mols:
            for text in sdf_records(mol, props):
                f.write(text)
                n += 1
        return n

    if str(path) == "-":  # standard output
        n = write_all(sys.stdout)
        sys.stdout.flush()
        return n
    with atomic_open(path, "w") as f:
        return write_all(f)


class SDFGroup(NamedTuple):
    """The consecutive records of one molecule in an SD file written by ``geomgen conformers``."""

    line: int
    name: str
    text: str
    records: int


def _sd_property(record: list[str], key: str) -> str | None:
    tag = f"<{key}>"
    for i, row in enumerate(record[:-1]):
        if row.startswith(">") and tag in row:
            return record[i + 1].rstrip("\n")
    return None


def read_sdf_groups(path) -> Iterator[SDFGroup]:
    """Stream the records of an SD file written by ``geomgen conformers``, grouped by molecule
    (consecutive records with the same ``input_line`` property), keeping their exact text.

    Raises:
        ValueError: a record without ``input_line`` (naming it), or a last record cut short.
    """
    group: list[str] = []
    key = None
    record: list[str] = []
    records = 0
    n = 0
    with open(path) as f:
        for row in f:
            record.append(row)
            if row.rstrip("\r\n") != "$$$$":
                continue
            n += 1
            line, name = _sd_property(record, "input_line"), _sd_property(record, "molecule")
            if line is None or name is None or not line.strip().isdigit():
                raise ValueError(f"{str(path)!r}: record {n} ({record[0].strip()!r}) has no input_line and molecule properties "
                                 "(not written by geomgen conformers)")
            if key is not None and key != (int(line), name):
                yield SDFGroup(key[0], key[1], "".join(group), records)
                group = []
            if not group:
                key, records = (int(line), name), 0
            group += record
            records += 1
            record = []
    if any(r.strip() for r in record):
        raise ValueError(f"{str(path)!r}: the last record is cut short (no $$$$ line)")
    if group:
        yield SDFGroup(key[0], key[1], "".join(group), records)


def failures_path(output) -> Path:
    out = Path(output)
    return out.with_name(out.stem + ".failures.csv")


def read_failures(output) -> list[dict]:
    """The rows of the failures file beside ``output`` (none when it does not exist)."""
    path = failures_path(output)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_failures(output, failures: list[dict]) -> Path | None:
    """Write ``name, input_line, input, reason`` rows beside ``output``; remove a stale file when none.
    With ``output == "-"`` (standard output) failures are only reported on standard error."""
    if str(output) == "-":
        return None
    path = failures_path(output)
    if not failures:
        if path.exists():
            path.unlink()
        return None
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FAILURE_FIELDS)
        w.writeheader()
        for rec in failures:
            w.writerow({k: rec.get(k, "") for k in FAILURE_FIELDS})
    return path


class _Discard(Exception):
    """Thrown into :func:`~geomgen.atomic.atomic_open` to drop its temporary file."""


class StreamedFile:
    """A file written piece by piece into a temporary file beside ``path`` (created at once, so
    a path that cannot be written fails before any work), moved into place by :meth:`finish`.

    :meth:`finish` keeps the file when anything was written; when nothing was, it drops the
    temporary file and removes a stale ``path`` from an earlier run. :meth:`discard` drops the
    temporary file and leaves ``path`` alone.

    Raises:
        IsADirectoryError, OSError: ``path`` is a folder or cannot be written.
    """

    def __init__(self, path, mode: str = "w", **kwargs):
        self.path = Path(path)
        self.count = 0
        self._cm = atomic_open(self.path, mode, **kwargs)
        self.file = self._cm.__enter__()

    def write(self, text: str, count: int = 1) -> None:
        """Write ``text`` and flush it; ``count`` adds to :attr:`count` (records, rows)."""
        self.file.write(text)
        self.file.flush()
        self.count += count

    def discard(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(_Discard, _Discard(), None)

    def finish(self) -> bool:
        """Move the file into place if anything was written (returns True), else remove any stale one."""
        if self._cm is None:
            return False
        if self.count:
            cm, self._cm = self._cm, None
            cm.__exit__(None, None, None)
            return True
        self.discard()
        if self.path.is_file():
            self.path.unlink()
        return False


def check_output_path(path, suffixes: tuple[str, ...], allow_stdout: bool = True) -> str | None:
    """Why ``path`` cannot be an output file with one of ``suffixes`` (``None`` when it can; ``-``
    is standard output). Writability is checked by opening the output (:class:`StreamedFile`)."""
    if allow_stdout and str(path) == "-":
        return None
    return output_problem(path, suffixes)


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
