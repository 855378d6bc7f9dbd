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
rung 0 samples :math:`\pi` exactly:

* **torsion moves** -- rigidly rotate the moving side of a movable bond
  (:func:`~geomgen.conformers.torsions.movable_bonds`) by :math:`\delta`, uniform on
  :math:`[-\pi, \pi)` or Gaussian: an isometry with a symmetric proposal, so the Metropolis
  ratio is :math:`\pi_r(x')/\pi_r(x)`.
* **NCMC torsion moves** (nonequilibrium candidate Monte Carlo; Nilmeier et al., PNAS 2011) --
  rotate a rotatable torsion by a well-to-well jump :math:`\delta = \pm(c + \epsilon)`,
  :math:`c \in \{\pi, 2\pi/3\}`, :math:`\epsilon` Gaussian (a law symmetric under
  :math:`\delta \to -\delta`), in K increments :math:`\Phi` of :math:`\delta/K`, with ``ncmc_relax`` MALA steps
  :math:`\mathcal K` between increments, in the palindromic order
  :math:`\Phi\,\mathcal K\,\Phi \cdots \mathcal K\,\Phi`; accept with probability
  :math:`\min(1, e^{-W})`, :math:`W = \sum_k [u(y_k) - u(x_{k-1})]` with :math:`u = -\log \pi_r`,
  the sum over the increments only. *Invariance:* the reverse path is the same protocol with
  :math:`-\delta` (equally likely); each :math:`\Phi` is a rigid rotation (volume-preserving);
  each :math:`\mathcal K` satisfies :math:`\pi_r(y)\mathcal K(y, x) = \pi_r(x)\mathcal K(x, y)`, so
  the ratio of reverse to forward path densities is :math:`\prod_k \pi_r(y_k)/\pi_r(x_k)`, and
  :math:`\pi_r(x') P_{\mathrm{rev}} / (\pi_r(x) P_{\mathrm{fwd}}) = \prod_k \pi_r(y_k)/\pi_r(x_{k-1}) = e^{-W}`:
  the Metropolis-Hastings rule on paths. The relaxation lets bond angles follow the rotation, so
  a flip of a conjugated aryl-carbonyl does not pay the strain a rigid flip from a relaxed
  geometry carries.
* **torsion-pair moves** (option) -- rotate two rotatable torsions whose bonds share an atom or
  are joined by a bond at once, by :math:`(\delta_1, \delta_2)` drawn independently as for
  torsion moves. Both moving sides are taken away from one anchor atom, so they are nested or
  disjoint and the two rotations commute: the move adds :math:`(\delta_1, \delta_2)` to the two
  dihedrals and leaves every other internal coordinate as it is, an isometry of each side with a
  proposal symmetric under :math:`\delta \to -\delta`, accepted with :math:`\min(1, \pi_r(x')/\pi_r(x))`.
  Neighbouring torsions that are locked together (a crankshaft: changing one alone breaks a
  contact or makes a clash) can only change their joint state this way.
* **symmetry moves** -- relabel the atoms by a graph automorphism (always accepted; the set is
  closed under inverses).
* **mirror moves** (option) -- for a molecule whose mirror image is the same stereoisomer
  (:func:`mirror_symmetric`: no tetrahedral stereocentre, assigned or not), replace x by -x with
  probability 1/2 as part of the symmetry move; the rung keeps the parity of its mirror moves,
  recorded with each sample. MMFF94's energy depends on distances, angles, squared out-of-plane
  angles and even functions of dihedrals, so :math:`E(-x) = E(x)`; the map is an involution with
  unit Jacobian, always accepted. It joins mirror-image basins (every dihedral negated), which
  rigid moves of one or two torsions cannot: chains sitting in the two enantiomeric states of a
  flexible chain were the commonest way an achiral molecule stayed unconverged.
* **ring flips** (option) -- the involution of
  :mod:`~geomgen.conformers.reference.ring_flip` on an isolated saturated ring (chair to chair),
  unit Jacobian, accepted with :math:`\min(1, \pi_r(F x)/\pi_r(x))`.
* **MALA steps** -- Metropolis-adjusted Langevin moves of all atoms (bond lengths, angles, ring
  puckers); the step size adapts during warm-up only, then is frozen.
* **replica swaps** -- after every sweep, neighbouring rungs (even pairs, then odd pairs,
  alternately) exchange configurations with probability
  :math:`\min(1, \pi_r(x_s)\pi_s(x_r) / (\pi_r(x_r)\pi_s(x_s)))`.

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
from geomgen.conformers.reference.convergence import ConvergenceTargets, torsion_convergence, torsion_symmetry
from geomgen.conformers.reference.ring_flip import flip_ring, flippable_rings
from geomgen.conformers.torsions import TorsionSet, automorphisms, dihedral_angles, movable_bonds, rotatable_torsions, set_torsions
from geomgen.metrics.boltzmann import KB_KCAL_PER_MOL_K

LADDERS = ("hamiltonian", "temperature")
#: what a Hamiltonian ladder scales: the rotatable bonds' torsion terms, or those and the
#: intramolecular electrostatics (which hold hydrogen-bonded states in vacuum)
LADDER_TERMS = ("torsion", "torsion+electrostatic")


@dataclass
class SamplerConfig:
    """Settings of :func:`sample_reference`.

    Args:
        temperature (float): K (default 300).
        n_chains (int): independent chains (replica ladders), at least 2 (default 4).
        n_samples (int): pooled samples returned (default 400).
        ladder (str): ``hamiltonian`` (scale the rotatable bonds' torsion terms) or
            ``temperature`` (default ``hamiltonian``).
        n_replicas (int): rungs per ladder; 1 means no replica exchange (default 1: at equal
            wall time a ladder did not pay on MOSES-sized molecules, see evaluation/conformers/sampler_efficiency.md).
        lambda_min (float): torsion-term scale of the top rung of a Hamiltonian ladder (0.0).
        ladder_terms (str): what a Hamiltonian ladder scales, one of :data:`LADDER_TERMS`:
            ``torsion`` (default) or ``torsion+electrostatic`` (also the intramolecular
            electrostatics, :class:`~geomgen.conformers.reference.barrier.ElectrostaticTerm`).
            On six validation molecules the earlier build left unconverged, at 90 CPU s each, a
            4-rung ladder scaling both reached 0.54x the default sampler's ESS per second of the
            slowest torsion (torsions only: 0.47x); it helped on two (ESS 186 vs 76, 59 vs 10)
            and its swap rates fell to 0.02-0.06 on another
            (evaluation/conformers/sampler_efficiency_hbond.md): an option, not the default.
        t_max (float): temperature of the top rung of a temperature ladder, K (default 600).
        adapt_ladder (bool): equalise neighbour swap rates during warm-up (default True).
        ncmc_per_sweep (float): expected NCMC torsion moves per sweep (a Poisson number);
            0 or negative for none (default 0: at equal wall time NCMC did
            not pay on MOSES-sized molecules, see evaluation/conformers/sampler_efficiency.md).
        ncmc_torsions (str): which rotatable torsions get NCMC moves: ``conjugated`` (bonds
            RDKit marks conjugated: aryl-carbonyl, aryl-N, aryl-O, biaryl, where the barriers
            are) or ``all`` (default ``conjugated``).
        ncmc_steps (int): rotation increments K of an NCMC move (default 10).
        ncmc_relax (int): MALA steps between increments (default 1).
        ncmc_jitter (float): scale (rad) of the Gaussian jitter around the NCMC jumps of
            +-pi and +-2 pi / 3 (default 0.25).
        ring_flips_per_sweep (float): expected ring-flip moves per sweep (a Poisson number), each
            on a random ring of :func:`~geomgen.conformers.reference.ring_flip.flippable_rings`;
            0 for none (default 0). Without them a chain keeps the pucker of its start. With
            them, each chain's over-dispersed start also flips each such ring with probability 1/2.
        pair_moves_per_sweep (float): expected torsion-pair moves per sweep (a Poisson number),
            each on a random pair of :func:`torsion_pairs`; 0 for none (default 0).
        mirror_moves (bool): add the mirror move to the symmetry move where
            :func:`mirror_symmetric` allows it (default False).
        warmup_sweeps (int): sweeps discarded per chain while step sizes and ladder adapt (200).
        round_sweeps (int): sweeps per chain between convergence checks (default 200).
        min_sweeps, max_sweeps (int): bounds on recorded sweeps per chain (200, 6000).
        max_seconds (float): wall-time cap per molecule; checked between rounds (default inf).
        max_cpu_seconds (float): cap on the CPU time of this process (single-threaded), so a
            budget means the same work on a busy machine as on an idle one (default inf).
        rhat_target, ess_target, w1_target (float): the convergence rule's thresholds
            (1.05, 100, 0.1 rad), see :class:`~geomgen.conformers.reference.convergence.ConvergenceTargets`.
        p_uniform (float): fraction of rigid torsion moves drawn uniformly (default 0.5).
        p_jump (float): fraction of rigid torsion moves that are well-to-well jumps of
            +-pi or +-2 pi / 3 with Gaussian jitter of ``small_sigma / 2`` (default 0); the
            rest are Gaussian with scale ``small_sigma`` rad (default 0.35).
        torsion_passes (int): rigid torsion moves per movable bond per sweep (default 2).
        mala_per_sweep (int): MALA steps per sweep; 0 means one per two movable bonds (at
            least 1), a negative value none (rigid internal geometry, for diagnostics only).
        mala_accept_target (float): warm-up target acceptance of MALA (default 0.6).
        seed (int): random seed (default 0).

    A sweep of a rung is one symmetry move, ``torsion_passes`` rigid moves per movable bond
    (random order), the NCMC moves, then the MALA steps; swaps follow each sweep.
    """

    temperature: float = 300.0
    n_chains: int = 4
    n_samples: int = 400
    ladder: str = "hamiltonian"
    n_replicas: int = 1
    lambda_min: float = 0.0
    ladder_terms: str = "torsion"
    t_max: float = 600.0
    adapt_ladder: bool = True
    ncmc_per_sweep: float = 0.0
    ncmc_torsions: str = "conjugated"
    ncmc_steps: int = 10
    ncmc_relax: int = 1
    ncmc_jitter: float = 0.25
    ring_flips_per_sweep: float = 0.0
    pair_moves_per_sweep: float = 0.0
    mirror_moves: bool = False
    warmup_sweeps: int = 200
    round_sweeps: int = 200
    min_sweeps: int = 200
    max_sweeps: int = 6000
    max_seconds: float = math.inf
    max_cpu_seconds: float = math.inf
    rhat_target: float = 1.05
    ess_target: float = 100.0
    w1_target: float = 0.1
    p_uniform: float = 0.5
    p_jump: float = 0.0
    small_sigma: float = 0.35
    torsion_passes: int = 2
    mala_per_sweep: int = 0
    mala_accept_target: float = 0.6
    seed: int = 0

    def __post_init__(self):
        if self.n_chains < 2:
            raise ValueError(f"SamplerConfig: n_chains must be at least 2 (convergence compares chains), got {self.n_chains}")
        if self.ladder not in LADDERS:
            raise ValueError(f"SamplerConfig: ladder must be one of {', '.join(LADDERS)}, got {self.ladder!r}")
        if self.ladder_terms not in LADDER_TERMS:
            raise ValueError(f"SamplerConfig: ladder_terms must be one of {', '.join(LADDER_TERMS)}, got {self.ladder_terms!r}")
        if self.ncmc_torsions not in ("conjugated", "all"):
            raise ValueError(f"SamplerConfig: ncmc_torsions must be 'conjugated' or 'all', got {self.ncmc_torsions!r}")
        if self.n_replicas < 1:
            raise ValueError(f"SamplerConfig: n_replicas must be at least 1, got {self.n_replicas}")
        if not 0.0 <= self.lambda_min < 1.0:
            raise ValueError(f"SamplerConfig: lambda_min must be in [0, 1), got {self.lambda_min}")
        if self.t_max <= self.temperature and self.ladder == "temperature" and self.n_replicas > 1:
            raise ValueError(f"SamplerConfig: t_max ({self.t_max}) must exceed temperature ({self.temperature})")
        if self.pair_moves_per_sweep < 0:
            raise ValueError(f"SamplerConfig: pair_moves_per_sweep must be non-negative, got {self.pair_moves_per_sweep}")
        if self.ring_flips_per_sweep < 0:
            raise ValueError(f"SamplerConfig: ring_flips_per_sweep must be non-negative, got {self.ring_flips_per_sweep}")
        for name in ("n_samples", "round_sweeps", "max_sweeps", "ncmc_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"SamplerConfig: {name} must be at least 1, got {getattr(self, name)}")
        if self.min_sweeps > self.max_sweeps:
            raise ValueError(f"SamplerConfig: min_sweeps ({self.min_sweeps}) exceeds max_sweeps ({self.max_sweeps})")

    @property
    def targets(self) -> ConvergenceTargets:
        return ConvergenceTargets(rhat=self.rhat_target, ess=self.ess_target, w1=self.w1_target)


@dataclass
class ReferenceResult:
    """Output of :func:`sample_reference` for one molecule.

    Attributes:
        torsions: the :class:`TorsionSet` sampled.
        angles: ``[n_samples, T]`` pooled torsion samples (radians).
        energies: ``[n_samples]`` MMFF94 energies (kcal/mol).
        positions: ``[n_samples, N, 3]`` the sampled geometries (float32).
        chains: ``[M, S, T]`` all post-warm-up draws, per chain.
        mirrored: ``[n_samples]`` bool, whether a sample is the mirror image of a conformer with
            the start's handedness (an odd number of mirror moves; all False without them).
        symmetry: ``[T]`` symmetry orders of the torsions.
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


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about the unit vector ``axis`` by ``angle`` (Rodrigues), built from
    Python floats: the sampler calls it once per torsion move, where numpy's per-call overhead
    on 3 x 3 arrays cost more than the force field."""
    ax, ay, az = axis.tolist()
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array([[t * ax * ax + c, t * ax * ay - s * az, t * ax * az + s * ay],
                     [t * ax * ay + s * az, t * ay * ay + c, t * ay * az - s * ax],
                     [t * ax * az - s * ay, t * ay * az + s * ax, t * az * az + c]])


def _rotate_side(pos: np.ndarray, j: int, k: int, idx: np.ndarray, delta: float) -> np.ndarray:
    origin = pos[j]
    axis = pos[k] - origin
    rot = _rotation(axis / math.sqrt(axis @ axis), delta)
    new = pos.copy()
    new[idx] = (pos[idx] - origin) @ rot.T + origin
    return new


def mirror_symmetric(mol) -> bool:
    """Whether the mirror image of any conformer of ``mol`` is a conformer of the same
    stereoisomer: no tetrahedral stereocentre, assigned or not (a reflection inverts each;
    double-bond geometry is kept). Ring puckers are mirrored too, so samples record whether they
    are mirror images (:attr:`ReferenceResult.mirrored`) to be rebuilt on the seed."""
    from rdkit import Chem

    return not Chem.FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False)


def torsion_pairs(mol, torsions: TorsionSet) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Pairs of torsions whose central bonds share an atom or are joined by a bond, each with the
    atoms its two rotations move, taken away from a common anchor (atom j of the first
    torsion's bond).

    The side of a bridge away from a fixed atom is a subtree of the bridge tree seen from that
    atom, so the two sides are nested or disjoint and the rotations commute.

    Returns:
        ``(t1, t2, moving1, moving2)`` per pair: indices into ``torsions`` and the indices of the
        atoms each rotation moves (axis atoms excluded).
    """
    from rdkit import Chem

    from geomgen.conformers.torsions import _side

    dist = Chem.GetDistanceMatrix(mol)
    n = mol.GetNumAtoms()

    def away(j: int, k: int, anchor: int) -> np.ndarray:
        side_k = _side(mol, k, j)
        mask = np.zeros(n, dtype=bool)
        mask[_side(mol, j, k) if anchor in side_k else side_k] = True
        mask[[j, k]] = False
        return np.flatnonzero(mask)

    out = []
    for t1 in range(len(torsions)):
        j1, k1 = (int(a) for a in torsions.atoms[t1, 1:3])
        for t2 in range(t1 + 1, len(torsions)):
            j2, k2 = (int(a) for a in torsions.atoms[t2, 1:3])
            if min(dist[a, b] for a in (j1, k1) for b in (j2, k2)) <= 1:
                out.append((t1, t2, away(j1, k1, j1), away(j2, k2, j1)))
    return out


class _System:
    """What every rung of every chain shares: force fields, move sets, settings."""

    def __init__(self, mol, torsions: TorsionSet, cfg: SamplerConfig):
        self.cfg = cfg
        self.mmff = MMFF(mol)
        self.kt0 = KB_KCAL_PER_MOL_K * cfg.temperature
        self.moves = movable_bonds(mol)
        self.moving = [np.flatnonzero(m) for m in self.moves.moving]
        self.ncmc_index = [t for t in range(len(torsions))
                           if cfg.ncmc_torsions == "all" or mol.GetBondWithIdx(int(torsions.bonds[t])).GetIsConjugated()]
        self.ncmc = torsions
        self.ncmc_moving = [np.flatnonzero(m) for m in torsions.moving]
        self.perms = automorphisms(mol)
        self.mirror = cfg.mirror_moves and mirror_symmetric(mol)
        self.rings = flippable_rings(mol) if cfg.ring_flips_per_sweep > 0 else []
        self.pairs = [(torsions.atoms[t1, 1:3], m1, torsions.atoms[t2, 1:3], m2)
                      for t1, t2, m1, m2 in torsion_pairs(mol, torsions)] if cfg.pair_moves_per_sweep > 0 else []
        self.barrier = TorsionBarrier(mol, bonds=[tuple(a[1:3]) for a in torsions.atoms], props=self.mmff.props)
        if cfg.ladder_terms == "torsion+electrostatic":
            self.barrier = SumOfTerms(self.barrier, ElectrostaticTerm(mol, props=self.mmff.props))
        self.n_mala = max(cfg.mala_per_sweep, 0) if cfg.mala_per_sweep else max(1, (len(self.moves) + 1) // 2)
        self.stats = dict.fromkeys(("torsion_tried", "torsion_accepted", "ncmc_tried", "ncmc_accepted", "mala_tried", "mala_accepted",
                                    "flip_tried", "flip_accepted", "pair_tried", "pair_accepted"), 0)

    def acceptance(self, kind: str) -> float:
        """Fraction of the ``kind`` moves (torsion, ncmc, mala, flip, pair) accepted so far (0 if none)."""
        return self.stats[f"{kind}_accepted"] / max(self.stats[f"{kind}_tried"], 1)


class _Rung:
    """One rung's state: its law (lambda, kT) and its current configuration with cached energies."""

    def __init__(self, sys: _System, pos: np.ndarray, lam: float, kt: float, rng: np.random.Generator):
        self.sys, self.rng = sys, rng
        self.lam, self.kt = lam, kt
        self.log_tau = math.log(2e-4)
        self.mirrored = False  # parity of the mirror moves so far
        self.set_state(np.array(pos, dtype=np.float64))

    # -- energies -----------------------------------------------------------------------------
    def terms(self, pos: np.ndarray) -> tuple[float, float]:
        """(E_MMFF, E_bar) of ``pos``; E_bar is only evaluated when this rung scales it."""
        e = self.sys.mmff.energy(pos)
        return e, (self.sys.barrier.energy(pos) if self.lam < 1.0 else math.nan)

    def reduced(self, e: float, bar: float, lam: float | None = None, kt: float | None = None) -> float:
        lam = self.lam if lam is None else lam
        kt = self.kt if kt is None else kt
        return (e if lam >= 1.0 else e - (1.0 - lam) * bar) / kt

    def set_state(self, pos, e=None, bar=None) -> None:
        self.pos = pos
        if e is None:
            e, bar = self.terms(pos)
        self.e, self.bar = e, bar
        self.u = self.reduced(e, bar)
        self.grad = None

    def bar_energy(self) -> float:
        if math.isnan(self.bar):
            self.bar = self.sys.barrier.energy(self.pos)
        return self.bar

    def set_law(self, lam: float, kt: float) -> None:
        """Move this rung to another law (ladder adaptation during warm-up)."""
        self.lam, self.kt = lam, kt
        if lam < 1.0:
            self.bar_energy()
        self.u = self.reduced(self.e, self.bar)
        self.grad = None

    def grad_u(self, pos: np.ndarray) -> np.ndarray:
        g = self.sys.mmff.grad(pos)
        if self.lam < 1.0:
            g = g - (1.0 - self.lam) * self.sys.barrier.energy_grad(pos)[1]
        return g / self.kt

    # -- moves --------------------------------------------------------------------------------
    def _delta(self) -> float:
        """A rotation angle of the rigid torsion moves' law (symmetric under delta -> -delta)."""
        cfg = self.sys.cfg
        x = self.rng.random()
        if x < cfg.p_uniform:
            return self.rng.uniform(-math.pi, math.pi)
        if x < cfg.p_uniform + cfg.p_jump:  # well-to-well jump
            centre = math.pi if self.rng.random() < 0.5 else 2 * math.pi / 3
            return (centre + self.rng.normal(0.0, cfg.small_sigma / 2)) * (1.0 if self.rng.random() < 0.5 else -1.0)
        return self.rng.normal(0.0, cfg.small_sigma)

    def _metropolis(self, new: np.ndarray, kind: str) -> None:
        """Accept ``new`` with probability min(1, pi_r(new) / pi_r(current)): the rule of every
        move whose proposal is symmetric with unit Jacobian; counted as ``kind`` in the stats."""
        e, bar = self.terms(new)
        u = self.reduced(e, bar)
        self.sys.stats[f"{kind}_tried"] += 1
        if math.log(self.rng.random() + 1e-300) < self.u - u:
            self.set_state(new, e, bar)
            self.sys.stats[f"{kind}_accepted"] += 1

    def torsion_move(self, t: int) -> None:
        j, k = self.sys.moves.atoms[t, 1], self.sys.moves.atoms[t, 2]
        self._metropolis(_rotate_side(self.pos, j, k, self.sys.moving[t], self._delta()), "torsion")

    def mala_step(self, adapt: bool, count: bool = True) -> None:
        tau = math.exp(self.log_tau)
        if self.grad is None:
            self.grad = self.grad_u(self.pos)
        noise = self.rng.standard_normal(self.pos.shape)
        new = self.pos - tau * self.grad + math.sqrt(2 * tau) * noise
        e, bar = self.terms(new)
        u = self.reduced(e, bar)
        g_new = None
        if not math.isfinite(u):
            accept_prob = 0.0
        else:
            g_new = self.grad_u(new)
            fwd = -((new - self.pos + tau * self.grad) ** 2).sum() / (4 * tau)
            bwd = -((self.pos - new + tau * g_new) ** 2).sum() / (4 * tau)
            accept_prob = math.exp(min(0.0, self.u - u + bwd - fwd))
        counted = count and not adapt
        self.sys.stats["mala_tried"] += counted
        if self.rng.random() < accept_prob:
            self.set_state(new, e, bar)
            self.grad = g_new
            self.sys.stats["mala_accepted"] += counted
        if adapt:
            self.log_tau += 0.1 * (accept_prob - self.sys.cfg.mala_accept_target)
            self.log_tau = min(max(self.log_tau, math.log(1e-7)), math.log(1e-1))

    def ncmc_move(self, t: int) -> None:
        """Nonequilibrium candidate move of rotatable torsion ``t`` (see the module docstring)."""
        cfg, sys = self.sys.cfg, self.sys
        # a well-to-well jump: +-pi (two-fold rotors, e.g. conjugated) or +-2 pi / 3 (three-fold),
        # with Gaussian jitter; the law of delta is symmetric under delta -> -delta
        centre = math.pi if self.rng.random() < 0.5 else 2 * math.pi / 3
        delta = (centre + self.rng.normal(0.0, cfg.ncmc_jitter)) * (1.0 if self.rng.random() < 0.5 else -1.0)
        j, k = sys.ncmc.atoms[t, 1], sys.ncmc.atoms[t, 2]
        idx = sys.ncmc_moving[t]
        saved = (self.pos, self.e, self.bar, self.u, self.grad)
        work = 0.0
        for step in range(cfg.ncmc_steps):
            new = _rotate_side(self.pos, j, k, idx, delta / cfg.ncmc_steps)
            e, bar = self.terms(new)
            u = self.reduced(e, bar)
            work += u - self.u
            if not math.isfinite(work):
                break
            self.set_state(new, e, bar)
            if step < cfg.ncmc_steps - 1:
                for _ in range(cfg.ncmc_relax):
                    self.mala_step(adapt=False, count=False)
        sys.stats["ncmc_tried"] += 1
        if math.isfinite(work) and math.log(self.rng.random() + 1e-300) < -work:
            sys.stats["ncmc_accepted"] += 1
        else:
            self.pos, self.e, self.bar, self.u, self.grad = saved

    def pair_move(self) -> None:
        """Rotate a random pair of neighbouring torsions at once (see the module docstring)."""
        (j1, k1), m1, (j2, k2), m2 = self.sys.pairs[int(self.rng.integers(len(self.sys.pairs)))]
        d1, d2 = self._delta(), self._delta()
        self._metropolis(_rotate_side(_rotate_side(self.pos, j1, k1, m1, d1), j2, k2, m2, d2), "pair")

    def ring_flip_move(self) -> None:
        """Flip a random flippable ring (see :mod:`~geomgen.conformers.reference.ring_flip`)."""
        ring, branches = self.sys.rings[int(self.rng.integers(len(self.sys.rings)))]
        self._metropolis(flip_ring(self.pos, ring, branches), "flip")

    def symmetry_move(self) -> None:
        perms = self.sys.perms
        if len(perms):
            # energy terms are invariant under automorphisms (E_bar's bond set is too)
            self.pos = self.pos[perms[self.rng.integers(len(perms))]]
            self.grad = None
        if self.sys.mirror and self.rng.random() < 0.5:  # E(-x) = E(x): always accepted
            self.pos = -self.pos
            self.mirrored = not self.mirrored
            self.grad = None

    def sweep(self, adapt: bool) -> None:
        cfg = self.sys.cfg
        self.symmetry_move()
        for _ in range(cfg.torsion_passes):
            for t in self.rng.permutation(len(self.sys.moves)):
                self.torsion_move(int(t))
        if self.sys.rings:
            for _ in range(self.rng.poisson(cfg.ring_flips_per_sweep)):
                self.ring_flip_move()
        if self.sys.pairs:
            for _ in range(self.rng.poisson(cfg.pair_moves_per_sweep)):
                self.pair_move()
        if self.sys.ncmc_index and cfg.ncmc_per_sweep > 0:
            for _ in range(self.rng.poisson(cfg.ncmc_per_sweep)):
                self.ncmc_move(self.sys.ncmc_index[int(self.rng.integers(len(self.sys.ncmc_index)))])
        for _ in range(self.sys.n_mala):
            self.mala_step(adapt)


class _Ladder:
    """One chain: rungs 0 (the target) .. R-1, with swaps and warm-up ladder adaptation."""

    def __init__(self, sys: _System, start: np.ndarray, rng: np.random.Generator):
        cfg = sys.cfg
        self.sys, self.rng = sys, rng
        r = cfg.n_replicas
        # gaps between neighbouring rungs (lambda or log T), adapted during warm-up
        self.gaps = np.full(max(r - 1, 0), 1.0 / max(r - 1, 1))
        lams, kts = self._laws()
        self.rungs = [_Rung(sys, start, lam, kt, rng) for lam, kt in zip(lams, kts)]
        self.swap_tried = np.zeros(max(r - 1, 0))
        self.swap_accepted = np.zeros(max(r - 1, 0))
        self.swap_avg = np.full(max(r - 1, 0), 0.5)
        self.parity = 0

    def _laws(self) -> tuple[list[float], list[float]]:
        cfg, r = self.sys.cfg, self.sys.cfg.n_replicas
        frac = np.concatenate([[0.0], np.cumsum(self.gaps)]) if r > 1 else np.zeros(1)
        frac = frac / frac[-1] if r > 1 else frac
        if cfg.ladder == "hamiltonian":
            lams = list(1.0 - (1.0 - cfg.lambda_min) * frac)
            kts = [self.sys.kt0] * r
        else:
            lams = [1.0] * r
            kts = list(self.sys.kt0 * np.exp(frac * math.log(cfg.t_max / cfg.temperature)))
        return lams, kts

    def _swap_log_ratio(self, a: _Rung, b: _Rung) -> float:
        # pi_a(x_b) pi_b(x_a) / (pi_a(x_a) pi_b(x_b)) with u = -log pi
        if a.lam < 1.0 or b.lam < 1.0:
            a.bar_energy()
            b.bar_energy()
        ua_b = a.reduced(b.e, b.bar)
        ub_a = b.reduced(a.e, a.bar)
        return (a.u + b.u) - (ua_b + ub_a)

    def swaps(self, adapt: bool) -> None:
        for p in range(self.parity, len(self.rungs) - 1, 2):
            a, b = self.rungs[p], self.rungs[p + 1]
            log_r = self._swap_log_ratio(a, b)
            prob = math.exp(min(0.0, log_r)) if math.isfinite(log_r) else 0.0
            if adapt:
                self.swap_avg[p] = 0.9 * self.swap_avg[p] + 0.1 * prob
            else:
                self.swap_tried[p] += 1
            if self.rng.random() < prob:
                if not adapt:
                    self.swap_accepted[p] += 1
                a_state = (a.pos, a.e, a.bar, a.mirrored)
                b_state = (b.pos, b.e, b.bar, b.mirrored)
                a.pos, a.e, a.bar, a.mirrored = b_state
                b.pos, b.e, b.bar, b.mirrored = a_state
                for rung in (a, b):
                    rung.set_law(rung.lam, rung.kt)  # recompute u under its own law, drop cached gradient
        self.parity ^= 1

    def adapt_ladder(self) -> None:
        """Spread the rungs so that neighbouring swap rates equalise (warm-up only)."""
        if len(self.gaps) < 2:
            return
        self.gaps = self.gaps * np.exp(self.swap_avg - self.swap_avg.mean())
        self.gaps /= self.gaps.sum()
        for rung, lam, kt in zip(self.rungs, *self._laws()):
            rung.set_law(lam, kt)

    def sweep(self, adapt: bool) -> None:
        for rung in self.rungs:
            rung.sweep(adapt)
        if len(self.rungs) > 1:
            self.swaps(adapt)


def _overdispersed_start(mmff: MMFF, seed_pos: np.ndarray, ts: TorsionSet, rng: np.random.Generator, rings=()) -> np.ndarray:
    """Random torsions on the seed (best of 10 draws), then a short minimisation. Each ring of
    ``rings`` (those the ring-flip move acts on) is first flipped with probability 1/2, so that
    chains start in different puckers and the convergence rule sees whether they mix."""
    for ring, branches in rings:
        if rng.random() < 0.5:
            seed_pos = flip_ring(seed_pos, ring, branches)
    if len(ts) == 0:
        return mmff.minimize(seed_pos, max_iters=200)[0]
    draws = rng.uniform(-math.pi, math.pi, (10, len(ts)))
    cands = set_torsions(seed_pos, ts, draws)
    best = cands[int(np.argmin(mmff.energies(cands)))]
    return mmff.minimize(best, max_iters=200)[0]


def sample_reference(mol, config: SamplerConfig | None = None, torsions: TorsionSet | None = None, starts=None) -> ReferenceResult:
    """Sample the MMFF94 Boltzmann distribution of ``mol`` (flexible geometry) by MCMC.

    Args:
        mol: RDKit molecule with hydrogens and a seed conformer (see
            :func:`geomgen.conformers.embedding.embed_seed`).
        config (SamplerConfig, optional): sampler settings.
        torsions (TorsionSet, optional): torsions to report and to move by NCMC (default:
            :func:`~geomgen.conformers.torsions.rotatable_torsions`).
        starts (array, optional): ``[n_chains, N, 3]`` initial geometries (default:
            over-dispersed, random torsions on the seed, briefly minimised).

    Returns:
        :class:`ReferenceResult`; ``diagnostics["converged"]`` says whether every torsion
        passed the convergence rule before the caps.
    """
    cfg = config or SamplerConfig()
    t0 = time.perf_counter()
    c0 = time.process_time()
    ts = torsions if torsions is not None else rotatable_torsions(mol)
    sym = torsion_symmetry(mol, ts.atoms)
    system = _System(mol, ts, cfg)
    seed_pos = mol.GetConformer().GetPositions()
    rngs = [np.random.default_rng([cfg.seed, c]) for c in range(cfg.n_chains)]
    if starts is None:
        starts = [_overdispersed_start(system.mmff, seed_pos, ts, r, system.rings) for r in rngs]
    elif np.shape(starts) != (cfg.n_chains, mol.GetNumAtoms(), 3):
        raise ValueError(f"sample_reference: starts must be [{cfg.n_chains}, {mol.GetNumAtoms()}, 3], got {np.shape(starts)}")
    ladders = [_Ladder(system, np.asarray(s, dtype=np.float64), r) for s, r in zip(starts, rngs)]
    for lad in ladders:
        for s in range(cfg.warmup_sweeps):
            lad.sweep(adapt=True)
            if cfg.adapt_ladder and s % 10 == 9 and s < 0.8 * cfg.warmup_sweeps:
                lad.adapt_ladder()
    n_atoms, n_t = mol.GetNumAtoms(), len(ts)
    # per chain, one block per round: angles [round_sweeps, T], energies, positions (float32)
    draws = [[] for _ in ladders]
    energies = [[] for _ in ladders]
    positions = [[] for _ in ladders]
    mirrored = [[] for _ in ladders]
    sweeps = 0
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
        sweeps += cfg.round_sweeps
        arr = np.stack([np.concatenate(d) for d in draws])
        conv = torsion_convergence(arr, sym, cfg.targets)
        done = conv["converged"] and sweeps >= cfg.min_sweeps
        out_of_time = time.perf_counter() - t0 >= cfg.max_seconds or time.process_time() - c0 >= cfg.max_cpu_seconds
        if done or sweeps >= cfg.max_sweeps or out_of_time:
            break
    all_angles = arr.reshape(cfg.n_chains * sweeps, n_t)
    all_e = np.concatenate([np.concatenate(e) for e in energies])
    all_pos = np.concatenate([np.concatenate(p) for p in positions]).reshape(-1, n_atoms, 3)
    keep = np.linspace(0, len(all_e) - 1, min(cfg.n_samples, len(all_e))).round().astype(int)
    tried = np.sum([lad.swap_tried for lad in ladders], 0)
    accepted = np.sum([lad.swap_accepted for lad in ladders], 0)
    lams, kts = zip(*[lad._laws() for lad in ladders])
    diagnostics = {
        "n_torsions": n_t,
        "n_movable_bonds": len(system.moves),
        "n_ncmc_torsions": len(system.ncmc_index),
        "n_chains": cfg.n_chains,
        "n_replicas": cfg.n_replicas,
        "ladder": cfg.ladder,
        "ladder_lambda": np.mean(lams, 0).round(4).tolist(),
        "ladder_temperature": (np.mean(kts, 0) / KB_KCAL_PER_MOL_K).round(1).tolist(),
        "swap_acceptance": (accepted / np.maximum(tried, 1)).round(4).tolist(),
        "sweeps_per_chain": sweeps,
        "torsion_acceptance": system.acceptance("torsion"),
        "ncmc_acceptance": system.acceptance("ncmc"),
        "mala_acceptance": system.acceptance("mala"),
        "n_flippable_rings": len(system.rings),
        "ring_flip_acceptance": system.acceptance("flip"),
        "n_torsion_pairs": len(system.pairs),
        "mirror_moves": bool(system.mirror),
        "pair_acceptance": system.acceptance("pair"),
        "mala_step": float(np.mean([math.exp(ld.rungs[0].log_tau) for ld in ladders])),
        "symmetry": sym.tolist(),
        "rhat": conv["rhat"],
        "ess": conv["ess"],
        "w1": conv["w1"],
        "torsion_converged": conv["torsion_converged"],
        "rhat_max": conv["rhat_max"],
        "ess_min": conv["ess_min"],
        "interchain_w1_max": conv["w1_max"],
        "converged": conv["converged"],
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
           pilot_sweeps: int = 20, seed: int = 0) -> RefineResult:
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
    system = _System(mol, ts, cfg)
    pilot = _Rung(system, mol.GetConformer().GetPositions(), 1.0, system.kt0, np.random.default_rng([seed, 1]))
    for _ in range(pilot_sweeps if sweeps else 0):
        pilot.sweep(adapt=True)
    system.stats = dict.fromkeys(system.stats, 0)
    rng = np.random.default_rng([seed, 0])
    m, r = len(starts), samples_per_chain
    out, energies = np.empty((m * r, *starts.shape[1:])), np.empty(m * r)
    for c, start in enumerate(starts):
        rung = _Rung(system, start, 1.0, system.kt0, rng)
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
        "torsion_acceptance": system.acceptance("torsion"),
        "mala_acceptance": system.acceptance("mala"),
        "pair_acceptance": system.acceptance("pair"),
        "ring_flip_acceptance": system.acceptance("flip"),
        "mirror_moves": bool(system.mirror),
    }
    if m >= 2 and r >= 4 and len(ts):  # split R-hat needs two draws per half-chain
        conv = torsion_convergence(dihedral_angles(out, ts.atoms).reshape(m, r, len(ts)), torsion_symmetry(mol, ts.atoms), cfg.targets)
        diagnostics.update({k: conv[k] for k in ("rhat", "ess", "w1", "rhat_max", "ess_min", "converged")})
        diagnostics["interchain_w1_max"] = conv["w1_max"]
    diagnostics["seconds"] = time.perf_counter() - t0
    return RefineResult(positions=out, energies=energies, chain=np.repeat(np.arange(m), r), diagnostics=diagnostics)
