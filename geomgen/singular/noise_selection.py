r"""The instance-noise level s: a rate in n, and a data-driven choice by cross-validation.

* :func:`noise_schedule` -- :math:`s(n) = s_0 (n / n_0)^{-1/(2\alpha + d)}`, the bandwidth rate of a
  d-dimensional smoother of an :math:`\alpha`-smooth density.
* :func:`select_noise` -- K-fold cross-validation of s over a small grid, scored by the energy
  distance between the fit's samples and the held-out data (or by the held-out log-likelihood),
  returning the chosen s and the CV table (:class:`NoiseSelection`).

:func:`~geomgen.singular.fit.fit_estimator` uses them for ``perturbed_mle`` with ``noise="schedule"``
and ``noise="auto"`` (the default).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import Tensor

__all__ = ["noise_schedule", "default_noise_grid", "select_noise", "NoiseSelection", "GRID_FACTORS"]

#: the default CV grid, as multiples of :func:`noise_schedule` at the training-fold size
GRID_FACTORS = (0.25, 0.5, 1.0, 2.0)


def noise_schedule(n: int, intrinsic_dim: int, *, scale: float = 0.1, smoothness: float = 2.0,
                   reference_n: int = 1000) -> float:
    r"""Instance-noise level for n points on a d-dimensional structure.

    .. math::
        s(n) = s_0 \Big(\frac{n}{n_0}\Big)^{-1/(2\alpha + d)}

    with :math:`s_0` = ``scale`` at :math:`n_0` = ``reference_n`` (so the defaults give the studies'
    former fixed s = 0.1 at n = 1000), :math:`\alpha` = ``smoothness`` and d = ``intrinsic_dim``.

    What this rests on: :math:`n^{-1/(2\alpha + d)}` is the optimal bandwidth rate of a kernel
    smoother of an :math:`\alpha`-smooth density in d dimensions (the rate that balances the
    smoothing bias :math:`h^\alpha` against the variance :math:`(n h^d)^{-1/2}`). Chae, Kim, Kim &
    Lin ("A likelihood approach to nonparametric estimation of a singular distribution using deep
    generative models", JMLR 24, 2023) prove that the perturbation must shrink with n for their
    W1 rates; we could not confirm from the text at hand which exact rate their theorem takes for
    the perturbation level, so this exponent is a heuristic choice by analogy with the smoother, not
    their theorem. The constant :math:`s_0` is not given by any theory: :func:`select_noise` chooses
    s from the data.

    Args:
        n (int): sample size, >= 1.
        intrinsic_dim (int): d >= 0 (0: an atom; the rate is then :math:`n^{-1/(2\alpha)}`).
        scale (float, optional): :math:`s_0` > 0 (default 0.1).
        smoothness (float, optional): :math:`\alpha` > 0 (default 2.0, the studies' ``evaluation.alpha``).
        reference_n (int, optional): :math:`n_0` (default 1000).

    Returns:
        float
    """
    if n < 1 or intrinsic_dim < 0 or scale <= 0 or smoothness <= 0 or reference_n < 1:
        raise ValueError(f"noise_schedule: needs n >= 1, intrinsic_dim >= 0, scale > 0, smoothness > 0, reference_n >= 1; "
                         f"got n={n}, intrinsic_dim={intrinsic_dim}, scale={scale}, smoothness={smoothness}, "
                         f"reference_n={reference_n}")
    return float(scale * (n / reference_n) ** (-1.0 / (2 * smoothness + intrinsic_dim)))


def default_noise_grid(n: int, intrinsic_dim: int, folds: int, *, scale: float = 0.1, smoothness: float = 2.0) -> list[float]:
    """The default CV grid: :data:`GRID_FACTORS` times :func:`noise_schedule` at the training-fold size
    ``n (K - 1) / K``."""
    n_train = max(1, n - n // max(folds, 1))
    base = noise_schedule(n_train, intrinsic_dim, scale=scale, smoothness=smoothness)
    return [round(f * base, 6) for f in GRID_FACTORS]


@dataclass
class NoiseSelection:
    """The outcome of :func:`select_noise`.

    Attributes:
        noise: the chosen s (the grid value with the lowest mean CV score).
        criterion: ``"energy"`` or ``"loglik"``.
        folds: K.
        table: one row per grid value: ``noise``, ``score`` (mean over folds; lower is better),
            ``score_se`` (standard error over folds), ``fold_scores``, ``sigma`` (mean fitted sigma),
            ``diff_to_best`` and ``diff_se``: the mean paired (same fold) difference to the chosen row and
            its standard error, the resolution of the choice (the fold-to-fold spread of ``score`` is
            mostly the held-out folds' own, common to every s).
        fits: fits run (K times the grid size).
    """

    noise: float
    criterion: str
    folds: int
    table: list[dict] = field(default_factory=list)
    fits: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def format_table(self) -> str:
        """The CV table as aligned text (the chosen row marked ``*``)."""
        what = "energy distance to held-out data" if self.criterion == "energy" else "-log-likelihood of held-out data"
        lines = [f"{self.folds}-fold CV of the instance-noise level s ({what}; lower is better)",
                 f"{'s':>10} {'score':>12} {'se':>10} {'- best':>10} {'paired se':>10} {'sigma':>8}"]
        for r in self.table:
            mark = " *" if r["noise"] == self.noise else ""
            lines.append(f"{r['noise']:>10.4g} {r['score']:>12.5f} {r['score_se']:>10.5f} {r.get('diff_to_best', math.nan):>10.5f} "
                         f"{r.get('diff_se', math.nan):>10.5f} {r['sigma']:>8.4f}{mark}")
        return "\n".join(lines)


def select_noise(x: Tensor, *, intrinsic_dim: int, grid: list[float] | None = None, folds: int = 3,
                 criterion: Literal["energy", "loglik"] = "energy", seed: int = 0, eval_points: int = 2000,
                 scale: float = 0.1, smoothness: float = 2.0, fast_dev_run: bool = False,
                 **options) -> NoiseSelection:
    r"""Choose the instance-noise level s of ``perturbed_mle`` by K-fold cross-validation.

    For each fold k and each s of the grid, fit :func:`~geomgen.singular.fit.fit_estimator`
    ``("perturbed_mle", noise=s)`` on the other folds and score it on fold k:

    * ``criterion="energy"`` (default): the energy distance
      (:func:`~geomgen.metrics.energy_distance`, an unbiased U-statistic) between ``eval_points``
      samples of the fitted law :math:`g_\#P_Z` and the clean held-out points. Its expectation is
      the squared energy distance of the estimate to the truth, a metric on laws: the criterion
      targets the estimation error itself.
    * ``criterion="loglik"``: minus the mean log-density of the clean held-out points under the
      fitted model :math:`g_\#P_Z * N(0, \sigma^2 I)`, a bandwidth choice like the leave-one-out
      KDE. (The log-likelihood of *perturbed* held-out data is not used: its target, the law
      convolved with :math:`N(0, s^2 I)`, changes with s, so the values are not comparable across s.)

    Within a fold every s uses the same split, network seed and sampling seed (common random
    numbers), so differences between grid values are not drowned by seed noise. The chosen s
    minimises the mean score over folds.

    Cost: K times the grid size fits on :math:`n (K-1)/K` points each -- with the defaults
    (K = 3, 4 grid values) 12 fits, about 8 times one fit on all n points; a caller that refits
    on all the data at the chosen s (as ``fit_estimator(noise="auto")`` does) adds one more.

    Args:
        x (Tensor): clean data ``[n, D]``.
        intrinsic_dim (int): d.
        grid (list of float, optional): candidate s > 0 (default :func:`default_noise_grid`:
            0.25, 0.5, 1 and 2 times :func:`noise_schedule` at the training-fold size).
        folds (int, optional): K >= 2 (default 3).
        criterion (str, optional): ``"energy"`` or ``"loglik"`` (default ``"energy"``).
        seed (int, optional): seeds the split, the fits and the samples (default 0).
        eval_points (int, optional): samples of each fit for the energy score (default 2000).
        scale, smoothness (float, optional): :func:`noise_schedule`'s :math:`s_0` and :math:`\alpha`
            for the default grid (defaults 0.1, 2.0).
        fast_dev_run (bool, optional): one training step per fit (smoke tests; default False).
        **options: :class:`~geomgen.singular.fit.PerturbedMLEOptions` fields of every fit.

    Returns:
        NoiseSelection
    """
    from geomgen.metrics import energy_distance
    from geomgen.singular.fit import fit_estimator

    n = len(x)
    if folds < 2 or n < 2 * folds:
        raise ValueError(f"select_noise: needs folds >= 2 and at least 2 points per fold, got folds={folds}, n={n}")
    if criterion not in ("energy", "loglik"):
        raise ValueError(f"select_noise: criterion must be 'energy' or 'loglik', got {criterion!r}")
    grid = sorted(float(s) for s in (grid or default_noise_grid(n, intrinsic_dim, folds, scale=scale, smoothness=smoothness)))
    if not grid or any(not (s > 0 and math.isfinite(s)) for s in grid):
        raise ValueError(f"select_noise: grid values must be finite and > 0, got {grid}")
    options = {k: v for k, v in options.items() if k not in _SELECTION_OPTIONS}
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    fold_of = torch.empty(n, dtype=torch.long)
    fold_of[perm] = torch.arange(n) % folds
    scores = [[0.0] * folds for _ in grid]
    sigmas = [[0.0] * folds for _ in grid]
    for k in range(folds):
        train, held = x[fold_of != k], x[fold_of == k].to(torch.float64)
        fold_seed = seed * 1009 + k + 1
        for j, s in enumerate(grid):
            fitted = fit_estimator("perturbed_mle", train, intrinsic_dim=intrinsic_dim, noise=s, seed=fold_seed,
                                   fast_dev_run=fast_dev_run, **options)
            gen = torch.Generator().manual_seed(fold_seed)
            if criterion == "energy":
                score = energy_distance(fitted.sample(int(eval_points), gen), held).value
            else:
                score = -fitted.held_out_log_likelihood(held, gen)
            scores[j][k] = score if math.isfinite(score) else math.inf
            sigmas[j][k] = fitted.sigma
    table = []
    for j, s in enumerate(grid):
        v = torch.tensor(scores[j], dtype=torch.float64)
        finite = bool(torch.isfinite(v).all())
        se = float(v.std() / math.sqrt(folds)) if finite else math.nan
        table.append({"noise": s, "score": float(v.mean()) if finite else math.inf, "score_se": se,
                      "fold_scores": scores[j], "sigma": sum(sigmas[j]) / folds})
    best = min(table, key=lambda r: r["score"])
    for r in table:  # paired over folds: the held-out fold's own spread cancels
        diff = torch.tensor(r["fold_scores"], dtype=torch.float64) - torch.tensor(best["fold_scores"], dtype=torch.float64)
        r["diff_to_best"] = float(diff.mean()) if bool(torch.isfinite(diff).all()) else math.inf
        r["diff_se"] = float(diff.std() / math.sqrt(folds)) if bool(torch.isfinite(diff).all()) else math.nan
    return NoiseSelection(best["noise"], criterion, folds, table, folds * len(grid))


#: options of :class:`~geomgen.singular.fit.PerturbedMLEOptions` that configure the choice of s, not a fit
_SELECTION_OPTIONS = ("noise_scale", "smoothness", "noise_grid", "cv_folds", "cv_criterion")
