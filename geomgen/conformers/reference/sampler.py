r"""Reference sampler: MMFF94 Boltzmann ensembles with every internal coordinate flexible.

Markov chain Monte Carlo in Cartesian coordinates, exact for the target

.. math::
    \pi(x) \propto \exp(-E_{\mathrm{MMFF94}}(x) / k_B T),\qquad k_B T = 0.5962\ \mathrm{kcal/mol}\ (300\,\mathrm{K}).

Each of ``n_chains`` independent chains is a **replica ladder**: rung r samples

.. math::
    \pi_r(x) \propto \exp\big(-\beta_r\,[E(x) - (1 - \lambda_r)\,E_{\mathrm{bar}}(x)]\big)

where :math:`E_{\mathrm{bar}}` is the MMFF94 torsion energy of the rotatable bonds
(:class:`~geomgen.conformers.reference.barrier.TorsionBarrier`: the term that makes their
barriers, conjugation included), plus, with ``ladder_terms="torsion+electrostatic"``, the
intramolecular electrostatic energy (what holds hydrogen-bonded states). Rung 0 has :math:`\lambda_0 = 1` and :math:`\beta_0 = 1/k_BT`:
it is the target, and only its draws are recorded. A *Hamiltonian* ladder lowers
:math:`\lambda` towards ``lambda_min`` at fixed temperature; a *temperature* ladder keeps
:math:`\lambda = 1` and raises T geometrically to ``t_max``. Every move below leaves its rung's
:math:`\pi_r` invariant (detailed balance), so the product of the rungs' laws is invariant and
rung 0 samples :math:`\pi` exactly. The moves are one class each in
:mod:`~geomgen.conformers.reference.moves`, each with its invariance argument, run in the order of
the schedule (:data:`~geomgen.conformers.reference.moves.schedule.SCHEDULE`):

* **symmetry moves** (and, as an option, **mirror moves**) --
  :mod:`~geomgen.conformers.reference.moves.symmetry`;
* **torsion moves** -- rigid rotations of the moving side of a movable bond,
  :mod:`~geomgen.conformers.reference.moves.rigid_torsion`;
* **ring flips** (option) -- :mod:`~geomgen.conformers.reference.moves.ring_flip`;
* **torsion-pair moves** (option) -- :mod:`~geomgen.conformers.reference.moves.torsion_pair`;
* **NCMC torsion moves** (option; Nilmeier et al., PNAS 2011) --
  :mod:`~geomgen.conformers.reference.moves.ncmc`;
* **MALA steps** -- :mod:`~geomgen.conformers.reference.moves.mala`;
* **replica swaps** after every sweep -- :mod:`~geomgen.conformers.reference.ladder`.

Chains start over-dispersed (each its own embedding, discrete states spread over the chains,
random torsions); with ``basin_search`` an independent search for low-energy basins runs first
(:mod:`~geomgen.conformers.reference.basins`: minimised over-dispersed starts, discrete states at
random), the first ``basin_starts`` chains start in its lowest minima, and a run whose lowest
samples relax into nothing within ``basin_tolerance`` of the search's lowest minimum is not
converged: the chains' own figures cannot see a basin none of them entered.

During warm-up the ladder's spacing is adapted so that neighbouring swap rates equalise
(rungs 0 and the top stay fixed); then it is frozen, and the reported swap rates are
post-warm-up. Chains run in rounds until every torsion passes the convergence rule of
:mod:`~geomgen.conformers.reference.convergence` or a cap (sweeps, seconds) is hit; the
diagnostics are returned either way. The defaults (one rung, no NCMC, no jumps) are the rigid,
symmetry and MALA moves: at equal wall time on MOSES-sized molecules the jumps, NCMC and
replica ladders did not converge more molecules (``evaluation/conformers/sampler_efficiency.md``),
so they are options, each tested to leave the target invariant.

:func:`refine` runs the target rung's moves from given starts (a generative model's samples) and
records states along the way: the ``--boltzmann`` mode of ``geomgen conformers``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from geomgen.conformers.mmff import MMFF
from geomgen.conformers.reference.barrier import ElectrostaticTerm, SumOfTerms, TorsionBarrier
from geomgen.conformers.reference.config import LADDER_TERMS, LADDERS, SamplerConfig
from geomgen.conformers.reference.convergence import state_convergence, torsion_convergence, torsion_symmetry
from geomgen.conformers.reference.ladder import Ladder, Rung
from geomgen.conformers.reference.moves.schedule import SCHEDULE
from geomgen.conformers.reference.moves.symmetry import mirror_symmetric
from geomgen.conformers.reference.moves.torsion_pair import torsion_pairs
from geomgen.conformers.torsions import TorsionSet, dihedral_angles, movable_bonds, rotatable_torsions, set_torsions
from geomgen.metrics.boltzmann import KB_KCAL_PER_MOL_K

__all__ = ["SamplerConfig", "ReferenceResult", "sample_reference", "RefineResult", "refine", "REFINE_MOVES", "System",
           "LADDERS", "LADDER_TERMS", "mirror_symmetric", "torsion_pairs"]


@dataclass
class ReferenceResult:
    """Output of :func:`sample_reference` for one molecule.

    Attributes:
        torsions: the :class:`TorsionSet` sampled.
        angles: ``[n_samples, T]`` pooled torsion samples (radians); with ``max_samples``, up to
            that many (the option's help says how many); the per-sample arrays below likewise.
        energies: ``[n_samples]`` MMFF94 energies (kcal/mol).
        positions: ``[n_samples, N, 3]`` the sampled geometries (float32).
        chains: ``[M, S, T]`` all post-warm-up draws, per chain.
        mirrored: ``[n_samples]`` bool, whether a sample is the mirror image of a conformer with
            the start's handedness (an odd number of mirror moves; all False without them).
        symmetry: ``[T]`` symmetry orders of the torsions.
        states: ``[n_samples, K]`` bool, the monitored discrete states of each sample (amide E/Z,
            nitrogen configurations; ``diagnostics["state_names"]`` names them).
        diagnostics: convergence (per torsion and worst case), acceptance and swap rates, the
            ladder, sweeps and seconds.
    """

    torsions: TorsionSet
    angles: np.ndarray
    energies: np.ndarray
    positions: np.ndarray
    chains: np.ndarray
    symmetry: np.ndarray
    diagnostics: dict = field(default_factory=dict)
    mirrored: np.ndarray | None = None
    states: np.ndarray | None = None


class System:
    """What every rung of every chain shares: the molecule, its torsions, the force field and the
    ladder's barrier term, the settings, and the moves (built once; :attr:`schedule` holds the
    applicable ones in sweep order)."""

    def __init__(self, mol, torsions: TorsionSet, cfg: SamplerConfig):
        self.mol, self.torsions, self.cfg = mol, torsions, cfg
        self.mmff = MMFF(mol)
        self.kt0 = KB_KCAL_PER_MOL_K * cfg.temperature
        #: the bonds rigid torsion moves rotate (rotatable ones and hydrogen rotors)
        self.movable = movable_bonds(mol)
        bonds = [tuple(a[1:3]) for a in torsions.atoms]
        if cfg.ladder_bonds == "rotatable+partial":
            from geomgen.conformers.discrete_states import partial_double_bonds

            bonds += [site.atoms[1:3] for site in partial_double_bonds(mol)]
        self.barrier = TorsionBarrier(mol, bonds=bonds, props=self.mmff.props)
        if cfg.ladder_terms == "torsion+electrostatic":
            self.barrier = SumOfTerms(self.barrier, ElectrostaticTerm(mol, props=self.mmff.props))
        self.moves = {move.name: move(self) for move in SCHEDULE}
        self.schedule = [m for m in self.moves.values() if m.applicable]

    def reset_stats(self) -> None:
        for move in self.moves.values():
            move.reset()

    def use_basins(self, minima) -> None:
        """Every move's :meth:`~geomgen.conformers.reference.moves.base.Move.use_basins`, then the
        schedule again (a move may apply only with the search's results)."""
        for move in self.moves.values():
            move.use_basins(minima)
        self.schedule = [m for m in self.moves.values() if m.applicable]

    def use_law(self, law) -> None:
        """Give the torsion-law move its proposal law
        (:class:`~geomgen.conformers.reference.moves.law_proposal.TorsionProposal`, one mixture per
        torsion of :attr:`torsions`), then the schedule again; before the first sweep."""
        self.moves["law"].use_law(law)
        self.schedule = [m for m in self.moves.values() if m.applicable]

    def end_warmup(self) -> None:
        """Every move's :meth:`~geomgen.conformers.reference.moves.base.Move.end_warmup`."""
        for move in self.moves.values():
            move.end_warmup()

    def move_diagnostics(self) -> dict:
        """Every move's diagnostics (acceptance rates and counts), applicable or not."""
        out = {}
        for move in self.moves.values():
            out.update(move.diagnostics())
        return out

    @property
    def inverting(self) -> list[int]:
        """The nitrogens whose inversion is sampled (their NMe2-like rotors are symmetric)."""
        move = self.moves.get("nitrogen_inversion")
        return move.inverting if move is not None else []

    @property
    def state_moves(self) -> list:
        """The moves that define discrete states (whatever their rate)."""
        return [m for m in self.moves.values() if m.state_name is not None]

    def state_labels(self) -> list[str]:
        return [label for m in self.state_moves for label in m.state_labels()]

    def states(self, positions: np.ndarray) -> np.ndarray:
        """0/1 indicators of every monitored discrete site. Shapes: ``[S, N, 3]`` -> ``[S, K]`` bool."""
        parts = [m.states(positions) for m in self.state_moves]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(positions), 0), dtype=bool)

    @property
    def rings(self) -> list:
        """The rings the ring-flip move acts on (empty without ring flips)."""
        flips = self.moves.get("ring_flip")
        return flips.rings if flips is not None else []


def _own_embedding(mol, rng: np.random.Generator, tries: int = 3) -> np.ndarray | None:
    """A fresh ETKDGv3 embedding of ``mol`` with the stereo of its conformer, or None."""
    from rdkit import Chem
    from rdkit.Chem import rdDistGeom

    from geomgen.conformers.stereo import StereoGuard

    guard = StereoGuard(mol)
    for _ in range(tries):
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = int(rng.integers(1, 2**31 - 1))
        copy = Chem.Mol(mol)
        copy.RemoveAllConformers()
        if rdDistGeom.EmbedMolecule(copy, params) < 0:
            continue
        pos = copy.GetConformer().GetPositions()
        if guard.ok(pos[None])[0]:
            return pos
    return None


def _state_targets(system: System, n_chains: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per chain, the 0/1 state each monitored discrete site starts in: chain c gets state
    ``(c + o_k) % 2`` at site k, o_k random, so every state of every site starts some chain."""
    offsets = rng.integers(0, 2, len(system.state_labels()))
    return [((c + offsets) % 2).astype(bool) for c in range(n_chains)]


def _overdispersed_start(system: System, seed_pos: np.ndarray, ts: TorsionSet, rng: np.random.Generator,
                         target: np.ndarray | None = None, own_embedding: bool = True, max_iters: int = 200) -> np.ndarray:
    """An over-dispersed start: the chain's own embedding (``own_embedding``, for a molecule without
    saturated rings; else, or if it fails, the seed), its discrete sites put in the states ``target`` (:func:`_state_targets`) and the others
    (ring puckers) flipped at random, random torsions (best of 10 draws), a short minimisation
    (``max_iters`` BFGS iterations). Chains that share one start cannot reveal a slow mode that none
    of them leaves."""
    from geomgen.conformers.embedding import non_aromatic_rings

    # a molecule with a saturated ring keeps the seed's rings (flipped at random): the reference
    # store rebuilds samples on the seed's ring conformations, which another embedding may lack
    pos = _own_embedding(system.mol, rng) if own_embedding and not non_aromatic_rings(system.mol) else None
    pos = seed_pos if pos is None else pos
    start = 0
    for move in system.state_moves:
        k = len(move.monitored)
        if k and target is not None:
            pos = move.set_states(pos, target[start:start + k])
        start += k
        pos = move.randomize(pos, rng)
    mmff = system.mmff
    if len(ts) == 0:
        return mmff.minimize(pos, max_iters=max_iters)[0]
    draws = rng.uniform(-math.pi, math.pi, (10, len(ts)))
    cands = set_torsions(pos, ts, draws)
    best = cands[int(np.argmin(mmff.energies(cands)))]
    return mmff.minimize(best, max_iters=max_iters)[0]


def _basin_search(system: System, seed_pos: np.ndarray, ts: TorsionSet, cfg):
    """The independent search of option ``basin_search``: that many over-dispersed starts
    (:func:`_overdispersed_start`, every discrete site in a random state), each minimised to
    convergence, the distinct minima kept, lowest first
    (:class:`~geomgen.conformers.reference.basins.Minima`). Its own random stream, so the chains'
    streams are those of a run without a search."""
    from geomgen.conformers.reference.basins import Minima, distinct

    rng = np.random.default_rng([cfg.seed, cfg.n_chains, 1])
    n_sites = len(system.state_labels())
    pos, energies = [], []
    for _ in range(cfg.basin_search):
        target = rng.integers(0, 2, n_sites).astype(bool)
        p = _overdispersed_start(system, seed_pos, ts, rng, target, cfg.own_embeddings, max_iters=500)  # minimised to convergence
        pos.append(p)
        energies.append(system.mmff.energy(p))
    if not pos:
        return Minima(np.zeros((0, len(seed_pos), 3)), np.zeros(0), 0)
    p, e = distinct(np.asarray(pos), np.asarray(energies))
    return Minima(p, e, len(pos))


def _stuck_states(states: np.ndarray, labels: list[str]) -> list[str]:
    """Names of the monitored discrete sites on which every chain has stayed in one state, not the
    same one in all chains (``states``: ``[chains, sweeps, K]`` 0/1 states)."""
    if not labels:
        return []
    const = (states == states[:, :1]).all(1).all(0)  # [K]: no chain ever left its first state
    first = states[:, 0]  # [chains, K]
    split = first.any(0) & ~first.all(0)
    return [labels[k] for k in np.flatnonzero(const & split)]


def _projected_shortfall(conv: dict, st: dict, share: float, targets, margin: float) -> list[str]:
    """Why the rest of a CPU budget cannot bring the convergence figures to their targets, judged
    at ``share`` (0-1] of it: a torsion or state whose ESS, grown in proportion to CPU time, stays
    below ``targets.ess / margin`` at the cap, or a torsion whose inter-half W1, shrinking as the
    inverse square root of the ESS, stays above ``margin * targets.w1``. Empty: no shortfall (or
    ``margin`` 0, or nothing measured yet)."""
    if margin <= 0 or not 0 < share <= 1:
        return []
    out = []
    for q, (ess, w1) in enumerate(zip(conv.get("ess", []), conv.get("w1", []))):
        if ess / share < targets.ess / margin:
            out.append(f"projected: torsion {q} ESS {ess:.0f} -> {ess / share:.0f} at the cap (target {targets.ess:g})")
        elif w1 * math.sqrt(share) > margin * targets.w1:
            out.append(f"projected: torsion {q} inter-half W1 {w1:.3f} -> {w1 * math.sqrt(share):.3f} at the cap "
                       f"(target {targets.w1:g})")
    for name, ess in zip(st.get("state_names", []), st.get("state_ess", [])):
        if ess / share < targets.ess / margin:
            out.append(f"projected: {name} ESS {ess:.0f} -> {ess / share:.0f} at the cap (target {targets.ess:g})")
    return out


def _thin(n: int, n_samples: int) -> np.ndarray:
    """The indices of the samples kept of ``n`` pooled draws: ``n_samples`` evenly spaced."""
    return np.linspace(0, n - 1, min(n_samples, n)).round().astype(int)


def _n_keep(conv: dict, cfg) -> int:
    """How many pooled samples a run stores: ``n_samples``, or with ``max_samples`` above it the
    smallest torsion ESS clipped to [``n_samples``, ``max_samples``] (option ``max_samples``)."""
    if cfg.max_samples <= cfg.n_samples or not conv.get("ess"):
        return cfg.n_samples
    ess = float(np.min(conv["ess"]))
    return int(np.clip(round(ess), cfg.n_samples, cfg.max_samples)) if math.isfinite(ess) else cfg.max_samples


def _self_agreement(chains: np.ndarray, sym: np.ndarray, conv: dict, st: dict, system: System, cfg) -> float:
    """:func:`~geomgen.conformers.reference.verification.self_agreement` of the ensemble the run
    would store if it stopped now (the thinned pooled draws, with their effective sizes, state
    figures and mirror setting)."""
    from geomgen.conformers.reference.verification import Ensemble, self_agreement

    flat = chains.reshape(-1, chains.shape[-1])
    diag = {"ess": conv["ess"], "w1": conv["w1"], **st, **system.move_diagnostics()}
    ens = Ensemble(torsion_atoms=np.asarray(system.torsions.atoms).reshape(-1, 4), angles=flat[_thin(len(flat), _n_keep(conv, cfg))],
                   symmetry=sym, diagnostics=diag)
    return self_agreement(ens, seed=cfg.seed)


#: lowest-energy samples minimised by the basin check
BASIN_SAMPLES = 32


def _basin_check(search, positions: np.ndarray, energies: np.ndarray, system: System, cfg) -> dict:
    """The diagnostics of option ``basin_search``: the search's lowest minimum (``basin_search_min``,
    and ``basin_search_minima`` found of ``basin_search`` starts), the lowest minimum that the
    :data:`BASIN_SAMPLES` lowest-energy stored samples relax into (``basin_sample_min``) and
    ``basin_gap``, their difference (:func:`~geomgen.conformers.reference.basins.basin_gap`; None
    without a search or when either side is empty)."""
    from geomgen.conformers.reference.basins import basin_gap, sample_minima

    if search is None:
        return {}
    mins = sample_minima(positions, energies, system.mmff, n=BASIN_SAMPLES)
    gap = basin_gap(mins, search)
    return {"basin_search_min": search.lowest if len(search.energies) else None, "basin_search_minima": int(len(search.energies)),
            "basin_sample_min": mins.lowest if len(mins.energies) else None, "basin_gap": None if math.isnan(gap) else float(gap)}


def sample_reference(mol, config: SamplerConfig | None = None, torsions: TorsionSet | None = None, starts=None) -> ReferenceResult:
    """Sample the MMFF94 Boltzmann distribution of ``mol`` (flexible geometry) by MCMC.

    Args:
        mol: RDKit molecule with hydrogens and a seed conformer (see
            :func:`geomgen.conformers.embedding.embed_seed`).
        config (SamplerConfig, optional): sampler settings.
        torsions (TorsionSet, optional): torsions to report and to move by NCMC (default:
            :func:`~geomgen.conformers.torsions.rotatable_torsions`).
        starts (array, optional): ``[n_chains, N, 3]`` initial geometries (default:
            over-dispersed, :func:`_overdispersed_start`: each chain its own embedding, discrete
            states spread over the chains, random torsions, briefly minimised).

    Returns:
        :class:`ReferenceResult`; ``diagnostics["converged"]`` says whether every torsion and
        every monitored discrete state (``state_*`` entries) passed the convergence rule before
        the caps.
    """
    cfg = config or SamplerConfig()
    t0 = time.perf_counter()
    c0 = time.process_time()
    ts = torsions if torsions is not None else rotatable_torsions(mol)
    system = System(mol, ts, cfg)
    sym = torsion_symmetry(mol, ts.atoms, inverting=system.inverting)
    seed_pos = mol.GetConformer().GetPositions()
    rngs = [np.random.default_rng([cfg.seed, c]) for c in range(cfg.n_chains)]
    labels = system.state_labels()
    search = _basin_search(system, seed_pos, ts, cfg) if cfg.basin_search > 0 else None
    if search is not None:
        system.use_basins(search)
    if starts is None:
        targets = _state_targets(system, cfg.n_chains, np.random.default_rng([cfg.seed, cfg.n_chains]))
        starts = [_overdispersed_start(system, seed_pos, ts, r, t, cfg.own_embeddings) for r, t in zip(rngs, targets)]
        if search is not None:  # the first chains start in the lowest basins found
            for c, p in enumerate(search.positions[:cfg.basin_starts]):
                starts[c] = p
    elif np.shape(starts) != (cfg.n_chains, mol.GetNumAtoms(), 3):
        raise ValueError(f"sample_reference: starts must be [{cfg.n_chains}, {mol.GetNumAtoms()}, 3], got {np.shape(starts)}")
    ladders = [Ladder(system, np.asarray(s, dtype=np.float64), r) for s, r in zip(starts, rngs)]
    for lad in ladders:
        for s in range(cfg.warmup_sweeps):
            lad.sweep(adapt=True)
            if cfg.adapt_ladder and s % 10 == 9 and s < 0.8 * cfg.warmup_sweeps:
                lad.adapt_ladder()
    system.end_warmup()
    n_atoms, n_t = mol.GetNumAtoms(), len(ts)
    # per chain, one block per round: angles [round_sweeps, T], energies, positions (float32)
    draws = [[] for _ in ladders]
    energies = [[] for _ in ladders]
    positions = [[] for _ in ladders]
    mirrored = [[] for _ in ladders]
    states = [[] for _ in ladders]
    sweeps, checks, next_check = 0, 0, 0.0
    agreement = None
    gave_up: list[str] = []
    while True:
        for c, lad in enumerate(ladders):
            block, e_block, m_block = [], [], []
            for _ in range(cfg.round_sweeps):
                lad.sweep(adapt=False)
                block.append(lad.rungs[0].pos)
                e_block.append(lad.rungs[0].e)
                m_block.append(lad.rungs[0].mirrored)
            block = np.stack(block)
            draws[c].append(dihedral_angles(block, ts.atoms) if n_t else np.zeros((len(block), 0)))
            energies[c].append(np.asarray(e_block))
            positions[c].append(block.astype(np.float32))
            mirrored[c].append(np.asarray(m_block, dtype=bool))
            states[c].append(system.states(block))
        sweeps += cfg.round_sweeps
        cpu = time.process_time() - c0
        out_of_time = time.perf_counter() - t0 >= cfg.max_seconds or cpu >= cfg.max_cpu_seconds
        at_cap = out_of_time or sweeps >= cfg.max_sweeps
        if not (at_cap or sweeps >= next_check):
            continue
        next_check = max(sweeps + cfg.round_sweeps, sweeps * (1.0 + cfg.check_growth))
        checks += 1
        arr = np.stack([np.concatenate(d) for d in draws])
        conv = torsion_convergence(arr, sym, cfg.targets)
        state_draws = np.stack([np.concatenate(x) for x in states])  # [chains, sweeps, K]
        st = state_convergence(state_draws, cfg.targets, labels)
        done = conv["converged"] and st["states_converged"] and sweeps >= cfg.min_sweeps
        agreement = None  # the figure of this check's ensemble, computed once the rule holds
        if done and cfg.targets.agreement > 0:
            agreement = _self_agreement(arr, sym, conv, st, system, cfg)
            done = agreement >= cfg.targets.agreement
        if not done and cfg.give_up_after > 0 and cpu >= cfg.give_up_after * cfg.max_cpu_seconds:
            stuck = _stuck_states(state_draws, labels)
            if not stuck and math.isfinite(cfg.max_cpu_seconds) and not out_of_time:
                stuck = _projected_shortfall(conv, st, cpu / cfg.max_cpu_seconds, cfg.targets, cfg.projection_margin)
            if stuck:
                gave_up = stuck
                break
        if done or at_cap:
            break
    all_angles = arr.reshape(cfg.n_chains * sweeps, n_t)
    all_e = np.concatenate([np.concatenate(e) for e in energies])
    all_pos = np.concatenate([np.concatenate(p) for p in positions]).reshape(-1, n_atoms, 3)
    keep = _thin(len(all_e), _n_keep(conv, cfg))
    basin = _basin_check(search, all_pos[keep], all_e[keep], system, cfg)
    from geomgen.conformers.reference.basins import gap_within  # here: the --boltzmann path loads the sampler only
    tried = np.sum([lad.swap_tried for lad in ladders], 0)
    accepted = np.sum([lad.swap_accepted for lad in ladders], 0)
    lams, kts = zip(*[lad.laws() for lad in ladders])
    diagnostics = {
        "n_torsions": n_t,
        "n_movable_bonds": len(system.movable),
        "n_chains": cfg.n_chains,
        "n_replicas": cfg.n_replicas,
        "ladder": cfg.ladder,
        "ladder_lambda": np.mean(lams, 0).round(4).tolist(),
        "ladder_temperature": (np.mean(kts, 0) / KB_KCAL_PER_MOL_K).round(1).tolist(),
        "swap_acceptance": (accepted / np.maximum(tried, 1)).round(4).tolist(),
        "sweeps_per_chain": sweeps,
        "convergence_checks": checks,
        **system.move_diagnostics(),
        "mala_step": float(np.mean([math.exp(ld.rungs[0].log_tau) for ld in ladders])),
        "symmetry": sym.tolist(),
        "rhat": conv["rhat"],
        "ess": conv["ess"],
        "w1": conv["w1"],
        "torsion_converged": conv["torsion_converged"],
        "rhat_max": conv["rhat_max"],
        "ess_min": conv["ess_min"],
        "interchain_w1_max": conv["w1_max"],
        "torsions_converged": conv["converged"],
        **st,
        "self_agreement": agreement,
        **basin,
        "converged": bool(conv["converged"] and st["states_converged"] and not gave_up
                          and (cfg.targets.agreement <= 0 or (agreement or 0.0) >= cfg.targets.agreement)
                          and gap_within(basin.get("basin_gap"), cfg.targets.basin_gap)),
        "gave_up_on": gave_up,
        "targets": asdict(cfg.targets),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }
    return ReferenceResult(
        torsions=ts,
        angles=all_angles[keep],
        energies=all_e[keep],
        positions=all_pos[keep],
        chains=arr,
        symmetry=sym,
        diagnostics=diagnostics,
        mirrored=np.concatenate([np.concatenate(m) for m in mirrored])[keep],
        states=np.concatenate([np.concatenate(x) for x in states])[keep],
    )


#: the moves of :func:`refine` by default: those of the reference build (`geomgen.conformers.reference.build`)
REFINE_MOVES = dict(ring_flips_per_sweep=1.0, mirror_moves=True, pair_moves_per_sweep=1.0)


@dataclass
class RefineResult:
    """Output of :func:`refine`.

    Attributes:
        positions: ``[M * R, N, 3]`` the recorded states (float64), chain by chain.
        energies: ``[M * R]`` their MMFF94 energies (kcal/mol).
        chain: ``[M * R]`` the chain of each state.
        diagnostics: sweeps, acceptance rates, the frozen MALA step, seconds and, with two or
            more chains of four or more states, the convergence figures of the rotatable torsions over the recorded
            states (split R-hat, ESS and inter-half W1 per torsion, angles modulo graph symmetry).
    """

    positions: np.ndarray
    energies: np.ndarray
    chain: np.ndarray
    diagnostics: dict = field(default_factory=dict)


def refine(mol, starts, sweeps: int = 20, samples_per_chain: int = 1, config: SamplerConfig | None = None,
           pilot_sweeps: int = 20, seed: int = 0, law=None) -> RefineResult:
    r"""Run a Markov chain from each geometry of ``starts`` whose kernel leaves the MMFF94
    Boltzmann law :math:`\pi` of :func:`sample_reference` invariant, and record its state
    every ``sweeps`` sweeps, ``samples_per_chain`` times.

    Each start gets one target rung (no ladder) and the sweep of :func:`sample_reference`:
    symmetry (and, where ``config`` allows, mirror) moves, rigid torsion moves, torsion-pair
    moves, ring flips and MALA steps. The MALA step size is adapted beforehand on a pilot chain
    started from ``mol``'s own conformer (not from ``starts``) and then frozen, so every chain runs
    one fixed kernel :math:`P` with :math:`\pi P = \pi`.

    *Why this cannot make samples worse.* If a start is a draw from a law :math:`\mu` (e.g. a
    generative model's), its chain's j-th recorded state is a draw from :math:`\mu P^{jK}`, K =
    ``sweeps``. For any divergence that obeys the data-processing inequality, total variation and
    KL included, :math:`D(\mu P^{jK} \,\|\, \pi) = D(\mu P^{jK} \,\|\, \pi P^{jK}) \le D(\mu \,\|\, \pi)`,
    and by convexity the same holds for the law of a state drawn at random from all those
    recorded: refinement never moves the law away from :math:`\pi`, and it converges to
    :math:`\pi` as the chains get longer when :math:`P` is ergodic. States of one chain are
    correlated; the diagnostics say how much (ESS).

    Args:
        mol: RDKit molecule with hydrogens and a conformer (the pilot's start).
        starts: ``[M, N, 3]`` geometries of ``mol`` (Angstrom), one per chain.
        sweeps (int): sweeps between recorded states, 0 or more (default 20).
        samples_per_chain (int): states recorded per chain, at least 1 (default 1).
        config (SamplerConfig, optional): moves and their rates (default :data:`REFINE_MOVES`
            on :class:`SamplerConfig`'s defaults); ladders and NCMC are not used.
        pilot_sweeps (int): sweeps of the pilot chain that adapts the MALA step (default 20).
        seed (int): random seed (default 0).
        law (TorsionProposal, optional): a law of the rotatable torsions (e.g. the network's),
            from which the torsion-law move proposes (``law_moves_per_sweep`` of ``config`` per
            sweep; :mod:`~geomgen.conformers.reference.moves.law_proposal`): the kernel stays
            exact, the law only decides where it proposes. Given before the pilot chain runs.

    Returns:
        :class:`RefineResult`.
    """
    cfg = config or SamplerConfig(**REFINE_MOVES)
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 3 or starts.shape[1:] != (mol.GetNumAtoms(), 3):
        raise ValueError(f"refine: starts must be [M, {mol.GetNumAtoms()}, 3], got {starts.shape}")
    if sweeps < 0 or pilot_sweeps < 0:
        raise ValueError(f"refine: sweeps and pilot_sweeps must be non-negative, got {sweeps} and {pilot_sweeps}")
    if samples_per_chain < 1:
        raise ValueError(f"refine: samples_per_chain must be at least 1, got {samples_per_chain}")
    t0 = time.perf_counter()
    ts = rotatable_torsions(mol)
    system = System(mol, ts, cfg)
    if law is not None:
        system.use_law(law)
    pilot = Rung(system, mol.GetConformer().GetPositions(), 1.0, system.kt0, np.random.default_rng([seed, 1]))
    for _ in range(pilot_sweeps if sweeps else 0):
        pilot.sweep(adapt=True)
    system.end_warmup()
    system.reset_stats()
    rng = np.random.default_rng([seed, 0])
    m, r = len(starts), samples_per_chain
    out, energies = np.empty((m * r, *starts.shape[1:])), np.empty(m * r)
    for c, start in enumerate(starts):
        rung = Rung(system, start, 1.0, system.kt0, rng)
        rung.log_tau = pilot.log_tau
        for j in range(r):
            for _ in range(sweeps):
                rung.sweep(adapt=False)
            out[c * r + j], energies[c * r + j] = rung.pos, rung.e
    diagnostics = {
        "sweeps": sweeps,
        "chains": m,
        "samples_per_chain": r,
        "mala_step": math.exp(pilot.log_tau),
        **system.move_diagnostics(),
    }
    if m >= 2 and r >= 4 and len(ts):  # split R-hat needs two draws per half-chain
        conv = torsion_convergence(dihedral_angles(out, ts.atoms).reshape(m, r, len(ts)),
                                   torsion_symmetry(mol, ts.atoms, inverting=system.inverting), cfg.targets)
        diagnostics.update({k: conv[k] for k in ("rhat", "ess", "w1", "rhat_max", "ess_min", "converged")})
        diagnostics["interchain_w1_max"] = conv["w1_max"]
    diagnostics["seconds"] = time.perf_counter() - t0
    return RefineResult(positions=out, energies=energies, chain=np.repeat(np.arange(m), r), diagnostics=diagnostics)
