import math

import pytest
import torch

from geomgen.metrics import wasserstein
from geomgen.singular import fit_estimator
from geomgen.singular.manifolds import make_distribution
from geomgen.singular.noise_selection import GRID_FACTORS, default_noise_grid, noise_schedule, select_noise

pytestmark = [pytest.mark.filterwarnings("ignore:.*treespec.*"),
              pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
              pytest.mark.filterwarnings("ignore:.*IterableDataset.*")]

#: small networks and short fits: seconds each on one core
SMALL = dict(hidden=16, layers=2, max_steps=300, num_samples=64, eval_samples=256, batch_size=100, lr=1e-2)


def test_schedule_rate_and_anchor():
    assert noise_schedule(1000, 2) == pytest.approx(0.1)
    for d, alpha in ((1, 2.0), (2, 2.0), (4, 1.0)):
        ratio = noise_schedule(8000, d, smoothness=alpha) / noise_schedule(1000, d, smoothness=alpha)
        assert ratio == pytest.approx(8 ** (-1 / (2 * alpha + d)))
    assert noise_schedule(500, 1, scale=0.3, reference_n=500) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="scale > 0"):
        noise_schedule(100, 1, scale=0.0)


def test_default_grid_is_centred_on_the_schedule_at_the_fold_size():
    grid = default_noise_grid(900, 2, folds=3)
    base = noise_schedule(600, 2)
    assert grid == pytest.approx([f * base for f in GRID_FACTORS], abs=1e-6)


def test_cv_recovers_the_w1_best_noise_level_of_a_grid():
    # the von Mises law on the unit circle in R^2: fit at every s of the grid on all 300 points and
    # measure W1 to 2000 truth points directly; 3-fold CV (energy distance to the held-out fold) must
    # pick the W1-best s or a grid neighbour, and never a clearly worse one
    law = make_distribution("circle", kappa=2.0)
    x = law.sample(300, torch.Generator().manual_seed(0))
    truth = law.sample(2000, torch.Generator().manual_seed(1), dtype=torch.float64)
    grid = [0.01, 0.04, 0.16, 0.64]
    w1 = []
    for s in grid:
        fitted = fit_estimator("perturbed_mle", x, intrinsic_dim=1, noise=s, seed=0, **SMALL)
        w1.append(wasserstein(fitted.sample(2000, torch.Generator().manual_seed(2)), truth))
    best = min(range(len(grid)), key=w1.__getitem__)
    sel = select_noise(x, intrinsic_dim=1, grid=grid, folds=3, seed=0, **SMALL)
    chosen = grid.index(sel.noise)
    assert abs(chosen - best) <= 1, (sel.format_table(), w1)
    assert w1[chosen] <= 1.1 * w1[best], (sel.format_table(), w1)
    assert sel.fits == 12 and [r["noise"] for r in sel.table] == grid
    assert all(math.isfinite(r["score"]) and r["score_se"] >= 0 for r in sel.table)
    assert "*" in sel.format_table()


def test_fit_estimator_auto_is_the_default_and_reports_the_choice():
    x = make_distribution("circle", kappa=2.0).sample(60, torch.Generator().manual_seed(0))
    small = dict(hidden=8, layers=1, num_samples=8, eval_samples=16, batch_size=20)
    fitted = fit_estimator("perturbed_mle", x, intrinsic_dim=1, fast_dev_run=True, cv_folds=2,
                           noise_grid=[0.05, 0.2], **small)
    sel = fitted.info["noise_selection"]
    assert fitted.noise == sel["noise"] and fitted.noise in (0.05, 0.2)
    assert sel["folds"] == 2 and len(sel["table"]) == 2
    sched = fit_estimator("perturbed_mle", x, intrinsic_dim=1, noise="schedule", fast_dev_run=True, **small)
    assert sched.noise == pytest.approx(noise_schedule(60, 1)) and "noise_selection" not in sched.info
    fixed = fit_estimator("perturbed_mle", x, intrinsic_dim=1, noise=0.1, fast_dev_run=True, **small)
    assert fixed.noise == 0.1 and fixed.model.noise == 0.1
    assert fit_estimator("mle", x, intrinsic_dim=1, fast_dev_run=True, **small).noise == 0.0
    with pytest.raises(ValueError, match="auto"):
        fit_estimator("perturbed_mle", x, intrinsic_dim=1, noise="cv", fast_dev_run=True)
    with pytest.raises(ValueError, match="criterion"):
        select_noise(x, intrinsic_dim=1, grid=[0.1], criterion="w1")


def test_loglik_criterion_runs():
    x = make_distribution("circle", kappa=2.0).sample(40, torch.Generator().manual_seed(0))
    sel = select_noise(x, intrinsic_dim=1, grid=[0.05, 0.2], folds=2, criterion="loglik", fast_dev_run=True,
                       hidden=8, layers=1, num_samples=8, eval_samples=16, batch_size=20)
    assert sel.criterion == "loglik" and sel.noise in (0.05, 0.2)
