r"""One cell of a study: draw data, fit one estimator, measure it.

A :class:`Cell` is one (distribution, n, s, estimator, seed) of a study's grid
(:meth:`~geomgen.singular.studies.StudyConfig.cells`); :func:`run_cell` is a top-level function of plain-dict input and output, so any
:class:`concurrent.futures.Executor` (a process pool, a Dask client's executor) can run it.

Measurements (one row):

* ``w1`` -- exact :math:`W_1` (POT, Euclidean cost) between ``num_points`` samples of the
  estimate and ``num_points`` fresh samples of the truth. Even a perfect estimate scores the
  two-sample error of that size; the ``oracle_w1`` column (two independent truth samples of
  the same size) measures that floor. With ``evaluation.w1_repeats`` R > 1 both are means over
  R independent repeats, with ``w1_se`` and ``oracle_w1_se``; ``w1_debiased`` = ``w1`` -
  ``oracle_w1`` (:func:`~geomgen.metrics.debiased_wasserstein`, paired per repeat), ``w1_debiased_se``.
* ``energy``, ``energy_se`` -- with ``evaluation.energy_points`` m > 0, the energy distance
  (:func:`~geomgen.metrics.energy_distance`, an unbiased U-statistic, jackknife standard error;
  with ``evaluation.energy_directions`` K > 0 sliced over K directions,
  :func:`~geomgen.metrics.sliced_energy_distance`, also unbiased) between m samples of the estimate
  and m fresh truth samples; ``oracle_energy``, ``oracle_energy_se``: the same between two truth
  samples (0 in expectation).
* ``noise`` -- the grid's entry (a level, ``"schedule"`` or ``"auto"``); ``noise_used`` the level
  the fit used; ``noise_selection`` the CV table of ``"auto"`` (not in ``runs.csv``).
* ``loglik`` -- mean estimated log-density of ``test_points`` fresh (clean) truth points, in
  nats per point; for the perturbed estimator this is the density of the fitted model
  :math:`g_\#P_Z * N(0, \sigma^2 I)`.
* ``history`` -- (step, training loss, sigma) every ``history_every`` steps, where the
  estimator's options ask for it (not in ``runs.csv``).
* ``seconds`` -- wall time of the cell (data, fit and evaluation); ``fit_seconds`` the fit alone;
  ``cpu_seconds`` the CPU time of the worker process over the cell (on a shared machine the
  wall time grows with the load, the CPU time much less).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
import zlib
from dataclasses import dataclass

__all__ = ["Cell", "run_cell", "cell_seed", "sample_key", "ambient_free_key", "noise_text"]


#: truth-vs-truth floors this process has solved: every estimator, noise level and n of one (law,
#: seed) meets the same truth samples (they are drawn from the sample key and the seed only), so a
#: worker solves each floor once instead of once per cell (half of a cell's W1 solves and energy
#: sums). Values are the same numbers a fresh solve gives; keys name the samples they come from.
_FLOORS: dict = {}

#: evaluation settings added after the first studies, at the values those studies used: left out of a cell's key
_LEGACY = {"paired_ambient": False, "w1_repeats": 1, "energy_points": 0, "energy_directions": 0}


def _floor(key: tuple, solve):
    """``_FLOORS[key]``, solved by ``solve()`` the first time."""
    if key not in _FLOORS:
        _FLOORS[key] = solve()
    return _FLOORS[key]


def noise_text(noise: float | str) -> str:
    """A noise entry as text: ``0.1`` -> ``"0.1"``, ``"auto"`` -> ``"auto"``."""
    return noise if isinstance(noise, str) else f"{noise:g}"


@dataclass(frozen=True)
class Cell:
    """One run of the grid: fit ``estimator`` on n points of ``distribution`` (seed ``seed``)."""

    distribution: str
    distribution_spec: dict
    n: int
    noise: float | str
    estimator: str
    estimator_spec: dict
    seed: int
    evaluation: dict
    threads: int = 1

    @property
    def key(self) -> str:
        """A file-safe unique name; a hash of the specs makes a changed spec a new cell."""
        ev = {k: v for k, v in self.evaluation.items() if _LEGACY.get(k, object()) != v}  # keys of older runs stay
        blob = json.dumps([self.distribution_spec, self.estimator_spec, ev], sort_keys=True)
        h = hashlib.sha1(blob.encode()).hexdigest()[:10]
        return f"{self.distribution}__n{self.n}__s{noise_text(self.noise)}__{self.estimator}__seed{self.seed}__{h}"

    def to_dict(self) -> dict:
        return {"distribution": self.distribution, "distribution_spec": self.distribution_spec, "n": self.n,
                "noise": self.noise, "estimator": self.estimator, "estimator_spec": self.estimator_spec,
                "seed": self.seed, "evaluation": self.evaluation, "threads": self.threads}


def sample_key(distribution: str, spec: dict, evaluation: dict) -> str:
    """The name a cell's random draws are keyed by: the law's label, or, with
    ``evaluation["paired_ambient"]``, its spec without the ambient dimension and isometry, so
    that laws differing only in D share their points on the manifold."""
    return ambient_free_key(spec) if evaluation.get("paired_ambient") else distribution


def ambient_free_key(spec: dict) -> str:
    """A law's spec without its ambient dimension and isometry, as text: equal for laws that
    differ only in how they are embedded."""
    return json.dumps({k: v for k, v in spec.items() if k not in ("ambient_dim", "isometry_seed")}, sort_keys=True)


def cell_seed(*parts) -> int:
    """A stable 31-bit seed from strings and numbers (independent of Python's hash salt)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def run_cell(cell: dict) -> dict:
    """Run one cell (a :meth:`Cell.to_dict`) and return its result row.

    The training data depend only on (distribution, n, seed), so every estimator of a
    (distribution, n, seed) sees the same sample; the truth samples used for W1 and the
    held-out points depend on (distribution, seed). A failure is returned as a row with
    ``status = "error"`` and the traceback's last line, never swallowed.
    """
    import torch

    start, cpu_start = time.perf_counter(), time.process_time()
    threads = int(cell.get("threads", 1))
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    ev = cell["evaluation"]
    dspec = {k: v for k, v in cell["distribution_spec"].items() if k != "type"}
    espec = {k: v for k, v in cell["estimator_spec"].items() if k != "type"}
    dist_name, est_type = cell["distribution"], cell["estimator_spec"]["type"]
    n, seed = int(cell["n"]), int(cell["seed"])
    noise = cell["noise"] if isinstance(cell["noise"], str) else float(cell["noise"])
    row = {"distribution": dist_name, "n": n, "noise": noise, "estimator": cell["estimator"],
           "estimator_type": est_type, "seed": seed}
    try:
        from geomgen.metrics import debiased_wasserstein, energy_distance, sliced_energy_distance, wasserstein
        from geomgen.singular.fit import fit_estimator
        from geomgen.singular.manifolds import make_distribution

        law = make_distribution(cell["distribution_spec"]["type"], **dspec)
        row.update(d=law.intrinsic_dim, D=law.ambient_dim)
        key = sample_key(dist_name, cell["distribution_spec"], ev)
        gen = lambda *p: torch.Generator().manual_seed(cell_seed(*p))  # noqa: E731
        x = law.sample(n, gen(key, n, seed, "train"))
        m = int(ev["num_points"])
        test = law.sample(int(ev["test_points"]), gen(key, seed, "test"), dtype=torch.float64)
        t0 = time.perf_counter()
        fitted = fit_estimator(est_type, x, intrinsic_dim=law.intrinsic_dim, noise=noise,
                               seed=cell_seed(key, n, seed, cell["estimator"], noise), **espec)
        row["fit_seconds"] = time.perf_counter() - t0
        row["noise_used"] = fitted.noise

        def estimate(size, *tag):
            out = fitted.sample(size, gen(key, n, seed, cell["estimator"], noise, *tag))
            if not torch.isfinite(out).all():
                raise FloatingPointError("the estimate produced non-finite samples")
            return out

        # every estimator of a (law, seed) meets the same truth samples; repeat 0 draws as older studies did
        t0 = time.perf_counter()
        reps = range(int(ev.get("w1_repeats", 1)))
        tags = [() if r == 0 else (r,) for r in reps]
        truth = [law.sample(m, gen(key, seed, "truth", *t), dtype=torch.float64) for t in tags]
        floors = [_floor(("w1", key, seed, m, t), lambda t=t, p=p: wasserstein(law.sample(m, gen(key, seed, "truth2", *t), dtype=torch.float64), p))
                  for t, p in zip(tags, truth)]
        w1 = debiased_wasserstein([estimate(m, "sample", *t) for t in tags], truth, floors=floors)
        row.update(w1=w1.w1, oracle_w1=w1.floor, w1_se=w1.w1_se, oracle_w1_se=w1.floor_se, w1_debiased=w1.debiased,
                   w1_debiased_se=w1.debiased_se, w1_repeats=w1.repeats)
        me = int(ev.get("energy_points", 0))
        if me:
            k = int(ev.get("energy_directions", 0))
            energy = (lambda p, q: sliced_energy_distance(p, q, directions=k)) if k else energy_distance
            truth = law.sample(me, gen(key, seed, "energy_truth"), dtype=torch.float64)
            e = energy(estimate(me, "energy_sample"), truth)
            e0 = _floor(("energy", key, seed, me, k),
                        lambda: energy(law.sample(me, gen(key, seed, "energy_truth2"), dtype=torch.float64), truth))
            row.update(energy=e.value, energy_se=e.se, oracle_energy=e0.value, oracle_energy_se=e0.se, energy_points=me,
                       energy_directions=k)
        row["eval_seconds"] = time.perf_counter() - t0
        ll = fitted.held_out_log_likelihood(test, gen(key, n, seed, cell["estimator"], noise, "ll"))
        row["loglik"] = ll if math.isfinite(ll) else float("nan")
        row["sigma"] = fitted.sigma
        row["steps"] = fitted.steps
        if fitted.info.get("history"):  # estimator option history_every: the training curve
            row["history"] = fitted.info["history"]
        if fitted.info.get("validation"):  # estimator option val_fraction: the chosen number of steps and its curve
            row["validation"] = fitted.info["validation"]
        if fitted.info.get("noise_selection"):  # noise "auto": the CV table of s
            row["noise_selection"] = fitted.info["noise_selection"]
        row["status"] = "ok"
        row["error"] = ""
    except Exception as e:  # recorded in the output and retried on the next run
        row["status"] = "error"
        row["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        row["traceback"] = traceback.format_exc()[-2000:]
    row["w1_points"] = int(ev["num_points"])
    row["seconds"] = time.perf_counter() - start
    row["cpu_seconds"] = time.process_time() - cpu_start
    return row
