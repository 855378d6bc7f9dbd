"""Conformer reference sets: the file format, loading, and assembling per-molecule results.

A reference set is one compressed ``.npz`` per split holding, for every molecule, its seed
geometry (an MDL mol block with hydrogens, so atom order and stereo are fixed), canonical
isomeric SMILES, rotatable torsion definitions (:mod:`geomgen.conformers.torsions`) and their
symmetry orders (:func:`~geomgen.conformers.reference.convergence.torsion_symmetry`), reference
torsion samples of the MMFF94 Boltzmann distribution at 300 K (quantised to 2 pi / 65536 rad),
their MMFF energies, and the sampler's diagnostics (JSON, with the per-torsion convergence
figures). Format 2 adds the symmetry orders and the per-torsion diagnostics; format 3 adds, per
sample, which rings of :func:`~geomgen.conformers.reference.ring_flip.flippable_rings` are in the
other pucker than the seed's (a bit per ring; zero when the sampler made no ring flips); format 4
the mirror flag; format 5, per sample, the discrete states of its amide-like bonds and
configurational nitrogens (:data:`STORED_STATE_MOVES`, a bit per site, :func:`encode_states`), so
that rebuilt conformers carry the sampled E/Z and nitrogen states instead of the seed's (a
molecule whose record has none keeps the seed's). Older files still load (symmetry computed on
loading, convergence judged from the worst-case figures, no ring flipped, the seed's states).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write
from geomgen.conformers.reference.basins import gap_within
from geomgen.conformers.reference.convergence import ConvergenceTargets

QUANT = 65536
FORMAT_VERSION = 5
FIELDS = ("id", "smiles", "molblock", "torsion_atoms", "angles", "energies", "diagnostics", "symmetry", "ring_flipped", "mirrored",
          "states")
#: the moves whose monitored sites' states each sample stores (format 5): the E/Z states of
#: amide-like bonds and the configurations of acyclic nitrogens, which neither the torsions nor the
#: ring bits describe (ring puckers and ring nitrogens follow the ring bits)
STORED_STATE_MOVES = ("amide_flip", "nitrogen_inversion")
#: at most this many sites are stored (bits of a uint32)
MAX_STATE_BITS = 32


def _stored_moves(system) -> list:
    return [system.moves[name] for name in STORED_STATE_MOVES if name in system.moves and system.moves[name].monitored]


def stored_state_sites(system) -> int:
    """How many sites' states a sample stores: the monitored sites of :data:`STORED_STATE_MOVES`
    (at most :data:`MAX_STATE_BITS`)."""
    return min(sum(len(m.monitored) for m in _stored_moves(system)), MAX_STATE_BITS)


def encode_states(system, positions: np.ndarray, mirrored=None) -> np.ndarray:
    """Per sample ``[S]`` uint32, bit k the state of the k-th stored site (the monitored sites of
    :data:`STORED_STATE_MOVES`, in schedule order) of the conformer the store rebuilds before
    mirroring: the sample itself, or for a ``mirrored`` sample its mirror image.

    Args:
        system: the sampler's :class:`~geomgen.conformers.reference.sampler.System` of the molecule.
        positions: ``[S, N, 3]`` sampled geometries.
        mirrored: ``[S]`` bool (default: none mirrored).
    """
    pos = np.asarray(positions, dtype=np.float64)
    if mirrored is not None:
        pos = pos * np.where(np.asarray(mirrored, dtype=bool), -1.0, 1.0)[:, None, None]
    parts = [m.states(pos) for m in _stored_moves(system)]
    if not parts:
        return np.zeros(len(pos), np.uint32)
    bits = np.concatenate(parts, axis=1)[:, :MAX_STATE_BITS].astype(np.uint64)
    return (bits << np.arange(bits.shape[1], dtype=np.uint64)).sum(1).astype(np.uint32)


def apply_states(system, pos: np.ndarray, code: int) -> np.ndarray:
    """``pos [N, 3]`` with every stored site put in the state of ``code`` (:func:`encode_states`):
    each move's :meth:`~geomgen.conformers.reference.moves.base.Move.set_states` (a rigid flip
    where the state differs)."""
    k = 0
    for move in _stored_moves(system):
        n = min(len(move.monitored), MAX_STATE_BITS - k)
        if n <= 0:
            break
        want = np.array([(int(code) >> (k + j)) & 1 for j in range(n)], dtype=bool)
        have = move.states(pos[None])[0]
        pos = move.set_states(pos, np.concatenate([want, have[n:]]))
        k += n
    return pos


def recorded_targets(diagnostics: dict) -> ConvergenceTargets:
    """The thresholds a molecule was built to (``rhat_target``, ``ess_target``, ``w1_target``,
    ``state_gap_target`` of the ``config`` its diagnostics record; the defaults for what is not
    recorded): the evaluation splits of sampler version 4 ask for ESS >= 400 (revision 6: 800), not the
    default 100; revision 7 adds ``agreement_target``, revision 9 ``basin_tolerance``."""
    cfg = diagnostics.get("config") or {}
    base = ConvergenceTargets()
    return ConvergenceTargets(rhat=float(cfg.get("rhat_target", base.rhat)), ess=float(cfg.get("ess_target", base.ess)),
                              w1=float(cfg.get("w1_target", base.w1)), state_gap=float(cfg.get("state_gap_target", base.state_gap)),
                              agreement=float(cfg.get("agreement_target", base.agreement)),
                              basin_gap=float(cfg.get("basin_tolerance", base.basin_gap)))


def is_converged(diagnostics: dict, targets: ConvergenceTargets | None = None) -> bool:
    """Whether a molecule's stored diagnostics pass the convergence rule
    (:mod:`~geomgen.conformers.reference.convergence`) with ``targets`` (default: the thresholds
    the molecule was built to, :func:`recorded_targets`, so the label is the build's own).

    Per-torsion figures (sampler format 2) are judged torsion by torsion; older diagnostics
    only carry worst cases over raw angles and pairs of chains, which are judged the same way
    (a conservative reading: raw angles overstate the disagreement of symmetric torsions).
    Diagnostics of sampler version 3 also carry the monitored discrete states (``state_rhat``,
    ``state_ess``, ``state_gap`` per site), which must pass too; with an ``agreement`` target
    (revision 7) so must the recorded ``self_agreement``; with a ``basin_gap`` target (revision 9)
    the recorded ``basin_gap`` must be at most that (a run without a basin search records None and
    fails such a target)."""
    targets = targets or recorded_targets(diagnostics)
    if targets.agreement > 0 and not (diagnostics.get("self_agreement") or 0.0) >= targets.agreement:
        return False
    if not gap_within(diagnostics.get("basin_gap"), targets.basin_gap):
        return False
    if diagnostics.get("state_rhat"):  # discrete states (sampler version 3): judged like the torsions
        r, e, g = (np.asarray(diagnostics[k], dtype=np.float64) for k in ("state_rhat", "state_ess", "state_gap"))
        if not ((r < targets.rhat) & (e >= targets.ess) & (g <= targets.state_gap)).all():
            return False
    if diagnostics.get("n_torsions", 1) == 0:
        return True
    if "rhat" in diagnostics and isinstance(diagnostics["rhat"], list):
        r, e, w = (np.asarray(diagnostics[k], dtype=np.float64) for k in ("rhat", "ess", "w1"))
        return bool(((r < targets.rhat) & (e >= targets.ess) & (w <= targets.w1)).all())
    return bool(diagnostics.get("rhat_max", np.inf) < targets.rhat and diagnostics.get("ess_min", 0.0) >= targets.ess
                and diagnostics.get("interchain_w1_max", np.inf) <= targets.w1)


@dataclass
class ReferenceMolecule:
    """One molecule of a reference set.

    Attributes:
        id: identifier from the SMILES list.
        smiles: canonical isomeric SMILES (stereo as in the seed).
        mol: RDKit molecule with hydrogens and the seed conformer.
        torsion_atoms: ``[T, 4]`` dihedral atoms of the rotatable torsions.
        angles: ``[S, T]`` reference torsion samples (radians, float32).
        energies: ``[S]`` MMFF94 energies (kcal/mol).
        diagnostics: sampler diagnostics (R-hat, ESS, inter-half W1 per torsion, acceptance, ...).
        symmetry: ``[T]`` symmetry orders (the dihedral is defined modulo 2 pi / order).
        ring_flipped: ``[S]`` uint8, bit r set when sample s has ring r of
            :func:`~geomgen.conformers.reference.ring_flip.flippable_rings` in the other pucker
            than the seed's (all zero for samplers without ring flips); for a mirrored sample, of
            its mirror image.
        mirrored: ``[S]`` uint8, 1 when sample s is the mirror image of a conformer of the seed's
            ring puckers (after mirror moves, :func:`~geomgen.conformers.reference.sampler.mirror_symmetric`
            molecules only; all zero before format 4).
        states: ``[S]`` uint32, the discrete states of each sample's amide-like bonds and
            configurational nitrogens (:func:`encode_states`; of its mirror image for a mirrored
            sample), or None where not recorded (before format 5): then every rebuilt conformer
            has the seed's.
    """

    id: str
    smiles: str
    mol: object
    torsion_atoms: np.ndarray
    angles: np.ndarray
    energies: np.ndarray
    diagnostics: dict
    symmetry: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ring_flipped: np.ndarray | None = None
    mirrored: np.ndarray | None = None
    states: np.ndarray | None = None

    @property
    def converged(self) -> bool:
        """Whether every torsion passes the convergence rule with the default thresholds."""
        return is_converged(self.diagnostics)

    def _state_system(self):
        """The sampler's system of the molecule with the recorded settings: its state moves define
        the stored sites."""
        from geomgen.conformers.reference.sampler import SamplerConfig, System

        cfg = {k: v for k, v in (self.diagnostics.get("config") or {}).items() if k in SamplerConfig.__dataclass_fields__}
        return System(self.mol, self.torsions(), SamplerConfig(**cfg))

    def torsions(self):
        """The :class:`~geomgen.conformers.TorsionSet` of the stored torsion quadruples."""
        from geomgen.conformers.torsions import torsion_set_from_atoms

        return torsion_set_from_atoms(self.mol, self.torsion_atoms)

    def conformers(self, n: int | None = None):
        """Reference conformers rebuilt from the samples: the sampled torsions set on the seed,
        with the rings a sample has flipped (:attr:`ring_flipped`) flipped on the seed first (by the
        map of the sampler revision that built it), then
        its amide-like bonds and nitrogens put in its :attr:`states` (where recorded); a mirrored
        sample (:attr:`mirrored`) is the mirror image of the seed-based conformer with the negated
        torsions."""
        from geomgen.conformers.mmff import with_conformers
        from geomgen.conformers.reference.ring_flip import flippable_rings
        from geomgen.conformers.torsions import set_torsions

        keep = np.arange(len(self.angles)) if n is None else np.linspace(0, len(self.angles) - 1, n).round().astype(int)
        angles = self.angles[keep]
        flipped = np.zeros(len(keep), np.uint8) if self.ring_flipped is None else np.asarray(self.ring_flipped)[keep]
        sign = 1.0 - 2.0 * (np.zeros(len(keep)) if self.mirrored is None else np.asarray(self.mirrored, dtype=np.float64)[keep])
        codes = np.zeros(len(keep), np.uint32) if self.states is None else np.asarray(self.states, dtype=np.uint32)[keep]
        system = self._state_system() if self.states is not None else None
        seed = self.mol.GetConformer().GetPositions()
        # the map the sampler flipped with: fused rings' branches mirrored from revision 13 on
        revision = (self.diagnostics.get("sampler_version", 0), self.diagnostics.get("sampler_revision", 0))
        mirror = revision >= (4, 13) and self.diagnostics.get("config", {}).get("ring_flip_mirror", True)
        rings = flippable_rings(self.mol, mirror=mirror) if flipped.any() else []
        pos = np.empty((len(keep), self.mol.GetNumAtoms(), 3))
        for bits, code in np.unique(np.stack([flipped.astype(np.int64), codes.astype(np.int64)], 1), axis=0):
            start = seed
            for r, site in enumerate(rings):
                if bits >> r & 1:
                    start = site.flip(start)
            if system is not None:
                start = apply_states(system, start, int(code))
            sel = (flipped == bits) & (codes == code)
            pos[sel] = set_torsions(start, self.torsions(), sign[sel, None] * angles[sel]) * sign[sel, None, None]
        return with_conformers(self.mol, pos)


def read_smiles_csv(path) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        return [(r["id"], r["smiles"]) for r in csv.DictReader(f)]


def _atomic_savez(path: Path, **arrays) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    atomic_write(path, write)


def _read_npz(path) -> dict:
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}  # decompress each array once


def read_records(path) -> dict[str, dict]:
    """The per-molecule arrays of an assembled set (format 1 or 2), keyed by molecule id.

    Each record has the :data:`FIELDS` (``symmetry`` is ``None`` for format 1)."""
    z = _read_npz(path)
    version = int(z["format_version"])
    if version not in range(1, FORMAT_VERSION + 1):
        raise ValueError(f"{path}: format version {version}, this geomgen reads 1 to {FORMAT_VERSION}")
    t_off = np.concatenate([[0], np.cumsum(z["n_torsions"])])
    a_off = np.concatenate([[0], np.cumsum(z["n_torsions"] * z["n_samples"])])
    s_off = np.concatenate([[0], np.cumsum(z["n_samples"])])
    out = {}
    for m in range(len(z["id"])):
        t, s = int(z["n_torsions"][m]), int(z["n_samples"][m])
        out[str(z["id"][m])] = {
            "id": str(z["id"][m]),
            "smiles": str(z["smiles"][m]),
            "molblock": str(z["molblock"][m]),
            "torsion_atoms": z["torsion_atoms"][t_off[m] : t_off[m + 1]],
            "angles": z["angles"][a_off[m] : a_off[m + 1]].reshape(s, t),
            "energies": z["energies"][s_off[m] : s_off[m + 1]],
            "diagnostics": str(z["diagnostics"][m]),
            "symmetry": z["symmetry"][t_off[m] : t_off[m + 1]] if version >= 2 else None,
            "ring_flipped": z["ring_flipped"][s_off[m] : s_off[m + 1]] if version >= 3 else None,
            "mirrored": z["mirrored"][s_off[m] : s_off[m + 1]] if version >= 4 else None,
            "states": z["states"][s_off[m] : s_off[m + 1]] if version >= 5 and z["has_states"][m] else None,
        }
    return out


def _per_sample_bits(rec: dict, key: str) -> np.ndarray:
    """A per-sample uint8 field of a record (``ring_flipped``, ``mirrored``); zeros where an
    older record lacks it."""
    if rec.get(key) is not None:
        return np.asarray(rec[key], dtype=np.uint8).ravel()
    return np.zeros(len(rec["energies"]), np.uint8)


def _per_sample_states(rec: dict) -> np.ndarray:
    """A record's per-sample state codes (uint32); zeros where it has none (``has_states`` says which)."""
    if rec.get("states") is not None:
        return np.asarray(rec["states"], dtype=np.uint32).ravel()
    return np.zeros(len(rec["energies"]), np.uint32)


def _symmetry_of(rec: dict) -> np.ndarray:
    if rec.get("symmetry") is not None:
        return np.asarray(rec["symmetry"], dtype=np.int8)
    from rdkit import Chem

    from geomgen.conformers.reference.convergence import torsion_symmetry

    mol = Chem.MolFromMolBlock(rec["molblock"], removeHs=False)
    return torsion_symmetry(mol, rec["torsion_atoms"]).astype(np.int8)


def assemble(smiles_csv, work_dir, out_path, previous=None) -> dict:
    """Gather a split into one compressed npz (format :data:`FORMAT_VERSION`); return a summary.

    For every molecule of ``smiles_csv``: its result in ``work_dir`` (``<id>.npz``, written by
    :func:`~geomgen.conformers.reference.build.build_reference_set`) if there is one, else its
    record in ``previous`` (default: the existing ``out_path``), so a partial rebuild keeps the
    molecules it has not reached yet, flagged by their diagnostics.

    Returns:
        dict with ``molecules``, ``rebuilt`` (from ``work_dir``), ``kept`` (from ``previous``),
        ``converged``, ``failures`` (records of ``<id>.fail.json``) and ``missing``.
    """
    work = Path(work_dir)
    out = Path(out_path)
    previous = Path(previous) if previous is not None else out
    prev = read_records(previous) if previous.exists() else {}
    ids = [i for i, _ in read_smiles_csv(smiles_csv)]
    recs, failures, rebuilt, kept = [], [], 0, 0
    for i in ids:
        f = work / f"{i}.npz"
        if f.exists():
            z = _read_npz(f)
            recs.append({k: (z[k] if z[k].ndim else z[k].item()) if k in z else None for k in FIELDS})
            rebuilt += 1
        elif i in prev:
            recs.append(prev[i])
            kept += 1
        if (work / f"{i}.fail.json").exists() and not f.exists():
            failures.append(json.loads((work / f"{i}.fail.json").read_text()))
    n = len(recs)
    atoms = [np.asarray(r["torsion_atoms"], dtype=np.int16).reshape(-1, 4) for r in recs]
    angles = [np.asarray(r["angles"], dtype=np.uint16) for r in recs]
    _atomic_savez(
        out,
        format_version=np.array(FORMAT_VERSION),
        id=np.array([str(r["id"]) for r in recs]),
        smiles=np.array([str(r["smiles"]) for r in recs]),
        molblock=np.array([str(r["molblock"]) for r in recs]),
        diagnostics=np.array([str(r["diagnostics"]) for r in recs]),
        n_torsions=np.array([len(a) for a in atoms], dtype=np.int64),
        n_samples=np.array([len(r["energies"]) for r in recs], dtype=np.int64),
        torsion_atoms=np.concatenate(atoms) if n else np.zeros((0, 4), np.int16),
        symmetry=np.concatenate([_symmetry_of(r) for r in recs]) if n else np.zeros(0, np.int8),
        angles=np.concatenate([a.ravel() for a in angles]) if n else np.zeros(0, np.uint16),
        energies=np.concatenate([np.asarray(r["energies"], dtype=np.float32) for r in recs]) if n else np.zeros(0, np.float32),
        ring_flipped=np.concatenate([_per_sample_bits(r, "ring_flipped") for r in recs]) if n else np.zeros(0, np.uint8),
        mirrored=np.concatenate([_per_sample_bits(r, "mirrored") for r in recs]) if n else np.zeros(0, np.uint8),
        has_states=np.array([r.get("states") is not None for r in recs], dtype=bool),
        states=np.concatenate([_per_sample_states(r) for r in recs]) if n else np.zeros(0, np.uint32),
    )
    converged = sum(is_converged(json.loads(str(r["diagnostics"]))) for r in recs)
    return {"molecules": n, "rebuilt": rebuilt, "kept": kept, "converged": converged, "failures": failures,
            "missing": len(ids) - n - len(failures)}


def load_reference_set(split_or_path: str, converged_only: bool = False, targets: ConvergenceTargets | None = None) -> list[ReferenceMolecule]:
    """Load a reference set: a split name (``train``, ``val``, ``test``, ``drugs``) of the data
    shipped in ``data/conformers/`` or a path to an ``.npz`` written by :func:`assemble`.

    Args:
        converged_only (bool): keep only molecules whose every torsion passes the convergence
            rule (default False: all, each with its :attr:`ReferenceMolecule.converged` flag).
        targets (ConvergenceTargets, optional): thresholds for ``converged_only``.
    """
    from geomgen.assets import asset_path

    path = Path(split_or_path)
    if not path.suffix == ".npz":
        path = asset_path(f"data/conformers/reference_{split_or_path}.npz")
    out = []
    for rec in read_records(path).values():
        if converged_only and not is_converged(json.loads(rec["diagnostics"]), targets):
            continue
        out.append(molecule_from_record(rec))
    return out


def molecule_from_record(rec: dict) -> ReferenceMolecule:
    """A :class:`ReferenceMolecule` from one record's arrays: an entry of :func:`read_records`, or
    the ``arrays`` of a :func:`~geomgen.conformers.reference.build.sample_molecule` result (a
    per-molecule build file or a verification rerun)."""
    from rdkit import Chem

    mol = Chem.MolFromMolBlock(str(rec["molblock"]), removeHs=False)
    Chem.AssignStereochemistryFrom3D(mol)
    q = np.asarray(rec["angles"]).astype(np.float32)
    return ReferenceMolecule(
        id=str(rec["id"]),
        smiles=str(rec["smiles"]),
        mol=mol,
        torsion_atoms=np.asarray(rec["torsion_atoms"], dtype=np.int64).reshape(-1, 4),
        angles=(q / QUANT * 2 * np.pi - np.pi).astype(np.float32),
        energies=np.asarray(rec["energies"], dtype=np.float64),
        diagnostics=json.loads(str(rec["diagnostics"])),
        symmetry=_symmetry_of(rec).astype(np.int64),
        ring_flipped=_per_sample_bits(rec, "ring_flipped"),
        mirrored=_per_sample_bits(rec, "mirrored"),
        states=None if rec.get("states") is None else np.asarray(rec["states"], dtype=np.uint32).ravel(),
    )
