"""Conformer generation with VonMisesNet: the Python API behind ``geomgen conformers``."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geomgen.conformers.clashes import ClashGuard
from geomgen.conformers.molecule import MoleculeError
from geomgen.conformers.stereo import StereoGuard

DEFAULT_CHECKPOINT = "models/vonmisesnet.ckpt"
#: MMFF94 iterations on a seed geometry by default (see :class:`ConformerGenerator`)
DEFAULT_SEED_ITERS = 100
#: Boltzmann mode (:func:`geomgen.conformers.reference.sampler.refine`): chains of the exact
#: MMFF94 sampler, each started at a network sample, and sampler sweeps per conformer (chosen on
#: the validation split, evaluation/conformers/boltzmann_refine.md)
DEFAULT_BOLTZMANN_CHAINS = 2
DEFAULT_BOLTZMANN_SWEEPS = 20
#: Boltzmann mode: torsion moves per sweep proposed from the network's torsion law
#: (:mod:`geomgen.conformers.reference.moves.law_proposal`; 0: none)
DEFAULT_BOLTZMANN_LAW_MOVES = 0.0
#: the reference builds' amide E/Z flips per sweep (:data:`geomgen.conformers.reference.build.SPLIT_CONFIGS`;
#: nitrogen inversions at half this rate), the rate ``boltzmann_state_moves=True`` means
BUILD_STATE_MOVES = 2.0
#: Boltzmann mode: amide E/Z flips per sweep (nitrogen inversions at half this rate; 0: the chains
#: keep their seed's states)
DEFAULT_BOLTZMANN_STATE_MOVES = 0.0
#: seeds for the conformations of non-aromatic rings below macrocycle size (0: one seed; see
#: :class:`ConformerGenerator`), from twice as many ETKDGv3 candidates, kept within this window.
#: Off by default: 4 seeds matched ETKDGv3+MMFF's COV-R on drugs but cost most of the speed
#: (evaluation/conformers/ring_coverage.md)
DEFAULT_RING_SEEDS = 0
RING_SEED_WINDOW = 3.0
#: seeds in distinct combinations of amide E/Z states (0 or 1: the seed's states only; 8 to turn
#: them on), within this window (kcal/mol) of the lowest
#: (:func:`~geomgen.conformers.embedding.state_seeds`; see :class:`ConformerGenerator`). Off by
#: default: on 40 validation molecules at n = 50 they made plain generation 2.5-4.5x slower (the
#: minimisations of each state), and the stored references (sampler version 2) keep their seed's
#: states, so no gain is measurable against them yet
DEFAULT_STATE_SEEDS = 0
STATE_SEED_WINDOW = 6.0
#: distance-geometry embedder of the seed in plain generation (relax and boltzmann use ETKDGv3)
DEFAULT_SEED_EMBEDDER = "etkdg"
#: how seeds are made (see :class:`ConformerGenerator`, ``seed_method``): ``"etkdg"`` (one
#: distance-geometry embedding per molecule) or ``"assembly"`` (ring systems from the ring
#: library, the rest from standard internal coordinates, ETKDGv3 as the fallback)
SEED_METHODS = ("etkdg", "assembly")
#: assembled seeds with 100 MMFF94 iterations (and the ETKDGv3 fallback of
#: :data:`ASSEMBLY_CLASH_FALLBACK`) are the default: against ETKDGv3 seeds, on every converged
#: reference of val / test / drugs (seed 1), COV-R@0.75 0.842 / 0.747 / 0.822 vs 0.806 / 0.736 /
#: 0.760, AMR-R 0.449 / 0.533 / 0.437 vs 0.478 / 0.548 / 0.507, torsion W1 0.298 / 0.298 / 0.449
#: vs 0.301 / 0.306 / 0.447 (evaluation/conformers/default_seed_fallback_seed1.md against
#: assembly_iters_seed1.md), at the same speed at 10 conformers per molecule (2.20x vs 2.26x
#: ETKDGv3, library_throughput.md, 2026-12-03 12:22)
DEFAULT_SEED_METHOD = "assembly"
#: MMFF94 iterations relaxing each conformer's bond lengths, angles and ring puckers with its
#: sampled torsions held (:meth:`~geomgen.conformers.mmff.MMFF.optimize_conformers_holding_torsions`;
#: 0: none). Off by default: 200 iterations cut AMR-R by 0.023 +- 0.003 A and raised COV-R@0.75
#: by 0.016 on 299 converged references at the same torsion W1, but made generation about 12x
#: slower (evaluation/conformers/restrained_seed1.md); 10 / 30 / 100 iterations gave -0.0004 /
#: -0.0019 / -0.0123 A (restrained_iters_seed1.md) and 1000 no more than 200 (-0.002 +- 0.001,
#: restrained_long_seed1.md)
DEFAULT_RELAX_BONDS = 0
#: how MMFF94 relaxes an assembled seed in plain generation: ``"free"`` (every coordinate, the
#: default) or ``"held"`` (its rotatable torsions held at their assembled values, as
#: :meth:`~geomgen.conformers.mmff.MMFF.optimize_conformers_holding_torsions`: the network sets
#: them afresh anyway, so the iterations go to bond lengths, angles and the other torsions)
SEED_RELAXATIONS = ("free", "held")
DEFAULT_SEED_RELAXATION = "free"
#: a molecule whose network draws are rejected by the clash check more often than this on its
#: assembled seeds is generated again from an ETKDGv3 seed: the assembled seed's bond angles suit
#: the orientation it was built in, and where the network prefers another one (amides on
#: N-heteroaryls) nearly every draw clashes and what survives is biased
#: (evaluation/conformers/seed_method_outliers.md: 84-100 % of draws rejected on the worst ones).
#: At 0.5, 49 of 200 library molecules fell back and the default was slower than ETKDGv3 seeds
#: (2.11x vs 2.40x ETKDGv3 at n = 10); at 0.8, 23 of 200, at the same speed
ASSEMBLY_CLASH_FALLBACK = 0.8
#: assembled seeds per molecule in distinct combinations of its rings' library conformations,
#: drawn by their Boltzmann weights (1: the most probable combination only)
DEFAULT_RING_CONFORMATIONS = 4
#: wall-time limit per molecule, seconds (see :class:`ConformerGenerator`): ETKDGv3 alone took
#: over 60 s to embed a 30-residue peptide and 215 s for a 271-atom alkane chain on a busy machine;
#: 10 minutes stops a runaway molecule without failing large ones
DEFAULT_MAX_SECONDS = 600.0
#: molecules per forward pass of the network in :meth:`ConformerGenerator.predict_many`
PREDICT_BATCH = 32
#: rows the padding graph gives every matrix product of a forward pass (:func:`_padding_graph`)
MIN_GEMM_ROWS = 4
#: give a molecule whose mirror image is itself the mirror images of its seeds too (see
#: ``mirror_images`` of :class:`ConformerGenerator`). On since 2026-12-04: an achiral molecule's
#: Boltzmann distribution is mirror-symmetric, so each pyramid of a configurational amine nitrogen
#: (and each chiral conformation) has weight 1/2, which one seed cannot give: on the verified drugs
#: references the three achiral amines' nitrogens went from 0 or 1 to about 0.5 (references
#: 0.49-0.50; evaluation/conformers/RESULTS.md, "On verified references only"). Torsion and RMSD
#: metrics: COV-R@0.75 -0.004 to +0.006 and torsion W1 -0.009 to +0.009 on every converged
#: reference at n = 50 (seeds 1 and 2: mirror_seed1.md, mirror_seed2.md against
#: stratified_seed1.md, stratified_seed2.md), COV-R@0.75 -0.028 / -0.010 / +0.012 and W1
#: +0.005 / +0.018 / -0.010 on the verified ones (val / test / drugs, seed 1,
#: verified_states_seed1.md): within the seed spread; conformers per second 0.80-1.28x the
#: default's in that run (a busy machine; not a throughput measurement).
DEFAULT_MIRROR_IMAGES = True
#: how assembled seeds place partial double bonds (amide, carbamate, urea, ester E/Z; see
#: ``amide_states`` of :class:`ConformerGenerator`): ``"library"`` draws each site's state by its
#: probability from the fragment library (:mod:`geomgen.conformers.statelib`), ``"usual"`` places
#: every site with its heavy groups anti. ``"usual"`` stays the default: on every converged
#: reference at n = 50 the library raised COV-R@0.75 on val and test (0.848 / 0.763 vs 0.834 /
#: 0.746 seed 1, 0.860 / 0.774 vs 0.843 / 0.752 seed 2) and lowered it on drugs (0.804 vs 0.813,
#: 0.803 vs 0.810; evaluation/conformers/amide_library_seed1.md, seed2.md), against references
#: that mostly keep their seed's amide states; and its first use is slow: 136 of the 175 fragments
#: of 200 library molecules had to be built, and with an empty cache generation ran at 0.69x
#: ETKDGv3's speed against 1.69x warm (library_throughput.md, 2026-12-03 17:53)
AMIDE_STATE_MODES = ("library", "usual")
DEFAULT_AMIDE_STATES = "usual"
#: how a carboxylic acid's O-H (syn/anti; no fragment library entry: an intramolecular hydrogen
#: bond decides it) is placed when ``state_seeds`` does not seed it: ``"minima"``, seeds in both
#: states by their MMFF94 minima (:func:`~geomgen.conformers.embedding.state_seeds` over the acid
#: sites only, at most :data:`ACID_STATE_SEEDS`), or ``"usual"``, syn on every conformer. The
#: default since 2026-12-06: on the verified references with acids the usual state missed by 0.45
#: on average (an O-H hydrogen-bonded to a neighbouring carbonyl or amine, anti in MMFF94) and the
#: minima by 0.08, with W1 and coverage unchanged on every converged reference (within 0.002;
#: evaluation/conformers/acid_states_seed1.md, seed2.md; RESULTS.md, "Amide E/Z populations"); a
#: molecule with an acid pays a few MMFF94 minimisations (drugs, 100 molecules: 0.62x the conformers
#: per second of "usual"), one without pays a substructure test (the 200-molecule library at n = 10,
#: which has no acid: 1.82x against 1.83-1.91x ETKDGv3's speed)
ACID_STATE_MODES = ("minima", "usual")
DEFAULT_ACID_STATES = "minima"
ACID_STATE_SEEDS = 4
#: a site whose less probable state has at least this probability is drawn per seed; below it,
#: every seed has the more probable state (one conformer in a hundred)
MIN_STATE_PROBABILITY = 0.01
#: draw each torsion's mixture components systematically across a round's draws (see
#: ``stratify`` of :class:`ConformerGenerator`). Measured on every converged reference at n = 50
#: (evaluation/conformers/stratified_seed1.md, stratified_seed2.md against default_seed2.md):
#: torsion W1 0.283 / 0.282 / 0.437 vs 0.298 / 0.298 / 0.449 (val / test / drugs, seed 1) and
#: 0.294 / 0.284 / 0.439 vs 0.299 / 0.303 / 0.442 (seed 2); COV-R@0.75 and AMR-R within +-0.01
#: (lower with seed 1, higher with seed 2), so the default.
DEFAULT_STRATIFY = True
#: at most this many seeds of a macrocycle with rotatable torsions outside its ring (one with none
#: gets up to n: each of its conformers is a seed), from twice as many ETKDGv3 candidates
MACROCYCLE_SEEDS = 8
#: below this acceptance of the first round of independent torsion draws, the conformers still
#: missing come from the constrained Gibbs sampler (:meth:`ConformerGenerator._gibbs`)
MIN_ACCEPTANCE = 0.02
#: sweeps of the constrained Gibbs sampler over every torsion, and at most this many torsion
#: updates per chain (fewer sweeps, at least 5, for molecules with more than 200 torsions)
GIBBS_SWEEPS = 20
GIBBS_MAX_UPDATES = 4000
#: most coordinates (conformers x atoms x 3) drawn in one round of independent torsion samples
MAX_DRAW_COORDS = 4_000_000


@dataclass
class GenerationReport:
    """What happened to one molecule: conformers made, tries, the effective sample size of
    Boltzmann mode's conformers (slowest torsion), seconds."""

    name: str
    ok: bool
    n_conformers: int = 0
    reason: str = ""
    clash_rejected: int = 0
    ess: float | None = None  # Boltzmann mode: effective sample size of the slowest torsion
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def seed_paths(reports) -> dict[str, int]:
    """How many of ``reports``' molecules got an assembled seed and how many an ETKDGv3 one
    (``extra["seed"]``; failed molecules are not counted)."""
    out: dict[str, int] = {}
    for r in reports:
        if r.ok and "seed" in r.extra:
            out[r.extra["seed"]] = out.get(r.extra["seed"], 0) + 1
    return out


def molecule_seed(seed: int, smiles: str) -> int:
    """The random seed of one molecule: a hash of the user's ``seed`` and the molecule's canonical
    isomeric SMILES (63 bits), so a molecule's conformers depend on nothing else."""
    digest = hashlib.sha256(f"{int(seed)}\x1f{smiles}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def block_seed(key: int, block: int) -> int:
    """The random seed of block ``block`` of a molecule whose seed is ``key`` (block 0: ``key``)."""
    if not block:
        return key
    digest = hashlib.sha256(f"{int(key)}\x1fblock\x1f{int(block)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class _Budget:
    """The wall time a molecule may still use (``seconds``; ``inf`` for none), counted only while
    it is running, so that the seed and the sampling of a molecule share one limit."""

    def __init__(self, name: str, seconds: float):
        self.name, self.seconds, self.spent, self.since = name, seconds, 0.0, None

    def start(self) -> _Budget:
        self.since = time.perf_counter()
        return self

    def stop(self) -> None:
        if self.since is not None:
            self.spent += time.perf_counter() - self.since
            self.since = None

    def left(self) -> float:
        return self.seconds - self.spent - (time.perf_counter() - self.since if self.since is not None else 0.0)

    def timeout(self) -> int:
        """Whole seconds left for one RDKit embedding (0: no limit)."""
        return 0 if self.seconds == np.inf else max(1, int(np.ceil(self.left())))

    def check(self, doing: str) -> None:
        """Raise :class:`MoleculeError` when the time is up."""
        if self.left() < 0:
            raise MoleculeError(f"{self.name!r}: gave up after the time limit of {self.seconds:g} s per molecule "
                                f"(max_seconds) while {doing}")


def _check_n(n) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be a positive integer (the number of conformers), got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"n must be a positive integer (the number of conformers), got {n!r}")
    return int(n)


def _check_molecule_arg(item, what: str) -> None:
    from rdkit import Chem

    if item is not None and not isinstance(item, (str, Chem.Mol)):
        raise TypeError(f"{what} must be a SMILES string or an RDKit molecule, got {type(item).__name__} {item!r:.80}")


def gibbs_sweeps(n_torsions: int) -> int:
    """Sweeps of the constrained Gibbs sampler for a molecule with ``n_torsions`` torsions."""
    return max(5, min(GIBBS_SWEEPS, GIBBS_MAX_UPDATES // max(n_torsions, 1)))


def _distinct(pos: np.ndarray) -> int:
    """How many of the conformers ``[C, N, 3]`` differ (coordinates to 0.001 A, beyond what an SD file keeps)."""
    return len(np.unique(np.round(pos.reshape(len(pos), -1), 3), axis=0))


def _with_conformers(mol, pos: np.ndarray):
    """A copy of ``mol`` whose conformers are ``pos`` [C, N, 3], in order."""
    from geomgen.conformers.mmff import with_conformers

    return with_conformers(mol, pos)


def _shares(total: int, weights) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder; ties to the first)."""
    w = np.asarray(weights, dtype=np.float64)
    exact = total * w / w.sum()
    shares = np.floor(exact).astype(int)
    for j in np.argsort(-(exact - shares), kind="stable")[: total - shares.sum()]:
        shares[j] += 1
    return shares.tolist()


def _mirror_image(seed_mol):
    """A copy of a one-conformer seed (properties too) with its coordinates inverted through the
    origin: its mirror image."""
    from rdkit import Chem

    from geomgen.conformers.mmff import set_positions

    out = Chem.Mol(seed_mol)
    set_positions(out.GetConformer(), -seed_mol.GetConformer().GetPositions())
    return out


def _superposable_on_its_mirror(seed_mol, tol: float = 0.01) -> bool:
    """Whether the seed's geometry is superposable on its mirror image atom by atom (a proper
    rotation within ``tol`` A RMSD; e.g. a planar molecule): then mirrored draws add nothing."""
    from rdkit.Chem import rdMolAlign

    return rdMolAlign.AlignMol(_mirror_image(seed_mol), seed_mol) < tol


def _achiral(seed_mol) -> bool:
    """Whether the mirror image of ``seed_mol``'s geometry is a conformer of the same molecule:
    its canonical isomeric SMILES, stereo read from the coordinates, is unchanged by inversion
    (no tetrahedral stereocentre, or only a meso arrangement; double bonds keep their E/Z)."""
    from rdkit import Chem

    def smiles(m) -> str:
        m = Chem.Mol(m)
        Chem.AssignStereochemistryFrom3D(m, confId=0)
        return Chem.MolToSmiles(Chem.RemoveHs(m))

    return smiles(seed_mol) == smiles(_mirror_image(seed_mol))


def _state_props(mol, pos: np.ndarray) -> dict[str, list[str]]:
    """The slow discrete states of conformers ``[C, N, 3]`` of ``mol`` as SD properties:
    ``amide_states`` (sites of :func:`~geomgen.conformers.discrete_states.partial_double_bonds`)
    and ``nitrogen_configurations`` (those of
    :func:`~geomgen.conformers.discrete_states.configurational_nitrogens`), a 0/1 string per
    conformer; only the kinds the molecule has."""
    from geomgen.conformers.discrete_states import (
        configurational_nitrogens,
        invertible_nitrogens,
        nitrogen_states,
        partial_double_bonds,
        site_states,
        states_label,
    )

    out = {}
    amides = partial_double_bonds(mol)
    if amides:
        out["amide_states"] = [states_label(x) for x in site_states(amides, pos)]
    every = invertible_nitrogens(mol)
    nits = [every[k] for k in configurational_nitrogens(mol, every)]
    if nits:
        out["nitrogen_configurations"] = [states_label(x) for x in nitrogen_states(nits, pos)]
    return out


def _graph_key(mol) -> tuple:
    """What the graph-only parts of a seed's clash and stereo checks depend on besides the atoms
    and bonds its molecule shares with the other seeds: its stereo tags (a seed's
    ``AssignStereochemistryFrom3D`` may set elements its input left open), as written in a
    non-canonical isomeric SMILES (atom order kept) and as raw tags, and the canonical ranks
    with ties that :func:`~geomgen.conformers.torsions.rotatable_torsions` reads."""
    from rdkit import Chem

    return (Chem.MolToSmiles(mol, canonical=False), tuple(Chem.CanonicalRankAtoms(mol, breakTies=False)),
            tuple(a.GetChiralTag() for a in mol.GetAtoms()))


class _SeedGuards:
    """The clash and stereo checks of one molecule's seeds: what depends only on its graph (atom
    pairs and contact floors, pairs no torsion moves, stereo elements) is built once per graph
    (:func:`_graph_key`) and shared; each seed adds what its coordinates decide (rigid pairs'
    floors, reference signs). The checks are those of ``ClashGuard(seed)`` and
    ``StereoGuard(seed)``, bit for bit.

    Args:
        mol: the molecule ``ts`` was found on (the first seed).
        ts: its rotatable torsions (:func:`~geomgen.conformers.torsions.rotatable_torsions`), or
            ``None``: then the clash checks find them.
    """

    def __init__(self, mol, ts=None):
        self._keys = {}  # id(seed) -> (seed, key); the seed is held so that its id stays its own
        self.key, self.moving = (self._key(mol), ts.moving) if ts is not None else (None, None)
        self._clash, self._stereo = {}, {}

    def _key(self, seed) -> tuple:
        got = self._keys.get(id(seed))
        if got is None:
            got = self._keys[id(seed)] = (seed, _graph_key(seed))
        return got[1]

    def clash(self, seed) -> ClashGuard:
        key = self._key(seed)
        like = self._clash.get(key)
        guard = ClashGuard(seed, moving=self.moving if key == self.key else None, like=like)
        self._clash.setdefault(key, guard)
        return guard

    def stereo(self, seed) -> StereoGuard:
        key = self._key(seed)
        guard = StereoGuard(seed, like=self._stereo.get(key))
        self._stereo.setdefault(key, guard)
        return guard


def _minimised(seed_mol):
    """A copy of a one-conformer seed, MMFF94-minimised (2000 iterations)."""
    from rdkit import Chem

    from geomgen.conformers.mmff import MMFF

    out = Chem.Mol(seed_mol)
    MMFF.optimize_conformers(out, max_iters=2000)
    return out


def _chain_edges(n: int):
    """``[2, 2 (n - 1)]`` directed edges of a chain of ``n`` atoms, both directions of each bond."""
    import torch

    chain = torch.arange(n - 1)
    return torch.stack([torch.cat([chain, chain + 1]), torch.cat([chain + 1, chain])])


def _padding_graph(torsion_features: bool):
    """The graph every forward pass of :meth:`ConformerGenerator.predict_many` carries: a chain
    of six atoms, five bonds and :data:`MIN_GEMM_ROWS` torsions, all features zero. Its rows are
    thrown away; it is there so that each matrix product of the pass has at least
    :data:`MIN_GEMM_ROWS` rows (atoms, directed bonds, torsions)."""
    import torch

    from geomgen.conformers.features import N_ATOM_FEATURES, N_BOND_FEATURES, N_TORSION_FEATURES, MoleculeGraph

    return MoleculeGraph(
        x=torch.zeros(6, N_ATOM_FEATURES),
        edge_index=_chain_edges(6),
        edge_attr=torch.zeros(10, N_BOND_FEATURES),
        torsion_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [5, 4, 3, 2]][:MIN_GEMM_ROWS], dtype=torch.long),
        torsion_attr=torch.zeros(MIN_GEMM_ROWS, N_TORSION_FEATURES) if torsion_features else None,
    )


_EXACT_BATCHING: dict = {}


def exact_batching(net, trials: int = 12) -> bool:
    """Whether ``net``'s mixture parameters for a molecule come out bit for bit the same alone
    (with the padding graph) as among others in one forward pass, on this machine and thread
    count: checked once per process, network shape and thread count on ``trials`` random graphs of 2-12
    atoms and 1-6 torsions, each alone and in two batches of different make-up. The answer
    depends on the BLAS (row blocking of its matrix products), not on the molecules."""
    import torch

    from geomgen.conformers.features import N_ATOM_FEATURES, N_BOND_FEATURES, N_TORSION_FEATURES, MoleculeGraph, collate

    key = (type(net).__name__, repr(getattr(net, "config", id(net))), torch.get_num_threads())
    if key in _EXACT_BATCHING:
        return _EXACT_BATCHING[key]
    g = torch.Generator().manual_seed(0)
    graphs = []
    for _ in range(trials):
        n = int(torch.randint(2, 13, (1,), generator=g))
        t = int(torch.randint(1, 7, (1,), generator=g))
        quads = torch.randint(0, n - 1, (t,), generator=g)  # torsions about chain bonds (q, q + 1)
        graphs.append(MoleculeGraph(
            x=torch.rand(n, N_ATOM_FEATURES, generator=g),
            edge_index=_chain_edges(n),
            edge_attr=torch.rand(2 * (n - 1), N_BOND_FEATURES, generator=g),
            torsion_index=torch.stack([(quads - 1).clamp(min=0), quads, quads + 1, (quads + 2).clamp(max=n - 1)], 1),
            torsion_attr=torch.rand(t, N_TORSION_FEATURES, generator=g),
        ))
    pad = _padding_graph(True)
    with torch.no_grad():
        alone = [net(collate([x, pad])) for x in graphs]
        ok = True
        for order in (list(range(trials)), list(range(trials))[::-1]):
            params = net(collate([graphs[i] for i in order] + [pad]))
            row = 0
            for i in order:
                t = graphs[i].torsion_index.shape[0]
                ok &= all(torch.equal(a[:t], b[row:row + t]) for a, b in zip(alone[i], params))
                row += t
    _EXACT_BATCHING[key] = bool(ok)
    return bool(ok)


def _model_path(path) -> Path:
    from geomgen.assets import asset_path

    return Path(path) if path else asset_path(DEFAULT_CHECKPOINT)


class ConformerGenerator:
    """Generate conformers from SMILES with a trained VonMisesNet.

    For each molecule: one seed geometry (ETKDGv3, seeded, MMFF-minimised); the network predicts
    a von Mises mixture per rotatable torsion; torsions are sampled and set on the seed
    (vectorised rigid rotations, so bond lengths, angles and stereo are kept); conformers with
    steric clashes are rejected and resampled (bounded tries); every conformer's stereo is
    checked against the input. Options: MMFF relaxation, and Boltzmann mode: a few Markov
    chains whose kernel leaves the MMFF94 Boltzmann law at 300 K invariant (every coordinate
    flexible: :func:`~geomgen.conformers.reference.sampler.refine`, the moves of the reference
    sampler), each started at a network sample, record a conformer every ``boltzmann_sweeps``
    sweeps. Their law is never further from the Boltzmann law than the network's (in total
    variation or KL), and approaches it as the chains get longer; the report gives the chains'
    effective sample size and R-hat (slowest torsion).

    Args:
        net: a trained :class:`~geomgen.conformers.model.VonMisesNet`.
        max_tries (int): sampling rounds before a molecule is reported as failed (default 10).
        seed_iters (int): MMFF94 iterations spent on the seed geometry when neither
            ``relax`` nor ``boltzmann`` is asked for (default 100). Its torsions are resampled
            anyway, and minimising it to convergence cost as much as embedding it; 100 iterations
            relax most of the bond strain (validation split, two random seeds: torsion W1
            +0.001 rad, COV-R@0.75 -0.009 against full minimisation; 50 iterations: +0.005 rad,
            -0.011; evaluation/conformers/seed_quality.md).
            A molecule whose conformers keep failing the clash check on a briefly minimised seed
            gets a fully minimised one. With ``relax`` or ``boltzmann`` the seed is always
            minimised (2000 iterations), so that energies are those of a relaxed bond geometry.
        seed_embedder (str): ``"etkdg"`` (ETKDGv3, default) or ``"kdg"`` for the seed of plain
            generation. KDG embeds in 0.67 of the time but lost 0.008 in COV-R@0.75 on the
            validation split (evaluation/conformers/seed_quality.md), so it is not the default.
        boltzmann_sweeps (int): sampler sweeps per conformer in Boltzmann mode (default
            :data:`DEFAULT_BOLTZMANN_SWEEPS`): the cost is proportional to n times this.
        boltzmann_chains (int): chains in Boltzmann mode (default :data:`DEFAULT_BOLTZMANN_CHAINS`;
            at least one per seed of a macrocycle, at most n).
        boltzmann_law_moves (float): in Boltzmann mode, torsion moves per sweep proposed from the
            network's torsion law and accepted by the Metropolis-Hastings rule, so the chains stay
            exact (:mod:`~geomgen.conformers.reference.moves.law_proposal`; default
            :data:`DEFAULT_BOLTZMANN_LAW_MOVES`; networks with coupled torsions propose from
            none).
        boltzmann_state_moves (float or bool): in Boltzmann mode, amide E/Z flips per sweep, and
            nitrogen inversions at half that rate (the reference sampler's exact moves; True: the
            builds' :data:`BUILD_STATE_MOVES`; default :data:`DEFAULT_BOLTZMANN_STATE_MOVES`; 0: the
            chains keep their seed's states).
        ring_seeds (int): at most this many seeds for a molecule with a non-aromatic ring smaller
            than a macrocycle, whichever the seed method (default :data:`DEFAULT_RING_SEEDS`: the
            seed method's own, one ETKDGv3 seed or up to ``ring_conformations`` assembled ones; 1
            for one seed). Assembled seeds take distinct combinations of the ring systems' library
            conformations (see ``seed_method``); ETKDGv3 seeds take distinct
            conformations of the rings and their substituents among twice as many ETKDGv3
            embeddings minimised like the seed, within :data:`RING_SEED_WINDOW` kcal/mol of the
            lowest, each given a share of the conformers proportional to its Boltzmann weight at
            300 K (SD property ``ring_seed``). Measured on 30 converged references per split at
            n = 50, 4 seeds raise COV-R@0.75 from 0.832 / 0.780 / 0.739 to 0.859 / 0.801 / 0.843
            (val / test / drugs; ETKDGv3+MMFF 0.821 / 0.819 / 0.845) but cut the speed from about
            35x ETKDGv3+MMFF's to 7-10x (evaluation/conformers/ring_coverage.md).
        state_seeds (int): at most this many seeds for a molecule with partial double bonds
            (amide, carbamate, urea, ester, acid E/Z) and a single seed (default
            :data:`DEFAULT_STATE_SEEDS`, off; 0 or 1: every conformer in the seed's states;
            nitrogen configurations are not seeded: the minima of a nitrogen's two pyramids
            differed by 2 kcal/mol on an achiral amine whose true split is 50/50). Each
            low-energy combination of states is set on the seed and MMFF94-minimised
            (:func:`~geomgen.conformers.embedding.state_seeds`, within
            :data:`STATE_SEED_WINDOW` kcal/mol), gets its own predicted torsion distribution and
            a share of the conformers proportional to its Boltzmann weight at 300 K (SD property
            ``state_seed``; ``extra["state_seeds"]`` lists the seeds' states, weights and
            shares). Several assembled seeds (ring conformations) each get their own state seeds,
            the weights multiplied; several ETKDGv3 ring or macrocycle seeds keep their seeds' states.
            With ``amide_states="library"`` the state seeds cover only the partial double bonds
            the library does not place (those without a fragment: a carboxylic acid's O-H, whose
            intramolecularly hydrogen-bonded state the library cannot see).
            Every conformer of a molecule with such sites carries its states as 0/1 strings
            (``amide_states``, sites of
            :func:`~geomgen.conformers.discrete_states.partial_double_bonds`;
            ``nitrogen_configurations``, of
            :func:`~geomgen.conformers.discrete_states.configurational_nitrogens`).
        seed_method (str): ``"assembly"`` (default, :data:`DEFAULT_SEED_METHOD`) or ``"etkdg"``
            (one ETKDGv3 embedding per molecule). Assembly builds seeds from the ring-system
            library (:mod:`geomgen.conformers.ringlib`: conformations shared across molecules,
            shipped for the training and evaluation splits, cached on disk) and standard
            internal coordinates (:mod:`geomgen.conformers.assembly`), in up to
            ``ring_conformations`` distinct combinations of the ring systems' conformations drawn
            by their Boltzmann weights, each a seed with its share of the conformers (SD property
            ``ring_seed``). Macrocycles, what assembly cannot build, and molecules whose sampling
            fails on the assembled seeds get an ETKDGv3 seed; ``extra["seed"]`` says which path
            a molecule took (``"assembled"`` or ``"etkdg"``, with ``extra["seed_fallback"]`` the
            reason) and :func:`seed_paths` counts them. Why it is the default: the comment at
            :data:`DEFAULT_SEED_METHOD`.
        assembly_iters (int or None): MMFF94 iterations on assembled seeds in plain generation
            (default ``None``: ``seed_iters``, so one setting, ``geomgen conformers
            --seed-iters``, reaches whichever seed a molecule gets; :data:`DEFAULT_SEED_ITERS` by
            default; relax and boltzmann: 2000; without them coverage and AMR-R were worse on val and test,
            evaluation/conformers/assembly_quality_seed1.md and assembly_iters0_seed1.md).
        ring_conformations (int): at most this many assembled seeds per molecule (default
            :data:`DEFAULT_RING_CONFORMATIONS`; a molecule without rotatable torsions gets up to n).
        ring_library: a :class:`~geomgen.conformers.ringlib.RingLibrary` (default: the process's
            :func:`~geomgen.conformers.ringlib.default_library`).
        stratify (bool): the mixture components of each torsion across a round of independent
            draws come from systematic sampling in a random order
            (:meth:`~geomgen.distributions.von_mises.VonMisesMixture.sample` with ``stratified``):
            every conformer's torsions still follow the predicted law, but a component of weight
            w gets floor or ceil of its share of the round's draws instead of a binomial count
            (default :data:`DEFAULT_STRATIFY`).
        mirror_images (bool): for a molecule that is its own mirror image (no stereocentre, or a
            meso arrangement), half of each seed's share of the conformers is drawn on the seed's
            mirror image (coordinates inverted; the drawn torsions set as they are, so the torsion
            law is unchanged): the seed's ring puckers and other chiral arrangements come in both
            hands, as in the Boltzmann ensemble. Not in Boltzmann mode nor with state seeds, nor
            for a seed superposable on its mirror image (a planar molecule). SD
            property ``mirror_image`` (0/1); ``extra["mirror_images"]``. Default
            :data:`DEFAULT_MIRROR_IMAGES`.
        amide_states (str): how assembled seeds place the partial double bonds (default
            :data:`DEFAULT_AMIDE_STATES`, ``"usual"``; why: the comment there). ``"library"``: each site's probability of its two states
            comes from the fragment library (:mod:`geomgen.conformers.statelib`: MMFF94 minima of
            both states of the site's capped neighbourhood, shared across molecules, shipped for
            the training and evaluation splits and cached on disk), and the states are drawn with
            the ring conformations, so the seeds (at most ``ring_conformations``) cover the
            probable combinations and share the conformers by their draws; a site whose other
            state has a probability below :data:`MIN_STATE_PROBABILITY` takes the more probable
            state on every seed. ``extra["amide_state_p"]`` gives each site's probability of state
            1 (site index: ``extra["amide_flips"]`` lists sites always placed against the
            assembler's usual rule). ``"usual"``: every site with its heavy groups anti. ETKDGv3
            seeds keep their embedded states (``state_seeds`` sets them there).
        acid_states (str): a carboxylic acid's O-H when ``state_seeds`` does not seed it (default
            :data:`DEFAULT_ACID_STATES`, ``"minima"``; why: the comment there): ``"minima"``, seeds in
            its syn and anti states (every acid of the molecule, at most :data:`ACID_STATE_SEEDS`
            combinations within :data:`STATE_SEED_WINDOW` kcal/mol) sharing the conformers by their
            MMFF94 minima's Boltzmann weights, recorded like ``state_seeds``' (SD property
            ``state_seed``, ``extra["state_seeds"]``; like those, fully MMFF94-minimised, so
            ``seed_iters`` does not apply to a molecule whose acid has both states within the
            window); ``"usual"``: syn (the seed's state) everywhere.
        relax_bonds (int): MMFF94 iterations relaxing each conformer with its rotatable torsions
            held at their sampled values (default :data:`DEFAULT_RELAX_BONDS`, 0: none): the bond
            lengths and angles a seed gives every conformer suit the seed's torsions, not each
            draw's, and relaxing them lowers the RMSD to the Boltzmann ensemble while the torsion
            law stays the network's (``relax`` instead relaxes the torsions too). A conformer whose
            stereo the relaxation changed keeps its unrelaxed geometry. Energies are reported
            (SD property ``MMFF94_energy_kcal_mol``). Not with ``relax`` or ``boltzmann``.
        max_seconds (float): wall-time limit per molecule (default :data:`DEFAULT_MAX_SECONDS`;
            ``inf`` for none). A molecule that needs longer fails with a reason naming the limit;
            it never changes the conformers of a molecule that finishes in time.
        seed_relaxation (str): how the ``assembly_iters`` MMFF94 iterations relax an assembled
            seed in plain generation (:data:`SEED_RELAXATIONS`, default
            :data:`DEFAULT_SEED_RELAXATION`): ``"free"`` moves every coordinate, ``"held"`` holds
            the rotatable torsions at their assembled values, which the draws replace anyway.

    Large flexible molecules (a peptide, a long polyol) have so many torsions that independent
    draws of all of them nearly always clash somewhere. When fewer than :data:`MIN_ACCEPTANCE`
    of the first round's draws pass (or the rounds run out), the missing conformers come from a
    constrained Gibbs sampler of the same law, the network's torsion distribution restricted to
    conformers that pass the clash and stereo checks: chains start at the seed (which passes),
    and each sweep proposes every torsion in turn from its predicted marginal and keeps the
    proposal when the conformer still passes (a Metropolis-Hastings step whose acceptance is
    exactly that indicator); each chain gives one conformer after :data:`GIBBS_SWEEPS` sweeps (fewer
    beyond 200 torsions, :func:`gibbs_sweeps`). The
    report says so (``extra["sampler"]``: ``"independent"`` or ``"gibbs"``, with the share of
    clashing draws and the Gibbs acceptance, and a warning). A molecule with no rotatable torsion
    outside its rings gets up to ``n`` distinct ring conformations as seeds; when fewer than
    ``n`` of a molecule's conformers differ, a warning says how many do.
    """

    def __init__(self, net, max_tries: int = 10, seed_iters: int = DEFAULT_SEED_ITERS,
                 seed_embedder: str = DEFAULT_SEED_EMBEDDER, boltzmann_sweeps: int = DEFAULT_BOLTZMANN_SWEEPS,
                 boltzmann_chains: int = DEFAULT_BOLTZMANN_CHAINS, boltzmann_law_moves: float = DEFAULT_BOLTZMANN_LAW_MOVES,
                 boltzmann_state_moves: float = DEFAULT_BOLTZMANN_STATE_MOVES, ring_seeds: int = DEFAULT_RING_SEEDS,
                 max_seconds: float = DEFAULT_MAX_SECONDS, state_seeds: int = DEFAULT_STATE_SEEDS,
                 seed_method: str = DEFAULT_SEED_METHOD, assembly_iters: int | None = None,
                 ring_conformations: int = DEFAULT_RING_CONFORMATIONS, ring_library=None,
                 stratify: bool = DEFAULT_STRATIFY, mirror_images: bool = DEFAULT_MIRROR_IMAGES,
                 amide_states: str = DEFAULT_AMIDE_STATES, state_library=None, relax_bonds: int = DEFAULT_RELAX_BONDS,
                 acid_states: str = DEFAULT_ACID_STATES, seed_relaxation: str = DEFAULT_SEED_RELAXATION):
        from geomgen.conformers.embedding import SEED_EMBEDDERS

        if seed_relaxation not in SEED_RELAXATIONS:
            raise ValueError(f"seed_relaxation must be one of {SEED_RELAXATIONS}, got {seed_relaxation!r}")
        self.seed_relaxation = seed_relaxation

        if seed_embedder not in SEED_EMBEDDERS:
            raise ValueError(f"seed_embedder must be one of {SEED_EMBEDDERS}, got {seed_embedder!r}")
        if seed_method not in SEED_METHODS:
            raise ValueError(f"seed_method must be one of {SEED_METHODS}, got {seed_method!r}")
        if ring_conformations < 1:
            raise ValueError(f"ring_conformations must be at least 1, got {ring_conformations}")
        if amide_states not in AMIDE_STATE_MODES:
            raise ValueError(f"amide_states must be one of {AMIDE_STATE_MODES}, got {amide_states!r}")
        self.amide_states = amide_states
        if acid_states not in ACID_STATE_MODES:
            raise ValueError(f"acid_states must be one of {ACID_STATE_MODES}, got {acid_states!r}")
        self.acid_states = acid_states
        self.state_library = state_library
        self.seed_method = seed_method
        self.stratify = bool(stratify)
        self.mirror_images = bool(mirror_images)
        self._assembly_iters = None if assembly_iters is None else int(assembly_iters)
        self.ring_conformations = int(ring_conformations)
        self.ring_library = ring_library
        self.net = net.eval()
        self.max_tries = max_tries
        self.seed_iters = int(seed_iters)
        self.seed_embedder = seed_embedder
        if boltzmann_sweeps < 1:
            raise ValueError(f"boltzmann_sweeps must be at least 1, got {boltzmann_sweeps}")
        self.boltzmann_sweeps = int(boltzmann_sweeps)
        if boltzmann_chains < 1:
            raise ValueError(f"boltzmann_chains must be at least 1, got {boltzmann_chains}")
        self.boltzmann_chains = int(boltzmann_chains)
        if not (boltzmann_law_moves >= 0 and math.isfinite(boltzmann_law_moves)):
            raise ValueError(f"boltzmann_law_moves must be 0 or more, got {boltzmann_law_moves}")
        self.boltzmann_law_moves = float(boltzmann_law_moves)
        state_rate = BUILD_STATE_MOVES if boltzmann_state_moves is True else float(boltzmann_state_moves)
        if not (state_rate >= 0 and math.isfinite(state_rate)):
            raise ValueError(f"boltzmann_state_moves must be 0 or more, got {boltzmann_state_moves}")
        self.boltzmann_state_moves = state_rate
        if ring_seeds < 0:
            raise ValueError(f"ring_seeds must be 0 or more, got {ring_seeds}")
        self.ring_seeds = int(ring_seeds)
        if state_seeds < 0:
            raise ValueError(f"state_seeds must be 0 or more, got {state_seeds}")
        self.state_seeds = int(state_seeds)
        if relax_bonds < 0:
            raise ValueError(f"relax_bonds must be 0 or more, got {relax_bonds}")
        self.relax_bonds = int(relax_bonds)
        if not max_seconds > 0:  # also NaN
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        self.max_seconds = float(max_seconds)

    @property
    def assembly_iters(self) -> int:
        """MMFF94 iterations on assembled seeds in plain generation: ``seed_iters`` unless set."""
        return self.seed_iters if self._assembly_iters is None else self._assembly_iters

    @assembly_iters.setter
    def assembly_iters(self, value: int | None) -> None:
        self._assembly_iters = None if value is None else int(value)

    @classmethod
    def from_checkpoint(cls, path=None, **kwargs) -> ConformerGenerator:
        """Load a checkpoint; with ``path=None`` the shipped model (models/vonmisesnet.ckpt)."""
        from geomgen.conformers.checkpoint import load_vonmisesnet

        return cls(load_vonmisesnet(_model_path(path)), **kwargs)

    # -- public API ---------------------------------------------------------------------------
    def generate(self, smiles_or_mol, n: int = 10, seed: int = 0, relax: bool = False, boltzmann: bool = False, name: str | None = None):
        """Conformers of one molecule: returns an RDKit molecule with ``n`` conformers.

        Raises:
            MoleculeError: bad input or generation failure (the message says why).
            TypeError, ValueError: ``smiles_or_mol`` neither a string nor a molecule, ``n`` not
                a positive integer, ``seed`` not an integer.
        """
        _check_molecule_arg(smiles_or_mol, "smiles_or_mol")
        mols, reports = self.generate_many([(name or "mol-0", smiles_or_mol)], n, seed=seed, relax=relax, boltzmann=boltzmann)
        if mols[0] is None:
            raise MoleculeError(reports[0].reason)
        return mols[0]

    def generate_many(self, items, n: int = 10, seed: int = 0, relax: bool = False, boltzmann: bool = False, block: int = 0):
        """Generate for ``items`` = [(name, smiles_or_mol), ...]; returns (mols, reports), with
        ``None`` in place of molecules that failed (their report says why); see
        :meth:`_generate_many`. With assembled seeds, a molecule whose sampling fails on them (not
        for its time limit), or whose draws the clash check rejects more often than
        :data:`ASSEMBLY_CLASH_FALLBACK`, is generated again from an ETKDGv3 seed
        (``extra["seed_fallback"]`` says why)."""
        items = items if isinstance(items, (str, bytes)) else list(items)
        out, reports = self._generate_many(items, n, seed, relax, boltzmann, block, self.seed_method)
        if self.seed_method != "assembly":
            return out, reports
        def why(r) -> str | None:
            if r.extra.get("seed") != "assembled":
                return None
            if not r.ok:
                return None if "time limit" in r.reason else f"sampling on the assembled seed failed: {r.reason}"
            draws = r.extra.get("draws", 0)
            if draws and r.clash_rejected / draws > ASSEMBLY_CLASH_FALLBACK:
                return f"the clash check rejected {r.clash_rejected} of {draws} draws on the assembled seed"
            return None

        retry = {i: w for i, r in enumerate(reports) if (w := why(r)) is not None}
        if retry:
            idx = list(retry)
            more, again = self._generate_many([items[i] for i in idx], n, seed, relax, boltzmann, block, "etkdg")
            for i, m, r in zip(idx, more, again):
                if m is None and out[i] is not None:  # the ETKDGv3 seed did worse: keep the assembled result
                    continue
                r.extra["seed_fallback"] = retry[i]
                r.seconds += reports[i].seconds
                out[i], reports[i] = m, r
        return out, reports

    def _generate_many(self, items, n, seed, relax, boltzmann, block, seed_method):
        """Generate for ``items`` = [(name, smiles_or_mol), ...]; returns (mols, reports), with
        ``None`` in place of molecules that failed (their report says why).

        Each molecule's random numbers come from :func:`molecule_seed` of ``seed`` and its
        canonical isomeric SMILES, so its conformers do not depend on its position in ``items``
        nor on what else is in the list.

        ``block`` numbers a further, independent set of ``n`` conformers on the same seed geometry
        (its torsions drawn from :func:`block_seed`): a caller that wants very many conformers of a
        molecule asks for them block by block, in flat memory; block 0 is the plain call.

        Raises:
            TypeError, ValueError: ``items`` not pairs of a name and a SMILES string or molecule
                (``None`` for an unreadable record), ``n`` not a positive integer, ``seed`` not an
                integer (checked before any work)."""
        from geomgen.conformers.embedding import MACROCYCLE_SIZE, embed_seed, largest_ring, non_aromatic_rings, ring_seeds
        from geomgen.conformers.molecule import canonical_isomeric_smiles, parse_molecule
        from geomgen.conformers.stereo import stereo_matches
        from geomgen.conformers.torsions import rotatable_torsions

        n = _check_n(n)
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
        if isinstance(items, (str, bytes)):
            raise TypeError(f"items must be a list of (name, smiles_or_mol) pairs, got {type(items).__name__} {items!r:.80}")
        items = list(items)
        for k, pair in enumerate(items):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"items[{k}] must be a (name, smiles_or_mol) pair, got {pair!r:.80}")
            _check_molecule_arg(pair[1], f"items[{k}] ({pair[0]!r})")
        seeds, reports, keys, budgets, torsion_sets = [], [], [], [], []
        iters = 2000 if (relax or boltzmann) else self.seed_iters
        for name, item in items:
            t0 = time.perf_counter()
            budget = _Budget(name, self.max_seconds).start()
            try:
                if item is None:
                    raise MoleculeError(f"{name!r}: unreadable record")
                mol = parse_molecule(item, name=name)
                key = molecule_seed(seed, canonical_isomeric_smiles(mol))
                ts = rotatable_torsions(mol)  # once per molecule: its seeds share the atom order
                rigid = not len(ts)  # then each conformer is a seed
                path = {}
                if seed_method == "assembly":
                    s = self._assembled(mol, key, n if rigid else (self.ring_seeds or self.ring_conformations),
                                        2000 if (relax or boltzmann) else self.assembly_iters, path, ts)
                    budget.check("assembling its seed geometry")
                    if s is not None:
                        rep = self._seed_report(name, s[0], mol, path)
                        if len(s) > 1:
                            rep.extra["ring_seeds"] = len(s)
                        s = s if len(s) > 1 else s[0]
                        seeded = self._seeded_states(mol, path, assembled=True)
                        if seeded is not None:  # each assembled ring conformation gets its own state seeds
                            s = self._state_seeds(s, rep, amide_sites=seeded[0], max_seeds=seeded[1])
                            budget.check("minimising its discrete states")
                        seeds.append(s)
                        keys.append(key)
                        budgets.append(budget)
                        torsion_sets.append(ts)
                        rep.seconds = time.perf_counter() - t0
                        reports.append(rep)
                        continue
                for attempt in range(3):
                    try:
                        s = embed_seed(mol, seed=(key + 7919 * attempt) % 2**31, n_candidates=1, name=name, max_iters=iters,
                                       embedder="etkdg" if (relax or boltzmann) else self.seed_embedder, timeout=budget.timeout())
                    finally:  # an embedding cut short by the time limit says so
                        budget.check("embedding its seed geometry")
                    if stereo_matches(s, reference=mol):
                        break
                else:
                    raise MoleculeError(f"{name!r}: the seed geometry cannot reproduce the input's stereochemistry")
                rep = self._seed_report(name, s, mol, path)
                if largest_ring(mol) >= MACROCYCLE_SIZE:  # ring conformations are not torsions: several seeds
                    wanted = n if rigid else min(n, MACROCYCLE_SEEDS)
                    s = ring_seeds(mol, s, seed=key % 2**31, n_candidates=max(2 * wanted, 4), max_seeds=wanted,
                                   max_iters=max(iters, 200), timeout=budget.timeout())
                    budget.check("embedding the conformations of its macrocycle")
                    rep.extra["ring_seeds"] = len(s)
                elif (self.ring_seeds > 1 or (rigid and n > 1)) and non_aromatic_rings(mol):
                    wanted = n if rigid else self.ring_seeds
                    s = ring_seeds(mol, s, seed=key % 2**31, n_candidates=2 * wanted, max_seeds=wanted,
                                   energy_window=RING_SEED_WINDOW, min_rmsd=0.3, min_size=3, max_iters=iters,
                                   timeout=budget.timeout())
                    budget.check("embedding the conformations of its rings")
                    if len(s) > 1:
                        from geomgen.metrics.boltzmann import boltzmann_weights

                        w = boltzmann_weights(np.array([x.GetDoubleProp("MMFF94_energy_kcal_mol") for x in s]))
                        for x, wx in zip(s, w):
                            x.SetDoubleProp("seed_weight", float(wx))
                    rep.extra["ring_seeds"] = len(s)
                seeded = self._seeded_states(mol, path, assembled=False) if not isinstance(s, list) or len(s) == 1 else None
                if seeded is not None:  # several ETKDGv3 ring or macrocycle seeds keep their seeds' states
                    s = self._state_seeds(s if not isinstance(s, list) else s[0], rep, amide_sites=seeded[0], max_seeds=seeded[1])
                    budget.check("minimising its discrete states")
                seeds.append(s)
                keys.append(key)
                budgets.append(budget)
                torsion_sets.append(ts)
                rep.seconds = time.perf_counter() - t0
                reports.append(rep)
            except MoleculeError as exc:
                seeds.append(None)
                reports.append(GenerationReport(name=name, ok=False, reason=str(exc), seconds=time.perf_counter() - t0))
            finally:
                budget.stop()
        ok = [i for i, s in enumerate(seeds) if s is not None]
        if block:
            keys = [block_seed(k, block) for k in keys]
        mols = self._from_seeds([seeds[i] for i in ok], [reports[i] for i in ok], keys, n, relax, boltzmann,
                                refine_seeds=iters < 2000, budgets=budgets, torsion_sets=torsion_sets)
        out = [None] * len(seeds)
        for i, m in zip(ok, mols):
            out[i] = m
        return out, reports

    def generate_from_seeds(self, seed_mols, n: int = 10, seed: int = 0, relax: bool = False, boltzmann: bool = False):
        """Generate on given seed geometries (molecules with one conformer), e.g. for evaluation."""
        from geomgen.conformers.molecule import canonical_isomeric_smiles

        n = _check_n(n)
        reports = [GenerationReport(name=f"mol-{i}", ok=True) for i in range(len(seed_mols))]
        keys = [molecule_seed(seed, canonical_isomeric_smiles(m)) for m in seed_mols]
        return self._from_seeds(seed_mols, reports, keys, n, relax, boltzmann)

    # -- internals ----------------------------------------------------------------------------
    def _library(self):
        from geomgen.conformers.ringlib import default_library

        if self.ring_library is None:
            self.ring_library = default_library()
        return self.ring_library

    def _assembled(self, mol, key: int, max_seeds: int, iters: int, path: dict, ts=None):
        """Assembled seeds of ``mol`` (:mod:`geomgen.conformers.assembly`), or ``None`` when the
        ETKDGv3 fallback must make it (``path`` gets the reason): one per distinct combination
        of its ring systems' library conformations among ``n`` draws by weight (at most
        ``max_seeds``, each with its count as ``seed_weight``)."""
        from rdkit import Chem

        from geomgen.conformers.assembly import Assembler, AssemblyError, ring_combinations
        from geomgen.conformers.mmff import MMFF
        from geomgen.conformers.ringlib import ring_systems
        from geomgen.conformers.stereo import stereo_matches

        try:
            systems = ring_systems(mol)
            if any(x.macrocycle for x in systems):
                raise AssemblyError("macrocycle")
            lib = self._library()
            confs = [lib.get(x.key) for x in systems]
            builder = Assembler(mol, systems, moving=None if ts is None else ts.moving)
            states = self._amide_state_choices(mol, builder, confs, path)
            combos = ring_combinations(confs + [w for _, w, _ in states], max(max_seeds, 1) * 8, np.random.default_rng(key),
                                       max_seeds)
            out = []
            for choice, count in combos:
                if states or "amide_flips" in path:
                    builder.set_flip([site for (site, _, usual), state in zip(states, choice[len(confs):]) if state != usual]
                                     + path.get("amide_flips", []))
                x = builder.seed([c.coords[k] for c, k in zip(confs, choice)])
                if iters > 0 and not x.HasProp("assembly_overlap"):
                    if self.seed_relaxation == "held" and iters < 2000 and ts is not None and len(ts):
                        MMFF.optimize_conformers_holding_torsions(x, ts.atoms, max_iters=iters)
                    else:
                        MMFF.optimize_conformers(x, max_iters=iters)
                    if not stereo_matches(x, reference=mol):
                        raise AssemblyError("MMFF94 on the assembled seed changed its stereochemistry")
                Chem.AssignStereochemistryFrom3D(x, confId=0)
                if len(combos) > 1:
                    x.SetDoubleProp("seed_weight", float(count))
                out.append(x)
        except (AssemblyError, ValueError, RuntimeError) as exc:  # RDKit raises RuntimeError on odd fragments
            path["seed"], path["seed_fallback"] = "etkdg", str(exc)
            return None
        path["seed"] = "assembled"
        if any(x.flexible for x in systems):
            path["ring_conformations"] = [len(c.energies) for c, x in zip(confs, systems) if x.flexible]
        return out

    def _amide_state_choices(self, mol, builder, confs, path: dict) -> list:
        """With ``amide_states="library"``: the partial double bonds whose state is drawn per seed,
        as ``(site, weights, usual)`` (``weights`` an object with the two states' probabilities,
        ``usual`` the state the assembler places it in); sites whose other state has a probability
        below :data:`MIN_STATE_PROBABILITY` are not drawn, and those the assembler places in the
        improbable one go to ``path["amide_flips"]``. ``path["amide_state_p"]`` records each
        site's probability of state 1."""
        from types import SimpleNamespace

        from geomgen.conformers.discrete_states import partial_double_bonds, site_states

        if self.amide_states != "library":
            return []
        p = self._state_lib().site_probabilities(mol)
        if not p:
            return []
        usual = site_states(partial_double_bonds(mol), builder.build([c.coords[0] for c in confs]))[0]
        path["amide_state_p"] = {str(k): round(v, 4) for k, v in sorted(p.items())}
        drawn, flips = [], []
        for site, p1 in sorted(p.items()):
            if min(p1, 1 - p1) >= MIN_STATE_PROBABILITY:
                drawn.append((site, SimpleNamespace(weights=np.array([1 - p1, p1])), int(usual[site])))
            elif int(usual[site]) != int(p1 > 0.5):
                flips.append(site)
        if flips:
            path["amide_flips"] = flips
        return drawn

    def _state_lib(self):
        from geomgen.conformers.statelib import default_library

        if self.state_library is None:
            self.state_library = default_library()
        return self.state_library

    @staticmethod
    def _seed_report(name: str, seed_mol, mol, path: dict) -> GenerationReport:
        """A molecule's report with its seed path and the stereo its seed fixed."""
        from geomgen.conformers.stereo import fixed_stereo

        rep = GenerationReport(name=name, ok=True)
        rep.extra["seed"] = path.get("seed", "etkdg")
        rep.extra.update({k: v for k, v in path.items() if k != "seed"})
        fixed = fixed_stereo(seed_mol, reference=mol)
        if fixed:
            rep.warnings.append(f"{name!r}: {fixed.describe()} left unspecified in the input; "
                                f"generated one stereoisomer, {fixed.smiles}")
            rep.extra["stereoisomer"] = fixed.smiles
        return rep

    def _seeded_states(self, mol, path: dict, assembled: bool):
        """Which partial double bonds of ``mol`` get state seeds, and at most how many seeds per
        seed: ``(sites, max_seeds)`` (``sites`` ``None``: every one), or ``None`` for none. With
        ``state_seeds`` above 1 every site, except that on assembled seeds with library amides only
        those the library does not place (``path["amide_state_p"]`` lists the placed ones: what is
        left is a carboxylic acid's O-H, which has no fragment); otherwise, with
        ``acid_states="minima"``, the acids' O-H (at most :data:`ACID_STATE_SEEDS`)."""
        from geomgen.conformers.discrete_states import acid_sites, partial_double_bonds

        if self.state_seeds > 1:
            if not (assembled and self.amide_states == "library"):
                return None, self.state_seeds
            left = [k for k in range(len(partial_double_bonds(mol))) if str(k) not in path.get("amide_state_p", {})]
            return (left, self.state_seeds) if left else None
        if self.acid_states == "minima" and (acids := acid_sites(mol)):
            return acids, ACID_STATE_SEEDS
        return None

    def _state_seeds(self, seed_mol, rep, amide_sites=None, max_seeds: int | None = None):
        """The seed, or seeds in its low-energy combinations of discrete states (see
        :class:`ConformerGenerator`, ``state_seeds``; ``amide_sites``: only those partial double
        bonds), recorded in ``rep.extra``. ``seed_mol`` may be a list of seeds (assembled ring
        conformations, each with its ``seed_weight``): each gets its own state seeds, whose
        weights are multiplied by its own (``extra["state_seeds"]`` entries then say which
        ``ring_seed`` they come from), and one whose other states carry no weight stays as it is.
        ``max_seeds``: at most this many per seed (default ``state_seeds``)."""
        from rdkit import Chem

        from geomgen.conformers.discrete_states import SlowSites, states_label
        from geomgen.conformers.embedding import state_seeds

        many = seed_mol if isinstance(seed_mol, list) else [seed_mol]
        found = [state_seeds(x, max_seeds=self.state_seeds if max_seeds is None else max_seeds, energy_window=STATE_SEED_WINDOW, nitrogens=False,
                             amide_sites=amide_sites) for x in many]
        changed = [got for got, x in zip(found, many) if got[0] is not x]
        if not changed:
            return seed_mol
        names = changed[0][0].GetProp("discrete_sites")
        sites = SlowSites(many[0], nitrogens=False, amide_sites=amide_sites)  # the seeds share the graph
        out, entries = [], []
        for i, (x, got) in enumerate(zip(many, found)):
            w = x.GetDoubleProp("seed_weight") if len(many) > 1 and x.HasProp("seed_weight") else 1.0
            if got[0] is x:  # only its own states carry weight: itself, labelled like the others
                y = Chem.Mol(x)
                y.SetProp("discrete_states", states_label(sites.states(x.GetConformer().GetPositions())))
                y.SetProp("discrete_sites", names)
                y.SetDoubleProp("seed_weight", 1.0)
                got = [y]
            for y in got:
                y.SetDoubleProp("seed_weight", w * y.GetDoubleProp("seed_weight"))
                entry = {"states": y.GetProp("discrete_states"), "weight": y.GetDoubleProp("seed_weight")}
                if y.HasProp("MMFF94_energy_kcal_mol"):
                    entry["MMFF94_energy_kcal_mol"] = round(y.GetDoubleProp("MMFF94_energy_kcal_mol"), 3)
                if len(many) > 1:
                    entry["ring_seed"] = i
                entries.append(entry)
                out.append(y)
        total = sum(e["weight"] for e in entries)
        for e in entries:
            e["weight"] = round(e["weight"] / total, 4)
        rep.extra["state_sites"] = names.split()
        rep.extra["state_seeds"] = entries
        return out if len(out) > 1 else out[0]

    def _sample(self, seed_mol, ts, mix, want: int, g, rep, budget=None, stop_early: bool = False,
                guards: _SeedGuards | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``want`` conformers ``[K, N, 3]`` (and their torsions ``[K, T]``) sampled on one seed
        that pass the clash and stereo checks, in at most ``max_tries`` rounds of independent draws
        (each at most :data:`MAX_DRAW_COORDS` coordinates); with ``stop_early``, none after a first
        round with an acceptance below :data:`MIN_ACCEPTANCE` over at least 100 draws. ``guards``:
        the molecule's :class:`_SeedGuards` (built here when not given)."""
        from geomgen.conformers.torsions import set_torsions

        seed_pos = seed_mol.GetConformer().GetPositions()
        guards = guards or _SeedGuards(seed_mol)
        stereo, clash = guards.stereo(seed_mol), guards.clash(seed_mol)
        pos_ok, ang_ok = [], []
        drawn = passed = 0
        cap = max(8, MAX_DRAW_COORDS // (3 * len(seed_pos)))
        for _ in range(self.max_tries):
            # draw enough for the acceptance seen so far (at least 2x, at most 50x what is missing)
            rate = max(passed / drawn, 0.02) if drawn else 0.5
            k = min(int(min(50, max(2, 1.2 / rate)) * (want - passed)) + 4, cap)
            if mix is None:
                ang = np.zeros((k, 0))
                pos = np.repeat(seed_pos[None], k, 0)
            else:
                ang = mix.sample((k,), generator=g, stratified=self.stratify).numpy()
                pos = set_torsions(seed_pos, ts, ang)
            good = clash.ok(pos) & stereo.ok(pos)
            rep.clash_rejected += int((~good).sum())
            drawn += k
            passed += int(good.sum())
            pos_ok.append(pos[good])
            ang_ok.append(ang[good])
            rep.extra["draws"] = rep.extra.get("draws", 0) + k
            if passed >= want or (stop_early and drawn >= 100 and passed < MIN_ACCEPTANCE * drawn):
                break
            if budget is not None:
                budget.check("sampling its torsions")
        return np.concatenate(pos_ok)[:want], np.concatenate(ang_ok)[:want]

    def _gibbs(self, seed_mol, ts, mix, want: int, g, rep, budget=None, guards: _SeedGuards | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``want`` conformers ``[K, N, 3]`` (and their torsions ``[K, T]``) on one seed from the
        constrained Gibbs sampler (see :class:`ConformerGenerator`): ``want`` chains started at the
        seed, :func:`gibbs_sweeps` sweeps each; fewer when a chain ends in a conformer that fails
        the checks (possible only when the seed itself did)."""
        from geomgen.conformers.torsions import dihedral_angles, rotate_torsion

        seed_pos = seed_mol.GetConformer().GetPositions()
        guards = guards or _SeedGuards(seed_mol)
        stereo, clash = guards.stereo(seed_mol), guards.clash(seed_mol)
        moved = [clash.moved_pairs(m) for m in ts.moving]
        ang = np.repeat(dihedral_angles(seed_pos, ts.atoms)[None], want, 0)
        pos = np.repeat(seed_pos[None], want, 0)
        accepted = 0
        sweeps = gibbs_sweeps(len(ts))
        for _ in range(sweeps):
            proposal = mix.sample((want,), generator=g).numpy()
            for t in range(len(ts)):
                new = rotate_torsion(pos, ts, t, proposal[:, t] - ang[:, t])
                keep = clash.ok(new, pairs=moved[t]) & stereo.ok(new)
                pos[keep] = new[keep]
                ang[keep, t] = proposal[keep, t]
                accepted += int(keep.sum())
            if budget is not None:
                budget.check("sampling its torsions (constrained Gibbs sampler)")
        good = clash.ok(pos) & stereo.ok(pos)
        rate = accepted / (sweeps * len(ts) * want)
        rep.extra["gibbs_acceptance"] = round(min(rep.extra.get("gibbs_acceptance", 1.0), rate), 4)
        return pos[good], ang[good]

    def predict(self, mol, torsions=None):
        """The rotatable torsions of ``mol`` and their predicted law (``None`` without torsions): a
        :class:`~geomgen.distributions.VonMisesMixture`, or a coupled network's joint law
        (:mod:`geomgen.conformers.coupling`), both with ``sample`` and ``log_prob``;
        ``torsions``: its :func:`~geomgen.conformers.torsions.rotatable_torsions` when the caller
        has them already. The same law, bit for bit, as :meth:`predict_many` gives the molecule
        among others."""
        return self.predict_many([(mol, torsions)])[0]

    def predict_many(self, items) -> list:
        """:meth:`predict` for many molecules, ``items`` = ``[(mol, torsions or None), ...]``:
        ``[(torsions, law), ...]`` in order, or in place of a pair the :class:`MoleculeError` or
        ``ValueError`` that featurizing that molecule raised (the others are still predicted).

        The network runs on up to :data:`PREDICT_BATCH` molecules per forward pass (a disjoint
        union graph, :func:`~geomgen.conformers.features.collate`), and every pass, a lone
        molecule's too, carries a fixed padding graph (:func:`_padding_graph`) so that each
        matrix product has at least :data:`MIN_GEMM_ROWS` rows. A row of a matrix product then
        comes out the same whatever the other rows are (BLAS takes another code path for one to
        three rows: without the padding, 84 of 200 library molecules, those with fewer than four
        torsions, got other last bits alone than batched; ``evaluation/conformers/batched_forward.py``),
        so a molecule's law, and its conformers, do not depend on its batch mates nor on its place
        in the input. That holds where the BLAS behaves so, which :func:`exact_batching` checks
        once per process on random graphs; where it does not, molecules go one per pass (with the
        padding), and a coupled network (whose joint law is not split per molecule) takes one
        molecule per pass without it, as before batching."""
        import torch

        from geomgen.conformers.features import collate, featurize
        from geomgen.conformers.torsions import rotatable_torsions
        from geomgen.distributions.von_mises import VonMisesMixture

        out, todo = [None] * len(items), []
        for k, (mol, torsions) in enumerate(items):
            try:
                torsions = rotatable_torsions(mol) if torsions is None else torsions
                if not len(torsions):
                    out[k] = (torsions, None)
                    continue
                todo.append((k, torsions, featurize(mol, torsions.atoms, torsion_features=self.net.torsion_features)))
            except (MoleculeError, ValueError) as exc:
                out[k] = exc
        pad = _padding_graph(self.net.torsion_features)
        coupled = bool(getattr(self.net, "coupling", False))
        # the check only where there is something to batch: a lone molecule runs the same either way
        size = 1 if coupled or len(todo) < 2 or not exact_batching(self.net) else PREDICT_BATCH
        with torch.no_grad():
            for s in range(0, len(todo), size):
                chunk = todo[s:s + size]
                if coupled:  # a joint law per molecule, not split: one pass each, unpadded as before
                    k, torsions, graph = chunk[0]
                    out[k] = (torsions, self.net.law(graph))
                    continue
                loc, conc, logits = self.net(collate([g for _, _, g in chunk] + [pad]))
                row = 0
                for k, torsions, graph in chunk:
                    t = graph.torsion_index.shape[0]
                    out[k] = (torsions, VonMisesMixture(loc[row:row + t].double(), conc[row:row + t].double(),
                                                        logits[row:row + t].double()))
                    row += t
        return out

    def _from_seeds(self, seeds, reports, keys, n, relax, boltzmann, refine_seeds=False, budgets=None, torsion_sets=None):
        n = _check_n(n)
        out, preds = [], []
        for j, (seed_set, rep, key) in enumerate(zip(seeds, reports, keys)):
            if j % PREDICT_BATCH == 0:  # the network on the next molecules together (predict_many)
                window = range(j, min(j + PREDICT_BATCH, len(seeds)))
                preds = self.predict_many([(seeds[i][0] if isinstance(seeds[i], list) else seeds[i],
                                            torsion_sets[i] if torsion_sets else None) for i in window])
            t1 = time.perf_counter()
            budget = budgets[j] if budgets else None
            if budget is not None:
                budget.start()
            try:
                result = self._one(seed_set, rep, key, n, relax, boltzmann, refine_seeds, budget,
                                   torsion_sets[j] if torsion_sets else None, pred=preds[j % PREDICT_BATCH])
            except MoleculeError as exc:
                rep.ok, rep.reason, result = False, str(exc), None
            finally:
                if budget is not None:
                    budget.stop()
            rep.seconds += time.perf_counter() - t1
            out.append(result)
        return out

    def _one(self, seed_set, rep, key, n, relax, boltzmann, refine_seeds, budget, ts=None, pred=None):
        """The conformers of one molecule on its seeds (see :meth:`_from_seeds`): draw them
        (:meth:`_draw`), pool the seeds' draws (:meth:`_pooled`), run the Boltzmann chains from
        them (:meth:`_boltzmann_step`), relax them (:meth:`_relax_step`) and annotate the output
        molecule (:meth:`_annotated`). ``pred``: its entry of :meth:`predict_many` (the torsions
        and their law, or the error featurizing it raised) when the caller has it."""
        import torch

        from geomgen.conformers.mmff import MMFF

        seed_set = seed_set if isinstance(seed_set, list) else [seed_set]
        mol = seed_set[0]
        if isinstance(pred, Exception):
            raise pred
        ts, mix = self.predict(mol, ts) if pred is None else pred
        # seeds in other amide states share the prediction: the torsion features next to a
        # flipped amide (relative dihedrals about its neighbours' bonds) hardly change
        by_state = mol.HasProp("discrete_states") and len(seed_set) > 1
        n_seeds = len(seed_set)
        if self.mirror_images and not boltzmann and not by_state and _achiral(mol) and not _superposable_on_its_mirror(mol):
            seed_set = seed_set + [_mirror_image(s) for s in seed_set]
            rep.extra["mirror_images"] = True
        g = torch.Generator().manual_seed(key)
        guards = _SeedGuards(mol, ts)  # built once per molecule, shared by its seeds
        stereo = guards.stereo(mol)
        # Boltzmann mode samples only the chains' starts
        want = min(max(self.boltzmann_chains, len(seed_set)), n) if boltzmann else n
        # samples spread evenly over the seeds (several only for macrocycles)
        shares = _shares(want, [s.GetDoubleProp("seed_weight") if s.HasProp("seed_weight") else 1.0 for s in seed_set])
        seed_set, drawn = self._draw(seed_set, shares, want, ts, mix, g, rep, budget, guards, refine_seeds)
        mol = seed_set[0]
        # with mirror images, each conformer's seed is its index in the seed set (mirrors after the originals)
        pos, ang, seed_of = self._pooled(drawn, shares, want, by_state or len(seed_set) > n_seeds, rep)
        energies = None
        if boltzmann:
            pos, ang, seed_of, energies = self._boltzmann_step(mol, pos, ang, seed_of, n, key, ts, mix, stereo, rep)
        result = _with_conformers(mol, pos)
        if relax:
            energies = self._relax_step(result, mol, pos, stereo, rep)
        elif self.relax_bonds and not boltzmann:
            energies = self._relax_bonds_step(result, mol, pos, ts, stereo, rep)
        if energies is None and (relax or boltzmann):
            energies = MMFF(mol).energies(pos)
        return self._annotated(result, mol, seed_set, rep, n, energies, ang, mix, seed_of, by_state, n_seeds)

    def _draw(self, seed_set, shares, want, ts, mix, g, rep, budget, guards, refine_seeds):
        """Independent torsion draws on the seeds (``shares[i]`` on ``seed_set[i]``), on fully
        minimised seeds again when too few pass (``refine_seeds``), the rest from the
        constrained Gibbs sampler (:meth:`_gibbs_fallback`). Returns the seeds (minimised or not)
        and, per seed used (share > 0), its (positions, torsion angles)."""
        used = [(s, share) for s, share in zip(seed_set, shares) if share]
        drawn = [self._sample(s, ts, mix, share, g, rep, budget, True, guards) for s, share in used]
        draws = rep.extra.get("draws", 0)
        acceptance = 1 - rep.clash_rejected / draws if draws else 1.0
        if refine_seeds and sum(len(p) for p, _ in drawn) < want and acceptance >= MIN_ACCEPTANCE:
            # a seed minimised briefly (or not at all) can leave too little room between
            # crowded groups: minimise it fully and sample again before giving up
            seed_set = [_minimised(s) for s in seed_set]
            rep.extra["seed_minimised"] = True
            used = [(s, share) for s, share in zip(seed_set, shares) if share]
            drawn = [self._sample(s, ts, mix, share, g, rep, budget, True, guards) for s, share in used]
        missing = want - sum(len(p) for p, _ in drawn)
        rep.extra["sampler"] = "independent"
        if missing > 0 and mix is not None:
            self._gibbs_fallback(used, drawn, missing, want, ts, mix, g, rep, budget, guards)
        return seed_set, drawn

    def _gibbs_fallback(self, used, drawn, missing, want, ts, mix, g, rep, budget, guards) -> None:
        """Complete ``drawn`` (in place) from the constrained Gibbs sampler of the same law: with
        many torsions, independent draws nearly always clash somewhere. Reported in ``rep``."""
        for j, (s, share) in enumerate(used):
            if len(drawn[j][0]) < share:
                more = self._gibbs(s, ts, mix, share - len(drawn[j][0]), g, rep, budget, guards)
                drawn[j] = (np.concatenate([drawn[j][0], more[0]]), np.concatenate([drawn[j][1], more[1]]))
        draws = rep.extra.get("draws", 0)
        gibbs = missing - (want - sum(len(p) for p, _ in drawn))
        rep.extra["sampler"] = "gibbs"
        rep.warnings.append(f"{rep.name!r}: {rep.clash_rejected} of {draws} independent torsion draws clashed; "
                            f"{gibbs} of {want} conformers come from the constrained Gibbs sampler of the same "
                            f"torsion distribution ({gibbs_sweeps(len(ts))} sweeps from the seed, acceptance "
                            f"{rep.extra['gibbs_acceptance']:.2f})")

    def _pooled(self, drawn, shares, want, by_state, rep):
        """The seeds' draws in one array: (positions, torsion angles, each conformer's seed: its
        index among those used for ring seeds, in the seed set for state seeds). Raises
        :class:`MoleculeError` when fewer than ``want`` passed."""
        pos = np.concatenate([p for p, _ in drawn])
        ang = np.concatenate([a for _, a in drawn])
        index = [i for i, share in enumerate(shares) if share] if by_state else list(range(len(drawn)))
        seed_of = np.concatenate([np.full(len(p), index[j]) for j, (p, _) in enumerate(drawn)])
        if len(pos) < want:
            also = " and the constrained Gibbs sampler" if rep.extra["sampler"] == "gibbs" else ""
            raise MoleculeError(f"{rep.name!r}: only {len(pos)} of {want} sampled conformers passed the clash and "
                                f"stereo checks after {self.max_tries} tries{also}")
        return pos, ang, seed_of

    def _boltzmann_step(self, mol, pos, ang, seed_of, n, key, ts, mix, stereo, rep):
        """Boltzmann mode: MMFF chains from the drawn conformers, ``n`` states in all. Returns
        (positions, torsion angles, seeds, energies) of the states; reported in ``rep``."""
        from geomgen.conformers.mmff import MMFF
        from geomgen.conformers.reference.sampler import refine
        from geomgen.conformers.torsions import dihedral_angles, rotatable_torsions
        from geomgen.distributions.von_mises import VonMisesMixture

        config, law, rates = None, None, {}
        if (self.boltzmann_law_moves > 0 and isinstance(mix, VonMisesMixture)
                and np.array_equal(rotatable_torsions(mol).atoms, ts.atoms)):  # refine's torsions: the law's, in order
            from geomgen.conformers.reference.moves.law_proposal import TorsionProposal

            rates["law_moves_per_sweep"] = self.boltzmann_law_moves
            law = TorsionProposal.from_mixture(mix)
        if self.boltzmann_state_moves > 0:
            rates.update(amide_flips_per_sweep=self.boltzmann_state_moves, nitrogen_inversions_per_sweep=self.boltzmann_state_moves / 2)
        if rates:
            from geomgen.conformers.reference.sampler import REFINE_MOVES, SamplerConfig

            config = SamplerConfig(**REFINE_MOVES, **rates)
        res = refine(mol, pos, sweeps=self.boltzmann_sweeps, samples_per_chain=-(-n // len(pos)), seed=key % (2**32),
                     config=config, law=law)
        start, pos, energies = pos[res.chain[:n]], res.positions[:n], res.energies[:n]
        seed_of = seed_of[res.chain[:n]]
        # a state in another stereoisomer (e.g. after a nitrogen inversion) is replaced by
        # its chain's start: reported, never silently kept
        kept = ~stereo.ok(pos)
        if kept.any():
            pos[kept] = start[kept]
            energies[kept] = MMFF(mol).energies(start[kept])
        if mix is not None:
            ang = dihedral_angles(pos, ts.atoms)
        d = res.diagnostics
        rep.ess = d.get("ess_min")
        rep.extra.update({"boltzmann_chains": d["chains"], "boltzmann_sweeps": self.boltzmann_sweeps,
                          "boltzmann_kept_start": int(kept.sum()), "boltzmann_rhat": d.get("rhat_max"),
                          "boltzmann_torsion_acceptance": round(d["torsion_acceptance"], 4)})
        if law is not None:
            rep.extra.update(boltzmann_law_moves=self.boltzmann_law_moves, boltzmann_law_acceptance=round(d["law_acceptance"], 4))
        if self.boltzmann_state_moves > 0:
            rep.extra.update(boltzmann_state_moves=self.boltzmann_state_moves, boltzmann_amide_flip_acceptance=round(d["amide_flip_acceptance"], 4),
                             boltzmann_nitrogen_inversion_acceptance=round(d["nitrogen_inversion_acceptance"], 4))
        return pos, ang, seed_of, energies

    def _relax_bonds_step(self, result, mol, pos, ts, stereo, rep) -> np.ndarray:
        """Relax ``result``'s conformers with their rotatable torsions held (in place, see
        ``relax_bonds``); returns their energies. A conformer whose relaxation changed its stereo
        keeps its unrelaxed geometry ``pos[c]``."""
        from geomgen.conformers.mmff import MMFF, set_positions

        energies = MMFF.optimize_conformers_holding_torsions(result, ts.atoms, max_iters=self.relax_bonds)
        relaxed = np.stack([c.GetPositions() for c in result.GetConformers()])
        bad = ~stereo.ok(relaxed)
        if bad.any():
            for c in np.flatnonzero(bad):
                set_positions(result.GetConformer(int(c)), pos[c])
            energies[bad] = MMFF(mol).energies(pos[bad])
            rep.extra["relax_reverted"] = int(bad.sum())
        return energies

    @staticmethod
    def _relax_step(result, mol, pos, stereo, rep) -> np.ndarray:
        """Relax ``result``'s conformers with MMFF (in place); returns their energies. A conformer
        whose relaxation inverted a stereocentre keeps its unrelaxed geometry ``pos[c]``."""
        from geomgen.conformers.mmff import MMFF, set_positions

        res = MMFF.optimize_conformers(result, max_iters=200)
        energies = np.array([e for _, e in res])
        relaxed = np.stack([c.GetPositions() for c in result.GetConformers()])
        bad = ~stereo.ok(relaxed)
        if bad.any():  # relaxation inverted a centre (e.g. a stereogenic nitrogen): keep the unrelaxed geometry
            for c in np.flatnonzero(bad):
                set_positions(result.GetConformer(int(c)), pos[c])
            energies[bad] = MMFF(mol).energies(pos[bad])
            rep.extra["relax_reverted"] = int(bad.sum())
        return energies

    @staticmethod
    def _annotated(result, mol, seed_set, rep, n, energies, ang, mix, seed_of, by_state, n_seeds=None):
        """``result`` with its conformers' properties (energy, torsions, seed, discrete states),
        the state seeds' conformer counts and a warning when fewer than ``n`` conformers differ.
        ``n_seeds``: the seeds before mirror images were added (default: all of ``seed_set``)."""
        n_seeds = len(seed_set) if n_seeds is None else n_seeds
        props = [{} for _ in range(n)]
        for c in range(n):
            if energies is not None:
                props[c]["MMFF94_energy_kcal_mol"] = float(energies[c])
            if mix is not None:
                props[c]["torsions_rad"] = " ".join(f"{t:.4f}" for t in ang[c])
            if n_seeds > 1:
                props[c]["state_seed" if by_state else "ring_seed"] = int(seed_of[c]) % n_seeds
            if len(seed_set) > n_seeds:
                props[c]["mirror_image"] = int(seed_of[c] >= n_seeds)
        for key, labels in _state_props(mol, np.stack([c.GetPositions() for c in result.GetConformers()])).items():
            for c, label in enumerate(labels):
                props[c][key] = label
        if by_state:
            for i, entry in enumerate(rep.extra.get("state_seeds", [])):
                entry["conformers"] = int((seed_of == i).sum())
        for conf, pr in zip(result.GetConformers(), props):
            for key, val in pr.items():
                if isinstance(val, float):
                    conf.SetDoubleProp(key, val)
                else:
                    conf.SetProp(key, str(val))
        distinct = _distinct(np.stack([c.GetPositions() for c in result.GetConformers()]))
        if distinct < n:
            if mix is not None:
                why = f"{len(seed_set)} seed(s)"
            elif any(mol.GetAtomWithIdx(i).IsInRing() and not mol.GetAtomWithIdx(i).GetIsAromatic() for i in range(mol.GetNumAtoms())):
                why = f"the molecule has no rotatable torsion, and {len(seed_set)} distinct ring conformation(s) were found"
            else:
                why = "the molecule has no rotatable torsion and no flexible ring: it has one conformation"
            rep.warnings.append(f"{rep.name!r}: only {distinct} of the {n} conformers are distinct ({why})")
            rep.extra["distinct_conformers"] = distinct
        rep.n_conformers = n
        return result
