"""Boltzmann statistics: importance weights and effective sample size."""

from __future__ import annotations

import math

import numpy as np

#: Boltzmann constant in kcal / (mol K); kT = 0.5962 kcal/mol at 300 K.
KB_KCAL_PER_MOL_K = 0.0019872041


def boltzmann_weights(energies, temperature: float = 300.0, log_proposal=None) -> np.ndarray:
    r"""Normalised Boltzmann (importance) weights.

    .. math::
        w_i \propto \exp(-E_i / k_B T) / q_i

    Args:
        energies: energies in kcal/mol, ``[n]``.
        temperature (float, optional): temperature in K (default 300).
        log_proposal: optional ``log q_i`` of the proposal that drew sample i, ``[n]``; with
            it the weights are self-normalised importance weights for the Boltzmann law.

    Returns:
        numpy array ``[n]`` summing to 1 (computed stably by subtracting the maximum log-weight).

    Raises:
        ValueError: energies not a non-empty 1-D array; a temperature that is not a positive finite
            number; NaN or inf among the energies or ``log_proposal`` (the message names the argument).
    """
    e = np.asarray(energies.detach().cpu() if hasattr(energies, "detach") else energies, dtype=np.float64)
    if e.ndim != 1 or len(e) == 0:
        raise ValueError(f"boltzmann_weights: energies must be a non-empty 1-D array, got shape {e.shape}")
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"boltzmann_weights: temperature must be a positive finite number, got {temperature!r}") from None
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"boltzmann_weights: temperature must be a positive finite number, got {temperature!r}")
    _check_finite(e, "energies")
    logw = -e / (KB_KCAL_PER_MOL_K * t)
    if log_proposal is not None:
        lq = np.asarray(log_proposal.detach().cpu() if hasattr(log_proposal, "detach") else log_proposal,
                        dtype=np.float64)
        if lq.shape != e.shape:
            raise ValueError(f"boltzmann_weights: log_proposal shape {lq.shape} != energies shape {e.shape}")
        _check_finite(lq, "log_proposal")
        logw = logw - lq
    logw -= logw.max()
    w = np.exp(logw)
    return w / w.sum()


def _check_finite(x: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(x))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(f"boltzmann_weights: {name} must be finite; {len(bad)} of {len(x)} are NaN or inf "
                         f"(indices {shown})")


def effective_sample_size(weights) -> float:
    r"""Kish effective sample size :math:`(\sum_i w_i)^2 / \sum_i w_i^2` of importance weights."""
    w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
        raise ValueError("effective_sample_size: weights must be a non-empty 1-D non-negative array with positive sum")
    return float(w.sum() ** 2 / (w * w).sum())
