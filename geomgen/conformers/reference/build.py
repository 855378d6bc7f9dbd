"""Build conformer reference sets on any :class:`concurrent.futures.Executor`.

:func:`sample_molecule` is a pure function (SMILES and settings in, arrays out), so it runs in a
local process pool, on a Dask cluster (``distributed.Client(...).get_executor()``) or any other
executor; the caller writes each result atomically to ``work_dir/<id>.npz`` (or the reason to
``<id>.fail.json``) as it arrives, so an interrupted build resumes where it stopped.
:func:`~geomgen.conformers.reference.store.assemble` then gathers a split into one file.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from geomgen.atomic import atomic_write_text
from geomgen.conformers.reference.sampler import REFINE_MOVES
from geomgen.conformers.reference.store import QUANT, _atomic_savez, read_smiles_csv

#: version (and revision) recorded in every molecule's diagnostics; what each version changed is
#: in CHANGELOG.md (reference data). Version 4: seeds whose flexible rings are in a low-energy
#: library conformation (``embed_seed(library_rings=True)``), evaluation splits to ESS >= 400;
#: revision 1: ring puckers that a substituent labels are monitored states; revision 2: ring
#: nitrogens invert (their substituent between axial and equatorial); revision 3: amide flips that
#: warm-up hardly ever accepts are made less often after it (``amide_flip_adapt``), and a molecule
#: whose chains have not left their (different) states of a discrete site after a quarter of its
#: CPU budget is stopped as not converged (``give_up_after``); revision 4: that rate is set per
#: site from the acceptance of flips out of its favoured state (the warm-up's flips out of strained
#: starts no longer keep it high); revision 5: a molecule whose ESS or inter-half W1, extrapolated to
#: the CPU cap, misses its target by more than ``projection_margin`` (2) is stopped as not converged
#: after a quarter of its budget (the same samplers and rule: only the hopeless part of a budget is saved);
#: revision 6: evaluation splits to ESS >= 800 with 1,600 stored samples and a 1,800 CPU-s cap
#: (at ESS 400 even an exact sampler passes the verification rule for only about 91 % of molecules,
#: ``verification.exact_agreement``; at twice that, about 98 %); revision 7: evaluation splits to ESS >= 400
#: again, and on until a rerun by an exact sampler at the run's effective sizes would agree with it by
#: the verification rule with probability >= 0.95 (``agreement_target``, ``verification.self_agreement``):
#: each molecule gets the effective size its torsions need (one narrow well: about 400; two wells half a
#: turn apart: 1,000 or more) instead of one flat 800; revision 8: the stored samples grow with the ESS up
#: to 3,200 (``max_samples``): at a fixed 1,600 a two-well torsion's stored set alone caps the agreement
#: figure near 0.95, whatever the ESS (drugs-00098: ESS 4,381 and more, figure 0.93 at the sweep cap);
#: revision 9: a basin search before the chains (64 minimised over-dispersed starts, discrete states
#: at random), two of the four chains started in its two lowest minima, and a molecule whose
#: lowest-energy samples relax into nothing within 0.5 kcal/mol of the search's lowest minimum is
#: not converged (``basin_search``, ``basin_starts``, ``basin_tolerance``;
#: :mod:`geomgen.conformers.reference.basins`): baclofen's rev-7 reference passed every figure and
#: never visited the acid's anti state, whose minimum lies 0.97 kcal/mol below the syn state's; and
#: evaluation splits may run 300,000 sweeps per chain (was 100,000), so that the CPU cap, not the
#: sweep cap, ends a small molecule's run (drugs-00108: ring-pucker ESS 201 at 100,000 sweeps after
#: 340 of its 1,800 CPU-s); revision 10: one smart-darting move per sweep between the basin search's
#: lowest minima (``dart_moves_per_sweep``, :mod:`~geomgen.conformers.reference.moves.darting`):
#: baclofen's acid state, hydrogen-bonded to the amine, was reached by no NCMC flip (acceptance
#: 0.0004) and stopped at state ESS 26 after 457 CPU-s at revision 9; with darts (acceptance 0.036)
#: the same seed converged in 191 CPU-s with state ESS 685; revision 11: darts carry the monitored ring
#: puckers and nitrogen configurations (``dart_flips``): a jump between darts in different states flips
#: those sites too (evaluation/conformers/state_mixing_dart_flips.md, seed 11, 300 CPU-s: slowest-state
#: ESS per CPU-s 2.4x on drugs-00052 and 6.0x on test-00095, which converged in 84 CPU-s and did not in 302);
#: revision 12: the rings of spiro systems and the saturated rings fused to one aromatic ring (tetralins,
#: chromans, tetrahydroquinolines) flip too (``ring_flip.flippable_rings``), and so start in either pucker:
#: test-00301's spiro piperidine-lactam kept its seed's puckers in every chain, passed the rule, and a rerun
#: from another seed disagreed on the lactam's aryl torsion by 0.386 rad (verify_references_r18.md); chains
#: of 2-methylchroman never left their start's half-chair in 2,000 sweeps without the move. And a pucker is
#: labelled only by a substituent of an sp3 ring atom (``ring_flip.pucker_reporter``): a lactam's or ketone's
#: oxygen stays in plane in both puckers, so it labelled none, and the store rebuilt such rings' flipped
#: samples in the seed's pucker (15 converged val, test and drugs references of revisions up to 11);
#: revision 13: a fused ring's flip reflects the branches that carry no stereocentre through the aromatic
#: plane instead of carrying them by their atoms' frames (``ring_flip``, "Mirrored branches"): frame-carried,
#: a carbonyl, N-alkyl or C-aryl group kept its own dihedrals while the ring's changed sign, the flip cost a
#: median 29-70 kcal/mol, and val-00040 and drugs-00041 stopped unconverged at ring-state ESS 8 and 5; at 150
#: CPU-s, same seed, val-00040's ring-state ESS per CPU-s is 20x revision 12's and drugs-00041 converges in
#: 46 CPU-s (evaluation/conformers/state_mixing_fused_mirror.md); diazepam's flip of a minimum costs 1.1
#: kcal/mol mirrored against 50.7 carried. Revision-12 references stay valid (both maps are exact) and are
#: rebuilt with the map they were sampled with.
SAMPLER_VERSION = 4
SAMPLER_REVISION = 13

#: Sampler settings per split. Every split runs 4 chains until the convergence rule holds or the
#: cap on CPU seconds per molecule is hit (CPU, not wall, time: the same work on a busy machine);
#: evaluation molecules get a larger cap and a larger ESS target than training ones. The
#: ``config`` of each record says which settings built it.
_COMMON = dict(n_chains=4, n_samples=400, warmup_sweeps=100, round_sweeps=100, min_sweeps=200, max_sweeps=100_000, **REFINE_MOVES,
               nitrogen_inversions_per_sweep=1.0, amide_flips_per_sweep=2.0)
#: evaluation splits: ESS >= 400 for the slowest torsion and state, then on until the run's own
#: agreement figure reaches 0.95, with 1,600 stored samples, up to 3,200 where the ESS is larger (the stored set is what a verification
#: compares: 800 thinned draws carry at most 800 draws' worth). Why a precision target: what the
#: verification rule (W1 within 0.1 rad) can ask depends on the molecule. On the 30 molecules of
#: ``evaluation/conformers/verify_references_v4.md`` two exact samplers at ESS about 400 agree with
#: probability 0.67-1.00 (27.2 of 30 in all), at twice the effective sizes 0.91-1.00: one flat ESS
#: target spends on easy molecules what the hard ones lack; and a basin search that gives two chains
#: their starts and checks the ensemble's lowest basin, and up to 300,000 sweeps (revision 9)
_EVALUATION = dict(_COMMON, n_samples=1600, max_samples=3200, ess_target=400.0, agreement_target=0.95, max_cpu_seconds=1800.0,
                   max_sweeps=300_000, basin_search=64, basin_starts=2, basin_tolerance=0.5, dart_moves_per_sweep=1.0,
                   dart_flips=True)
SPLIT_CONFIGS = {
    # training molecules keep their whole (short) budget: their torsions are used where they pass
    # the rule even when a discrete state does not, so stopping them early would lose samples
    "train": dict(_COMMON, max_cpu_seconds=10.0, give_up_after=0.0),
    # more training molecules, selected for the drugs' make-up (data/conformers/select_training.py), same settings
    "train_extra": dict(_COMMON, max_cpu_seconds=10.0, give_up_after=0.0),
    "val": dict(_EVALUATION),
    "test": dict(_EVALUATION),
    "drugs": dict(_EVALUATION),
}


def outdated_by(ref) -> str | None:
    """Why a stored reference is not what the current sampler would sample for its molecule, or
    None: the revision-12 changes that a molecule of an earlier build concerns.

    * a spiro ring or a saturated ring fused to one aromatic ring (``ring_flip.flippable_rings``):
      every chain kept the seed's pucker, and so did the verification rerun, whose seed rings come
      from the same ring library (the first five such labels rebuilt at revision 12, four of them
      verified, were all contradicted: ``evaluation/conformers/compare_references_r12_val.md``,
      ``compare_references_r12_test.md``, ``compare_references_r12_drugs.md``);
    * a ring flipped by the sampler whose pucker an in-plane substituent "labelled"
      (``pucker_reporter(..., sp3_only=False)``): the store rebuilds its flipped samples in the
      seed's pucker, so the reference conformers are wrong where the torsions are right.

    ``ref``: anything with ``mol`` and ``diagnostics`` (a ``ReferenceMolecule``).
    """
    from geomgen.conformers.reference.ring_flip import flippable_rings, pucker_reporter

    d = ref.diagnostics
    if (d.get("sampler_version", 0), d.get("sampler_revision", 0)) >= (SAMPLER_VERSION, 12):
        return None
    mol = ref.mol
    old = flippable_rings(mol, spiro=False, fused=False)
    if len(flippable_rings(mol)) > len(old):
        return "a spiro or aryl-fused ring held at the seed's pucker (built before revision 12)"
    if d.get("config", {}).get("ring_flips_per_sweep", 0) > 0:
        for ring, _ in old:
            if pucker_reporter(mol, ring, sp3_only=False) != pucker_reporter(mol, ring):
                return "flipped samples rebuilt in the seed's pucker (an in-plane pucker label, built before revision 12)"
    return None


def ring_flip_bits(mol, positions: np.ndarray) -> np.ndarray:
    """Per sample ``[S]`` (uint8), bit r set when ring r of
    :func:`~geomgen.conformers.reference.ring_flip.flippable_rings` is in the other pucker than in
    ``mol``'s seed conformer: its endocyclic torsions point the other way (negative dot product
    with the seed's), as after :func:`~geomgen.conformers.reference.ring_flip.flip_ring`."""
    from geomgen.conformers.reference.ring_flip import flippable_rings, ring_torsion_quads
    from geomgen.conformers.torsions import dihedral_angles

    rings = flippable_rings(mol)[:8]
    bits = np.zeros(len(positions), np.uint8)
    seed = mol.GetConformer().GetPositions()
    for r, (ring, _) in enumerate(rings):
        quads = ring_torsion_quads(ring)
        dots = dihedral_angles(np.asarray(positions, dtype=np.float64), quads) @ dihedral_angles(seed, quads)
        bits |= ((dots < 0).astype(np.uint8) << r).astype(np.uint8)
    return bits


def sample_representation(mol, positions: np.ndarray, mirrored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How the store writes each sample on the seed (``ring_flipped`` bits and the ``mirrored``
    flag that :meth:`~geomgen.conformers.reference.store.ReferenceMolecule.conformers` reads).

    ``mirrored`` is the sample's parity of mirror moves. A ring whose pucker a substituent labels
    (:func:`~geomgen.conformers.reference.ring_flip.pucker_reporter`) gets its bit from that
    substituent: set when it is axial where the seed's is equatorial or the other way round.
    For a molecule that is its own mirror image
    (:func:`~geomgen.conformers.reference.moves.symmetry.mirror_symmetric`) the flag is then
    chosen so that the rebuilt ring's labelled endocyclic torsions have the sample's signs: the
    symmetry move relabels a symmetric ring's atoms, which reverses those signs with no flip and
    no mirror move, and the mirror image of the seed is the one rebuild that has them (the
    rebuilt torsions are the sample's either way). Every other ring gets the sign rule of
    :func:`ring_flip_bits` on the sample corrected by the (possibly re-chosen) flag.

    Returns:
        ``(bits [S] uint8, mirrored [S] uint8)``.
    """
    from geomgen.conformers.reference.moves.symmetry import mirror_symmetric
    from geomgen.conformers.reference.ring_flip import axial, flippable_rings, pucker_reporter, ring_torsion_quads
    from geomgen.conformers.torsions import dihedral_angles

    pos = np.asarray(positions, dtype=np.float64)
    m = np.asarray(mirrored, dtype=bool).copy()
    rings = flippable_rings(mol)[:8]
    seed = mol.GetConformer().GetPositions()
    same = []  # per ring: whether the sample's labelled ring torsions point as the seed's
    for ring, _ in rings:
        quads = ring_torsion_quads(ring)
        same.append(dihedral_angles(pos, quads) @ dihedral_angles(seed, quads) > 0)
    reporters = [pucker_reporter(mol, ring) for ring, _ in rings]
    flipped = [None if r is None else axial(pos, ring, r) != axial(seed, ring, r)[0] for (ring, _), r in zip(rings, reporters)]
    if mirror_symmetric(mol) and any(f is not None for f in flipped):
        # the flag each labelled ring asks for: rebuilt signs (-1)^(bit + flag) must be the sample's
        wants = [(f.astype(int) + (~sm).astype(int)) % 2 for f, sm in zip(flipped, same) if f is not None]
        agree = np.all([w == wants[0] for w in wants], axis=0)
        m = np.where(agree, wants[0].astype(bool), m)
    bits = ring_flip_bits(mol, np.where(m[:, None, None], -pos, pos))  # the sign rule on the flag-corrected sample
    for r, f in enumerate(flipped):
        if f is not None:  # a labelled ring: its physical pucker
            bits = (bits & ~np.uint8(1 << r)) | (f.astype(np.uint8) << r).astype(np.uint8)
    return bits, m.astype(np.uint8)


def should_resample(diagnostics: dict, smiles: str, unconverged: bool = False, rings: bool = False, config: dict | None = None) -> bool:
    """Whether a built molecule is sampled again when a build is asked to retry.

    Args:
        diagnostics (dict): the record's diagnostics (as :func:`sample_molecule` stores them).
        smiles (str): its SMILES.
        unconverged (bool): retry molecules that fail the convergence rule.
        rings (bool): retry molecules that have a flippable ring
            (:func:`~geomgen.conformers.reference.ring_flip.flippable_rings`) but were sampled
            without ring flips, i.e. conditional on the seed's pucker.
        config (dict, optional): the settings a retry samples with; an unconverged molecule
            already sampled with exactly these is not retried (so a restarted retry goes on
            where it stopped).
    """
    from geomgen.conformers.reference.store import is_converged

    if unconverged and not is_converged(diagnostics) and (config is None or diagnostics.get("config") != dict(config)):
        return True
    if rings and diagnostics.get("config", {}).get("ring_flips_per_sweep", 0) <= 0:
        from rdkit import Chem

        from geomgen.conformers.reference.ring_flip import flippable_rings

        mol = Chem.MolFromSmiles(smiles)
        return mol is not None and len(flippable_rings(mol)) > 0
    return False


def sample_molecule(mol_id: str, smiles: str, config: dict, seed: int = 0) -> dict:
    """Embed and sample one molecule; returns a result record (never raises).

    Returns:
        ``{"id", "ok": True, "arrays": {...}, "diagnostics": {...}}`` with the arrays of
        :data:`~geomgen.conformers.reference.store.FIELDS`, or ``{"id", "ok": False, "error",
        "traceback", "smiles"}``.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from rdkit import Chem

    from geomgen.conformers.embedding import embed_seed
    from geomgen.conformers.molecule import canonical_isomeric_smiles, parse_molecule
    from geomgen.conformers.reference.sampler import SamplerConfig, System, sample_reference
    from geomgen.conformers.reference.store import encode_states

    t0 = time.perf_counter()
    try:
        mol = embed_seed(parse_molecule(smiles, name=mol_id), seed=seed, name=mol_id, library_rings=True)
        cfg = SamplerConfig(seed=seed, **config)
        res = sample_reference(mol, cfg)
        q = np.round(np.mod(res.angles + math.pi, 2 * math.pi) / (2 * math.pi) * QUANT).astype(np.int64) % QUANT
        if config.get("ring_flips_per_sweep", 0) > 0:
            ring_bits, mirror_bits = sample_representation(mol, res.positions, res.mirrored)
        else:
            ring_bits, mirror_bits = np.zeros(len(q), np.uint8), res.mirrored.astype(np.uint8)
        states = encode_states(System(mol, res.torsions, cfg), res.positions, mirror_bits.astype(bool))
        diag = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in res.diagnostics.items()}
        diag.update(total_seconds=time.perf_counter() - t0, sampler_version=SAMPLER_VERSION, sampler_revision=SAMPLER_REVISION, config=dict(config), seed=seed,
                    seed_rings_off_library=mol.HasProp("geomgen_rings_off_library"))
        arrays = {
            "id": np.array(mol_id),
            "smiles": np.array(canonical_isomeric_smiles(mol)),
            "molblock": np.array(Chem.MolToMolBlock(mol)),
            "torsion_atoms": res.torsions.atoms.astype(np.int16),
            "symmetry": res.symmetry.astype(np.int8),
            "angles": q.astype(np.uint16).reshape(len(res.angles), len(res.torsions)),
            "energies": res.energies.astype(np.float32),
            "diagnostics": np.array(json.dumps(diag)),
            # ring puckers and mirror flags as conformers() rebuilds them on the seed
            "ring_flipped": ring_bits,
            "mirrored": mirror_bits,
            # amide E/Z and nitrogen configurations of the conformer rebuilt before mirroring
            "states": states,
        }
        return {"id": mol_id, "ok": True, "arrays": arrays, "diagnostics": diag}
    except Exception as exc:  # recorded per molecule, the build goes on
        return {"id": mol_id, "smiles": smiles, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=3)}


def write_result(work_dir, rec: dict) -> None:
    """Write one :func:`sample_molecule` record into ``work_dir`` atomically."""
    work = Path(work_dir)
    if rec["ok"]:
        _atomic_savez(work / f"{rec['id']}.npz", **rec["arrays"])
    else:
        atomic_write_text(work / f"{rec['id']}.fail.json", json.dumps(rec))


def _site_and_torsion_counts(smiles: str) -> tuple[int, int]:
    """Slow discrete sites (:func:`discrete_sites`) and rotatable torsions of a molecule, from one parse
    (``(0, 0)`` for a SMILES that does not parse: it fails in :func:`sample_molecule`, with its reason)."""
    from geomgen.conformers.molecule import parse_molecule
    from geomgen.conformers.reference.moves.amide_flip import partial_double_bonds
    from geomgen.conformers.reference.moves.nitrogen_inversion import invertible_nitrogens
    from geomgen.conformers.reference.ring_flip import flippable_rings
    from geomgen.conformers.torsions import rotatable_torsions

    try:
        mol = parse_molecule(smiles)
    except Exception:
        return 0, 0
    return len(partial_double_bonds(mol)) + len(invertible_nitrogens(mol)) + len(flippable_rings(mol)), len(rotatable_torsions(mol))


def discrete_sites(smiles: str) -> int:
    """How many slow discrete sites (partial double bonds, invertible nitrogens, flippable rings)
    a molecule has: the molecules a build in the ``"discrete-first"`` order samples first."""
    return _site_and_torsion_counts(smiles)[0]


def pending(smiles_csv, work_dir, limit: int | None = None, skip=()) -> list[tuple[str, str]]:
    """``(id, smiles)`` of the molecules of ``smiles_csv`` with no result in ``work_dir`` yet and
    not in ``skip``."""
    work = Path(work_dir)
    skip = set(skip)
    return [(i, s) for i, s in read_smiles_csv(smiles_csv)[:limit]
            if i not in skip and not (work / f"{i}.npz").exists() and not (work / f"{i}.fail.json").exists()]


#: the orders of :func:`build_order`
BUILD_ORDERS = ("list", "discrete-first", "simple-first")


def build_order(todo: list[tuple[str, str]], order: str = "list") -> list[tuple[str, str]]:
    """``(id, smiles)`` items in the order a build samples them (a stable sort: ties keep the list's order).

    - ``"list"``: as given.
    - ``"discrete-first"``: the molecules with slow discrete sites (:func:`discrete_sites`: amides,
      invertible nitrogens, flippable rings) first, as issue 26's rebuild asks (their old references
      keep their seed's states).
    - ``"simple-first"``: the molecules without such sites first, then by their number of rotatable
      torsions: the cheapest molecules to converge first, for a split whose verified count lags.
    """
    if order not in BUILD_ORDERS:
        raise ValueError(f"order must be one of {BUILD_ORDERS}, got {order!r}")
    if order == "list":
        return list(todo)
    counts = {i: _site_and_torsion_counts(smiles) for i, smiles in todo}  # one parse per molecule
    if order == "discrete-first":
        return sorted(todo, key=lambda item: counts[item[0]][0] == 0)
    return sorted(todo, key=lambda item: (counts[item[0]][0] > 0, counts[item[0]][1]))


def build_reference_set(smiles_csv, work_dir, config: dict, executor: Executor | None = None, jobs: int = 2, seed: int = 0,
                        limit: int | None = None, skip=(), progress: bool = True, on_result=None,
                        order: str = "list") -> list[dict]:
    """Build references for the molecules of ``smiles_csv`` into ``work_dir`` (resumable).

    Args:
        smiles_csv: csv with ``id`` and ``smiles`` columns.
        work_dir: folder of per-molecule results; molecules already there are skipped.
        config (dict): :class:`~geomgen.conformers.reference.sampler.SamplerConfig` arguments.
        executor (Executor, optional): where to run (default: a process pool of ``jobs``).
        seed (int): sampler and embedding seed (default 0), the same for every molecule.
        limit (int, optional): only the first ``limit`` molecules of the list.
        skip: ids not to build (e.g. those already rebuilt in an assembled file).
        progress (bool): show a progress bar (default True).
        on_result (callable, optional): called with each record after it is written.
        order (str): which molecules to sample first (:func:`build_order`): ``"list"`` (the csv's
            order, default), ``"discrete-first"`` or ``"simple-first"``.

    Returns:
        the records of this run (without their arrays), in completion order.
    """
    from tqdm import tqdm

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    todo = build_order(pending(smiles_csv, work, limit, skip), order)
    own = executor is None
    ex = ProcessPoolExecutor(max_workers=jobs) if own else executor
    records = []
    try:
        futs = [ex.submit(sample_molecule, i, s, config, seed) for i, s in todo]
        for fut in tqdm(as_completed(futs), total=len(futs), disable=not progress, desc=Path(smiles_csv).stem):
            rec = fut.result()
            write_result(work, rec)
            if on_result is not None:
                on_result(rec)
            records.append({k: v for k, v in rec.items() if k != "arrays"})
    finally:
        if own:
            ex.shutdown(cancel_futures=True)
    return records
