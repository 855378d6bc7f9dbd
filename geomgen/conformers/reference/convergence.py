r"""Convergence of a reference ensemble: the one rule used by the sampler, the build, the loader
and the evaluation.

A torsion is **converged** when, with its angles taken modulo its graph symmetry,

* its split :math:`\hat R` (on :math:`\cos s\theta` and :math:`\sin s\theta`, the worse of the two) is below
  ``rhat`` (default 1.05),
* its multi-chain effective sample size is at least ``ess`` (default 100), and
* the circular Wasserstein-1 distance between the pooled draws of the first half of the chains
  and those of the second half is at most ``w1`` (default 0.1 rad),

where :math:`s` is the torsion's symmetry order (:func:`torsion_symmetry`). A molecule is
converged when all its torsions are (a molecule without torsions is converged).

Symmetry: when the atoms on one end of a bond other than its partner all have the same
canonical rank (a phenyl ring's two ortho carbons; the two methyls of an NMe2 group), the
dihedral's atom on that end is an arbitrary pick among equivalent atoms, so the dihedral is
defined only modulo :math:`2\pi / n` (n = their number). With orders :math:`n_j, n_k` on the two
ends the period is :math:`2\pi / \mathrm{lcm}(n_j, n_k)`. Comparing such angles raw would count
ring flips as disagreement; taking :math:`s\theta` maps the quotient circle onto a full circle,
and W1 there is divided by s so it stays in radians of the torsion itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geomgen.conformers.reference.diagnostics import effective_size, split_rhat


@dataclass(frozen=True)
class ConvergenceTargets:
    """Thresholds of the convergence rule (see the module docstring).

    Args:
        rhat (float): split R-hat must be below this (default 1.05).
        ess (float): effective sample size must reach this (default 100).
        w1 (float): inter-half circular W1 must be at most this, in radians (default 0.1).
    """

    rhat: float = 1.05
    ess: float = 100.0
    w1: float = 0.1


def _end_order(mol, center: int, partner: int, ranks) -> int:
    others = [a.GetIdx() for a in mol.GetAtomWithIdx(center).GetNeighbors() if a.GetIdx() != partner]
    if len(others) >= 2 and len({ranks[a] for a in others}) == 1:
        return len(others)
    return 1


def torsion_symmetry(mol, torsion_atoms) -> np.ndarray:
    """Symmetry order s of each torsion: its dihedral is defined modulo :math:`2\\pi / s`.

    Args:
        mol: RDKit molecule with explicit hydrogens.
        torsion_atoms: ``[T, 4]`` dihedral quadruples.

    Returns:
        ``[T]`` int array (1 for a torsion without graph symmetry, 2 for a phenyl flip, ...).
    """
    from rdkit import Chem

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    out = []
    for _i, j, k, _l in np.asarray(torsion_atoms, dtype=np.int64).reshape(-1, 4):
        nj, nk = _end_order(mol, int(j), int(k), ranks), _end_order(mol, int(k), int(j), ranks)
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
        r = np.nanmax([split_rhat(c), split_rhat(sn)])
        rhat[q] = r if np.isfinite(r) else np.inf
        ess[q] = min(effective_size(c), effective_size(sn))
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
