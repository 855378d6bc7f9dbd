"""MCMC convergence diagnostics for torsion chains: split R-hat and effective sample size.

Torsions are circular, so both diagnostics are computed on (cos t, sin t) and the worst of
the two is reported.

* :func:`split_rhat`, :func:`effective_size` -- the classic split-chain forms (Gelman et al. 2013).
* :func:`rank_rhat`, :func:`bulk_ess` -- the rank-normalised forms of Vehtari, Gelman, Simpson,
  Carpenter & Buerkner (Bayesian Analysis 2021): the draws of all chains are replaced by the
  normal scores of their pooled ranks, so the diagnostics do not depend on the quantity's scale
  or tails and work on discrete indicators (ties take their average rank); R-hat is the larger of
  the bulk (rank-normalised) and folded (rank-normalised distance to the median) values. Tested
  against ArviZ on the same inputs.
"""

from __future__ import annotations

import numpy as np


def _split(x: np.ndarray) -> np.ndarray:
    """[M, S] chains -> [2M, S//2] half-chains."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, half : 2 * half]], axis=0)


def split_rhat(x: np.ndarray) -> float:
    r"""Split :math:`\hat R` (Gelman et al. 2013) of a scalar quantity.

    Shapes: x ``[M chains, S draws]`` -> float (1 when the chains agree; NaN for constant chains).
    """
    x = _split(np.asarray(x, dtype=np.float64))
    m, n = x.shape
    if n < 2:
        return float("nan")
    means = x.mean(1)
    w = x.var(1, ddof=1).mean()
    b = n * means.var(ddof=1)
    if w <= 1e-300 or w <= 1e-12 * b:  # constant chains (up to rounding)
        return 1.0 if b <= 1e-300 else float("inf")
    var = (n - 1) / n * w + b / n
    return float(np.sqrt(var / w))


def effective_size(x: np.ndarray) -> float:
    """Multi-chain effective sample size (Geyer's initial positive sequence on split chains).

    Shapes: x ``[M chains, S draws]`` -> float.
    """
    x = _split(np.asarray(x, dtype=np.float64))
    m, n = x.shape
    if n < 4:
        return float(m * n)
    xc = x - x.mean(1, keepdims=True)
    f = np.fft.rfft(xc, n=2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n
    w = (acov[:, 0] * n / (n - 1)).mean()
    var = (n - 1) / n * w + (x.mean(1).var(ddof=1) if m > 1 else 0.0)
    if var <= 1e-300:
        return float(m * n)
    rho = 1 - (w - acov.mean(0)) / var
    rho[0] = 1.0
    # Geyer: sum pairs while positive, enforce monotone
    tau = -1.0
    prev = np.inf
    for t in range(0, n - 1, 2):
        pair = rho[t] + rho[t + 1]
        if pair < 0:
            break
        pair = min(pair, prev)
        prev = pair
        tau += 2 * pair
    return float(m * n / max(tau, 1e-12))


def rank_normalize(x: np.ndarray) -> np.ndarray:
    r"""Normal scores of the pooled ranks of ``x``: :math:`z = \Phi^{-1}((r - 3/8) / (n + 1/4))`,
    :math:`r` the average rank of a draw among all ``n`` draws of all chains.

    Shapes: x ``[M, S]`` -> ``[M, S]``.
    """
    from scipy.special import ndtri
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64)
    r = rankdata(x, method="average", axis=None).reshape(x.shape)
    return ndtri((r - 0.375) / (x.size + 0.25))


def rank_rhat(x: np.ndarray) -> float:
    r"""Rank-normalised split :math:`\hat R` (Vehtari et al. 2021): the larger of the split R-hat of
    the rank-normalised draws (bulk) and of the rank-normalised absolute deviations from the
    median (folded, which sees chains that differ in spread).

    Shapes: x ``[M chains, S draws]`` -> float (1 when the chains agree, inf when constant chains
    differ; NaN with fewer than 4 draws per chain).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1] < 4:
        return float("nan")
    bulk = split_rhat(rank_normalize(x))
    folded = split_rhat(rank_normalize(np.abs(x - np.median(x))))
    return float(np.nanmax([bulk, folded]))


def bulk_ess(x: np.ndarray) -> float:
    """Bulk effective sample size (Vehtari et al. 2021): :func:`effective_size` of the
    rank-normalised draws.

    Shapes: x ``[M chains, S draws]`` -> float.
    """
    x = np.asarray(x, dtype=np.float64)
    if np.ptp(x) == 0:
        return float(x.size)
    return effective_size(rank_normalize(x))


def torsion_diagnostics(chains: np.ndarray) -> dict:
    """Worst-case split R-hat and ESS over torsions of circular chains.

    Shapes: chains ``[M, S, T]`` angles in radians.

    Returns:
        dict with ``rhat_max`` and ``ess_min`` (over torsions and over cos/sin), and
        per-torsion arrays ``rhat`` and ``ess``.
    """
    chains = np.asarray(chains, dtype=np.float64)
    t_count = chains.shape[2]
    rhat = np.empty(t_count)
    ess = np.empty(t_count)
    for t in range(t_count):
        c, s = np.cos(chains[:, :, t]), np.sin(chains[:, :, t])
        rhat[t] = np.nanmax([split_rhat(c), split_rhat(s)])
        ess[t] = min(effective_size(c), effective_size(s))
    return {
        "rhat": rhat,
        "ess": ess,
        "rhat_max": float(np.nanmax(rhat)) if t_count else 1.0,
        "ess_min": float(ess.min()) if t_count else float(chains.shape[0] * chains.shape[1]),
    }
