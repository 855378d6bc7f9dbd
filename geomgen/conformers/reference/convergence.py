r"""Convergence of a reference ensemble: the one rule used by the sampler, the build, the loader
and the evaluation.

A torsion is **converged** when, with its angles taken modulo its graph symmetry,

* its rank-normalised split :math:`\hat R` (Vehtari et al. 2021, on :math:`\cos s\theta` and
  :math:`\sin s\theta`, the worse of the two) is below ``rhat`` (default 1.05),
* its bulk effective sample size is at least ``ess`` (default 100), and
* the circular Wasserstein-1 distance between the pooled draws of the first half of the chains
  and those of the second half is at most ``w1`` (default 0.1 rad),

where :math:`s` is the torsion's symmetry order (:func:`torsion_symmetry`). A **discrete state**
(an amide's E/Z state, a nitrogen's configuration: 0/1 indicators that the sampler's moves
define, :func:`state_convergence`) is converged when its indicator's rank-normalised split
:math:`\hat R` is below ``rhat``, its bulk ESS is at least ``ess`` (or no chain ever leaves the one
state all chains are in), and the populations in the two halves of the chains differ by at most
``state_gap`` (default 0.1). A molecule is converged when all its torsions and states are (a
molecule without either is converged). R-hat tests convergence only when the chains start
over-dispersed (Gelman-Rubin): the sampler starts each chain from its own embedding, with every
state of every site the start of some chain.

Symmetry: when the atoms on one end of a bond other than its partner all have the same
canonical rank (a phenyl ring's two ortho carbons; the two methyls of an NMe2 group), the
dihedral's atom on that end is an arbitrary pick among equivalent atoms, so the dihedral is
defined only modulo :math:`2\pi / n` (n = their number). With orders :math:`n_j, n_k` on the two
ends the period is :math:`2\pi / \mathrm{lcm}(n_j, n_k)`. Comparing such angles raw would count
ring flips as disagreement; taking :math:`s\theta` maps the quotient circle onto a full circle,
and W1 there is divided by s so it stays in radians of the torsion itself. A pyramidal sp3
nitrogen end (NMe2) is symmetric only when its inversion is sampled: its two methyls sit about
120 degrees apart about the bond, not 180, so without inversion that end has order 1
(``inverting`` of :func:`torsion_symmetry`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geomgen.conformers.reference.diagnostics import bulk_ess, rank_rhat


@dataclass(frozen=True)
class ConvergenceTargets:
    """Thresholds of the convergence rule (see the module docstring).

    Args:
        rhat (float): split R-hat must be below this (default 1.05).
        ess (float): effective sample size must reach this (default 100).
        w1 (float): inter-half circular W1 must be at most this, in radians (default 0.1).
        state_gap (float): a discrete state's populations in the two halves of the chains may
            differ by at most this (default 0.1).
        agreement (float): checked by the sampler once the rule holds, not by
            :func:`torsion_convergence`: the probability that an exact sampler's rerun at the
            run's effective sizes agrees with it by the verification rule must reach this
            (:func:`~geomgen.conformers.reference.verification.self_agreement`; default 0: not checked).
        basin_gap (float): checked by the sampler at the end of a run with a basin search: how far
            (kcal/mol) the search's lowest minimum may lie below every basin the run's lowest samples
            relax into (:func:`~geomgen.conformers.reference.basins.basin_gap`; default inf: not checked).
    """

    rhat: float = 1.05
    ess: float = 100.0
    w1: float = 0.1
    state_gap: float = 0.1
    agreement: float = 0.0
    basin_gap: float = math.inf


def _pyramidal_nitrogen(atom) -> bool:
    """An sp3 nitrogen with three neighbours, not aromatic, not conjugated: a pyramid whose
    neighbours are not related by a rotation about one of its bonds unless it inverts."""
    from rdkit import Chem

    return (atom.GetAtomicNum() == 7 and atom.GetDegree() == 3 and not atom.GetIsAromatic()
            and atom.GetHybridization() == Chem.rdchem.HybridizationType.SP3
            and not any(b.GetIsConjugated() for b in atom.GetBonds()))


def _end_order(mol, center: int, partner: int, ranks, inverting) -> int:
    atom = mol.GetAtomWithIdx(center)
    others = [a.GetIdx() for a in atom.GetNeighbors() if a.GetIdx() != partner]
    if len(others) >= 2 and len({ranks[a] for a in others}) == 1:
        if _pyramidal_nitrogen(atom) and center not in inverting:
            return 1
        return len(others)
    return 1


def torsion_symmetry(mol, torsion_atoms, inverting=()) -> np.ndarray:
    """Symmetry order s of each torsion: its dihedral is defined modulo :math:`2\\pi / s`.

    Args:
        mol: RDKit molecule with explicit hydrogens.
        torsion_atoms: ``[T, 4]`` dihedral quadruples.
        inverting: the nitrogens whose inversion is sampled; any other pyramidal nitrogen end
            has order 1 (default: none).

    Returns:
        ``[T]`` int array (1 for a torsion without graph symmetry, 2 for a phenyl flip, ...).
    """
    from rdkit import Chem

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    inverting = {int(n) for n in inverting}
    out = []
    for _i, j, k, _l in np.asarray(torsion_atoms, dtype=np.int64).reshape(-1, 4):
        nj, nk = _end_order(mol, int(j), int(k), ranks, inverting), _end_order(mol, int(k), int(j), ranks, inverting)
        out.append(nj * nk // math.gcd(nj, nk))
    return np.asarray(out, dtype=np.int64)


def torsion_w1(u, v, symmetry=None) -> np.ndarray:
    """Circular W1 between torsion samples, each torsion compared modulo its symmetry.

    Angles are multiplied by the order s (the quotient circle mapped onto a full circle) and the
    distance divided by s, so it stays in radians of the torsion itself.

    Shapes: u ``[n, T]``, v ``[m, T]``, symmetry ``[T]`` (default all 1) -> ``[T]``.
    """
    from geomgen.metrics.optimal_transport import circular_wasserstein

    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if u.ndim != 2 or v.ndim != 2 or u.shape[1] != v.shape[1]:
        raise ValueError(f"torsion_w1: expected [n, T] and [m, T] angles, got {u.shape} and {v.shape}")
    sym = np.ones(u.shape[1]) if symmetry is None else np.asarray(symmetry, dtype=np.float64)
    if sym.shape != (u.shape[1],):
        raise ValueError(f"torsion_w1: symmetry has shape {sym.shape}, angles have {u.shape[1]} torsions")
    if u.shape[1] == 0:
        return np.zeros(0)
    return np.asarray(circular_wasserstein(u * sym, v * sym)) / sym


def torsion_convergence(chains: np.ndarray, symmetry=None, targets: ConvergenceTargets | None = None) -> dict:
    """Apply the convergence rule to multi-chain torsion draws.

    Args:
        chains: ``[M, S, T]`` angles (radians) of M >= 2 chains, S draws each.
        symmetry: ``[T]`` symmetry orders (default all 1).
        targets (ConvergenceTargets, optional): thresholds.

    Returns:
        dict with per-torsion lists ``rhat``, ``ess``, ``w1``, ``torsion_converged`` and the
        molecule's ``rhat_max``, ``ess_min``, ``w1_max`` and ``converged``.
    """
    targets = targets or ConvergenceTargets()
    chains = np.asarray(chains, dtype=np.float64)
    m, s, t = chains.shape
    if m < 2:
        raise ValueError(f"torsion_convergence: need at least 2 chains, got {m}")
    sym = np.ones(t, dtype=np.int64) if symmetry is None else np.asarray(symmetry, dtype=np.int64)
    if sym.shape != (t,):
        raise ValueError(f"torsion_convergence: symmetry has shape {sym.shape}, chains have {t} torsions")
    rhat, ess, w1 = np.ones(t), np.full(t, float(m * s)), np.zeros(t)
    half = m // 2
    for q in range(t):
        x = chains[:, :, q] * sym[q]
        c, sn = np.cos(x), np.sin(x)
        r = np.nanmax([rank_rhat(c), rank_rhat(sn)])
        rhat[q] = r if np.isfinite(r) else np.inf
        ess[q] = min(bulk_ess(c), bulk_ess(sn))
        w1[q] = torsion_w1(chains[:half, :, q].reshape(-1, 1), chains[half:, :, q].reshape(-1, 1), sym[q : q + 1])[0]
    ok = (rhat < targets.rhat) & (ess >= targets.ess) & (w1 <= targets.w1)
    return {
        "rhat": rhat.tolist(),
        "ess": ess.tolist(),
        "w1": w1.tolist(),
        "torsion_converged": ok.tolist(),
        "rhat_max": float(rhat.max()) if t else 1.0,
        "ess_min": float(ess.min()) if t else float(m * s),
        "w1_max": float(w1.max()) if t else 0.0,
        "converged": bool(ok.all()),
    }


def state_convergence(states: np.ndarray, targets: ConvergenceTargets | None = None, names=None) -> dict:
    """Apply the convergence rule to multi-chain discrete-state indicators.

    Args:
        states: ``[M, S, K]`` 0/1 indicators of K sites, M >= 2 chains, S draws each.
        targets (ConvergenceTargets, optional): thresholds (``rhat``, ``ess``, ``state_gap``).
        names (list of str, optional): the sites' names (default ``state-<k>``).

    Returns:
        dict with per-site lists ``state_names``, ``state_population`` (pooled share of draws
        with indicator 1), ``state_rhat``, ``state_ess``, ``state_gap`` (inter-half population
        difference), ``state_converged``, and ``state_rhat_max``, ``state_ess_min``,
        ``state_gap_max``, ``states_converged``.
    """
    targets = targets or ConvergenceTargets()
    x = np.asarray(states, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"state_convergence: expected [M, S, K] indicators, got shape {x.shape}")
    m, s, k = x.shape
    if m < 2:
        raise ValueError(f"state_convergence: need at least 2 chains, got {m}")
    names = list(names) if names is not None else [f"state-{i}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"state_convergence: {len(names)} names for {k} sites")
    rhat, ess, gap = np.ones(k), np.full(k, float(m * s)), np.zeros(k)
    half = m // 2
    for q in range(k):
        v = x[:, :, q]
        if np.ptp(v) > 0:
            r = rank_rhat(v)
            rhat[q] = r if np.isfinite(r) else np.inf
            ess[q] = bulk_ess(v)
        gap[q] = abs(v[:half].mean() - v[half:].mean())
    ok = (rhat < targets.rhat) & (ess >= targets.ess) & (gap <= targets.state_gap)
    return {
        "state_names": names,
        "state_population": x.mean((0, 1)).tolist() if k else [],
        "state_rhat": rhat.tolist(),
        "state_ess": ess.tolist(),
        "state_gap": gap.tolist(),
        "state_converged": ok.tolist(),
        "state_rhat_max": float(rhat.max()) if k else 1.0,
        "state_ess_min": float(ess.min()) if k else float(m * s),
        "state_gap_max": float(gap.max()) if k else 0.0,
        "states_converged": bool(ok.all()),
    }
