"""Reference sampler: MMFF94 Boltzmann ensembles with every internal coordinate flexible.

Markov chain Monte Carlo in Cartesian coordinates, exact for the target

.. math::
    \\pi(x) \\propto \\exp(-E_{\\mathrm{MMFF94}}(x) / k_B T),\\qquad k_B T = 0.5962\\ \\mathrm{kcal/mol}\\ (300\\,\\mathrm{K})

with two kinds of moves, each leaving :math:`\\pi` invariant:

* **torsion moves** -- pick a movable bond (:func:`geomgen.conformers.torsions.movable_bonds`: the
  rotatable torsions plus hydrogen rotors, symmetric tops and amide/ester bonds) and rigidly
  rotate its moving side about the bond by :math:`\\delta`, uniform on :math:`[-\\pi, \\pi)` or
  Gaussian with a small scale. The map is an isometry of configuration space and
  :math:`\\delta` has a symmetric law, so the Metropolis ratio is :math:`\\exp(-\\Delta E / k_B T)`.
* **symmetry moves** -- relabel the atoms by a graph automorphism (ring flips of symmetric
  aryls, methyl hydrogen permutations); the energy is unchanged, so they are always accepted,
  and they are drawn uniformly from a set closed under inverses (a symmetric proposal).
* **MALA steps** -- Metropolis-adjusted Langevin moves of all atoms, which relax bond lengths,
  angles, ring puckers and the torsions themselves; the step size is adapted during warm-up
  only (then frozen, so the chain is exactly invariant).

Several chains start from over-dispersed points (random torsions, briefly minimised) on the
seed geometry and run in rounds until the split R-hat of every torsion is below a target and
the effective sample size reaches a target, or a cap is hit; the diagnostics are returned
either way. No adiabatic approximation is made: the only error is Monte Carlo error, which
the diagnostics (and the known-answer tests against relaxed scans) measure.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from geomgen.conformers.mmff import MMFF
from geomgen.conformers.reference.diagnostics import torsion_diagnostics
from geomgen.conformers.torsions import TorsionSet, automorphisms, dihedral_angles, movable_bonds, rotatable_torsions, set_torsions
from geomgen.metrics.boltzmann import KB_KCAL_PER_MOL_K


@dataclass
class SamplerConfig:
    """Settings of :func:`sample_reference`.

    Args:
        temperature (float): K (default 300).
        n_chains (int): independent chains (default 4).
        n_samples (int): pooled samples returned (default 400).
        warmup_sweeps (int): sweeps discarded per chain while the MALA step adapts (default 200).
        round_sweeps (int): sweeps per chain between convergence checks (default 400).
        min_sweeps, max_sweeps (int): bounds on post-warm-up sweeps per chain (400, 6000).
        rhat_target (float): stop when every torsion's split R-hat is below this (1.05).
        ess_target (float): ... and every torsion's ESS is above this (default 200).
        p_uniform (float): fraction of torsion moves drawn uniformly (default 0.5); the
            rest are Gaussian with scale ``small_sigma`` rad (default 0.35).
        torsion_passes (int): torsion moves per torsion per sweep (default 2).
        mala_per_sweep (int): MALA steps per sweep; 0 means one per two movable bonds (at
            least 1), a negative value none (rigid internal geometry, for diagnostics only).
        mala_accept_target (float): warm-up target acceptance of MALA (default 0.6).
        seed (int): random seed (default 0).

    A sweep is one symmetry move, ``torsion_passes`` torsion moves per movable bond (random
    order), then the MALA steps; one draw is recorded per sweep.
    """

    temperature: float = 300.0
    n_chains: int = 4
    n_samples: int = 400
    warmup_sweeps: int = 200
    round_sweeps: int = 400
    min_sweeps: int = 400
    max_sweeps: int = 6000
    rhat_target: float = 1.05
    ess_target: float = 200.0
    p_uniform: float = 0.5
    small_sigma: float = 0.35
    torsion_passes: int = 2
    mala_per_sweep: int = 0
    mala_accept_target: float = 0.6
    seed: int = 0


@dataclass
class ReferenceResult:
    """Output of :func:`sample_reference` for one molecule.

    Attributes:
        torsions: the :class:`TorsionSet` sampled.
        angles: ``[n_samples, T]`` pooled torsion samples (radians).
        energies: ``[n_samples]`` MMFF94 energies (kcal/mol).
        positions: ``[n_samples, N, 3]`` the sampled geometries (float32).
        chains: ``[M, S, T]`` all post-warm-up draws, per chain.
        diagnostics: acceptance rates, split R-hat, ESS, inter-chain W1, moves, seconds.
    """

    torsions: TorsionSet
    angles: np.ndarray
    energies: np.ndarray
    positions: np.ndarray
    chains: np.ndarray
    diagnostics: dict = field(default_factory=dict)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    ax, ay, az = axis
    k = np.array([[0.0, -az, ay], [az, 0.0, -ax], [-ay, ax, 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


class _Chain:
    def __init__(self, mmff: MMFF, pos: np.ndarray, torsions: TorsionSet, kt: float, rng: np.random.Generator, cfg: SamplerConfig, perms=None):
        self.mmff, self.ts, self.kt, self.rng, self.cfg = mmff, torsions, kt, rng, cfg
        self.perms = perms if perms is not None else np.zeros((0, len(pos)), dtype=np.int64)
        self.moving = [np.flatnonzero(m) for m in torsions.moving]
        self.pos = np.array(pos, dtype=np.float64)
        self.energy = mmff.energy(self.pos)
        self.grad = None
        self.log_tau = math.log(2e-4)
        self.n_mala = max(cfg.mala_per_sweep, 0) if cfg.mala_per_sweep else max(1, (len(torsions) + 1) // 2)
        self.stats = {"torsion_tried": 0, "torsion_accepted": 0, "mala_tried": 0, "mala_accepted": 0}

    def torsion_move(self, t: int) -> None:
        j, k = self.ts.atoms[t, 1], self.ts.atoms[t, 2]
        if self.rng.random() < self.cfg.p_uniform:
            delta = self.rng.uniform(-math.pi, math.pi)
        else:
            delta = self.rng.normal(0.0, self.cfg.small_sigma)
        axis = self.pos[k] - self.pos[j]
        rot = _rotation(axis / np.linalg.norm(axis), delta)
        idx = self.moving[t]
        new = self.pos.copy()
        new[idx] = (self.pos[idx] - self.pos[j]) @ rot.T + self.pos[j]
        e_new = self.mmff.energy(new)
        self.stats["torsion_tried"] += 1
        if math.log(self.rng.random() + 1e-300) < -(e_new - self.energy) / self.kt:
            self.pos, self.energy, self.grad = new, e_new, None
            self.stats["torsion_accepted"] += 1

    def mala_step(self, adapt: bool) -> None:
        tau = math.exp(self.log_tau)
        if self.grad is None:
            self.grad = self.mmff.grad(self.pos) / self.kt
        noise = self.rng.standard_normal(self.pos.shape)
        new = self.pos - tau * self.grad + math.sqrt(2 * tau) * noise
        e_new = self.mmff.energy(new)
        if not math.isfinite(e_new):
            accept_prob = 0.0
        else:
            g_new = self.mmff.grad(new) / self.kt
            fwd = -((new - self.pos + tau * self.grad) ** 2).sum() / (4 * tau)
            bwd = -((self.pos - new + tau * g_new) ** 2).sum() / (4 * tau)
            log_a = -(e_new - self.energy) / self.kt + bwd - fwd
            accept_prob = math.exp(min(0.0, log_a))
        self.stats["mala_tried"] += 0 if adapt else 1
        if self.rng.random() < accept_prob:
            self.pos, self.energy, self.grad = new, e_new, g_new
            self.stats["mala_accepted"] += 0 if adapt else 1
        if adapt:
            self.log_tau += 0.1 * (accept_prob - self.cfg.mala_accept_target)
            self.log_tau = min(max(self.log_tau, math.log(1e-7)), math.log(1e-1))

    def symmetry_move(self) -> None:
        if len(self.perms):
            self.pos = self.pos[self.perms[self.rng.integers(len(self.perms))]]
            self.grad = None

    def sweep(self, adapt: bool = False) -> None:
        self.symmetry_move()
        for _ in range(self.cfg.torsion_passes):
            for t in self.rng.permutation(len(self.ts)):
                self.torsion_move(int(t))
        for _ in range(self.n_mala):
            self.mala_step(adapt)


def _overdispersed_start(mmff: MMFF, seed_pos: np.ndarray, ts: TorsionSet, rng: np.random.Generator) -> np.ndarray:
    """Random torsions on the seed (best of 10 draws), then a short minimisation."""
    if len(ts) == 0:
        return mmff.minimize(seed_pos, max_iters=200)[0]
    draws = rng.uniform(-math.pi, math.pi, (10, len(ts)))
    cands = set_torsions(seed_pos, ts, draws)
    best = cands[int(np.argmin(mmff.energies(cands)))]
    return mmff.minimize(best, max_iters=200)[0]


def _interchain_w1(chains: np.ndarray) -> float:
    from geomgen.metrics import circular_wasserstein

    m = chains.shape[0]
    worst = 0.0
    for a in range(m):
        for b in range(a + 1, m):
            worst = max(worst, float(np.max(circular_wasserstein(chains[a], chains[b]))))
    return worst


def sample_reference(mol, config: SamplerConfig | None = None, torsions: TorsionSet | None = None) -> ReferenceResult:
    """Sample the MMFF94 Boltzmann distribution of ``mol`` (flexible geometry) by MCMC.

    Args:
        mol: RDKit molecule with hydrogens and a seed conformer (see
            :func:`geomgen.conformers.molecule.embed_seed`).
        config (SamplerConfig, optional): sampler settings.
        torsions (TorsionSet, optional): torsions to report (default: :func:`rotatable_torsions`).

    Returns:
        :class:`ReferenceResult`.
    """
    cfg = config or SamplerConfig()
    t0 = time.perf_counter()
    ts = torsions if torsions is not None else rotatable_torsions(mol)
    mmff = MMFF(mol)
    kt = KB_KCAL_PER_MOL_K * cfg.temperature
    seed_pos = mol.GetConformer().GetPositions()
    rngs = [np.random.default_rng([cfg.seed, c]) for c in range(cfg.n_chains)]
    moves = movable_bonds(mol)
    perms = automorphisms(mol)
    chains = [_Chain(mmff, _overdispersed_start(mmff, seed_pos, ts, r), moves, kt, r, cfg, perms) for r in rngs]
    for ch in chains:
        for _ in range(cfg.warmup_sweeps):
            ch.sweep(adapt=True)
    draws = [[] for _ in chains]
    energies = [[] for _ in chains]
    positions = [[] for _ in chains]
    sweeps = 0
    diag = {}
    while True:
        for c, ch in enumerate(chains):
            for _ in range(cfg.round_sweeps):
                ch.sweep()
                draws[c].append(dihedral_angles(ch.pos, ts.atoms) if len(ts) else np.zeros(0))
                energies[c].append(ch.energy)
                positions[c].append(ch.pos.astype(np.float32))
        sweeps += cfg.round_sweeps
        arr = np.asarray(draws).reshape(cfg.n_chains, sweeps, len(ts))
        diag = torsion_diagnostics(arr) if cfg.n_chains > 1 and len(ts) else {"rhat_max": 1.0, "ess_min": float(arr.shape[0] * arr.shape[1]), "rhat": np.ones(len(ts)), "ess": np.full(len(ts), float(arr.size))}
        converged = diag["rhat_max"] < cfg.rhat_target and diag["ess_min"] >= cfg.ess_target
        if (converged and sweeps >= cfg.min_sweeps) or sweeps >= cfg.max_sweeps:
            break
    all_angles = arr.reshape(-1, len(ts))
    all_e = np.asarray(energies).reshape(-1)
    all_pos = np.asarray(positions).reshape(-1, mol.GetNumAtoms(), 3)
    keep = np.linspace(0, len(all_e) - 1, min(cfg.n_samples, len(all_e))).round().astype(int)
    st = [ch.stats for ch in chains]
    tried_t = sum(s["torsion_tried"] for s in st)
    tried_m = sum(s["mala_tried"] for s in st)
    diagnostics = {
        "n_torsions": len(ts),
        "n_movable_bonds": len(moves),
        "n_chains": cfg.n_chains,
        "sweeps_per_chain": sweeps,
        "moves": int(tried_t + tried_m + cfg.n_chains * cfg.warmup_sweeps * (cfg.torsion_passes * len(moves) + chains[0].n_mala)),
        "torsion_acceptance": sum(s["torsion_accepted"] for s in st) / max(tried_t, 1),
        "mala_acceptance": sum(s["mala_accepted"] for s in st) / max(tried_m, 1),
        "mala_step": float(np.mean([math.exp(ch.log_tau) for ch in chains])),
        "rhat_max": diag["rhat_max"],
        "ess_min": diag["ess_min"],
        "interchain_w1_max": _interchain_w1(arr) if cfg.n_chains > 1 and len(ts) else 0.0,
        "converged": bool(diag["rhat_max"] < cfg.rhat_target and diag["ess_min"] >= cfg.ess_target),
        "seconds": time.perf_counter() - t0,
    }
    return ReferenceResult(
        torsions=ts,
        angles=all_angles[keep],
        energies=all_e[keep],
        positions=all_pos[keep],
        chains=arr,
        diagnostics=diagnostics,
    )






def config_dict(cfg: SamplerConfig) -> dict:
    return asdict(cfg)
