r"""Study configuration: a grid over distributions, sample sizes n, instance-noise levels s,
estimators and seeds, read from YAML or a dict and validated before anything runs.

A study YAML (see ``geomgen/singular/configs/*.yaml``)::

    name: default
    distributions:          # label -> constructor arguments ('type' defaults to the label)
      circle_vm: {}
      sphere_in_10d: {type: sphere, ambient_dim: 10}
    n: [250, 500, 1000]
    noise: [0.1]             # s; only perturbed_mle uses it, the others run once with s = 0
    estimators:              # label -> options ('type' defaults to the label)
      perturbed_mle: {max_steps: 2000}
      mle: {}
      vae: {}
      kde: {bandwidth: scott}
    seeds: [0, 1]
    extra_grids:             # optional: more grids, each overriding some grid keys
      - {estimators: [perturbed_mle], n: [1000], noise: [0.05, 0.2]}
    evaluation: {num_points: 2000, test_points: 1000, alpha: 2.0, compare_n: 1000}
    workers: 2               # parallel processes when no executor is passed
    threads: 1               # torch threads per cell

Every grid cell is one (distribution, n, s, estimator, seed); the cells of all grids are
united (duplicates run once).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["StudyConfigError", "StudyConfig", "load_study", "Cell", "EVALUATION_DEFAULTS"]

#: evaluation settings and their defaults
EVALUATION_DEFAULTS: dict[str, Any] = {
    "num_points": 2000,  # samples of the estimate and fresh samples of the truth for exact W1
    "test_points": 1000,  # held-out truth samples for the log-likelihood
    "alpha": 2.0,  # smoothness assumed by the theory rate max(n^-1/2, n^-(alpha+1)/(2 alpha + d))
    "compare_n": 1000,  # the n at which the report compares estimators
}

_GRID_KEYS = ("distributions", "n", "noise", "estimators", "seeds")
_TOP_KEYS = ("name", "description", *_GRID_KEYS, "extra_grids", "evaluation", "workers", "threads")


class StudyConfigError(ValueError):
    """A bad study configuration; the message names the offending key."""


@dataclass(frozen=True)
class Cell:
    """One run of the grid: fit ``estimator`` on n points of ``distribution`` (seed ``seed``)."""

    distribution: str
    distribution_spec: dict
    n: int
    noise: float
    estimator: str
    estimator_spec: dict
    seed: int
    evaluation: dict
    threads: int = 1

    @property
    def key(self) -> str:
        """A file-safe unique name; a hash of the specs makes a changed spec a new cell."""
        blob = json.dumps([self.distribution_spec, self.estimator_spec, self.evaluation], sort_keys=True)
        h = hashlib.sha1(blob.encode()).hexdigest()[:10]
        return f"{self.distribution}__n{self.n}__s{self.noise:g}__{self.estimator}__seed{self.seed}__{h}"

    def to_dict(self) -> dict:
        return {"distribution": self.distribution, "distribution_spec": self.distribution_spec, "n": self.n,
                "noise": self.noise, "estimator": self.estimator, "estimator_spec": self.estimator_spec,
                "seed": self.seed, "evaluation": self.evaluation, "threads": self.threads}


@dataclass
class StudyConfig:
    """A validated study: named distribution and estimator specs and the grids over them."""

    name: str
    distributions: dict[str, dict]
    estimators: dict[str, dict]
    grids: list[dict]
    evaluation: dict = field(default_factory=lambda: dict(EVALUATION_DEFAULTS))
    workers: int = 1
    threads: int = 1
    description: str = ""

    def cells(self) -> list[Cell]:
        """All cells of all grids, without duplicates, in a stable order."""
        out, seen = [], set()
        for grid in self.grids:
            for dist in grid["distributions"]:
                for n in grid["n"]:
                    for est in grid["estimators"]:
                        uses_noise = self.estimators[est]["type"] == "perturbed_mle"
                        for s in grid["noise"] if uses_noise else [0.0]:
                            for seed in grid["seeds"]:
                                c = Cell(dist, self.distributions[dist], int(n), float(s), est,
                                         self.estimators[est], int(seed), self.evaluation, self.threads)
                                if c.key not in seen:
                                    seen.add(c.key)
                                    out.append(c)
        return out


def _err(key: str, msg: str) -> StudyConfigError:
    return StudyConfigError(f"study config: {key}: {msg}")


def _named_specs(raw, key: str) -> dict[str, dict]:
    if isinstance(raw, (list, tuple)):
        items = []
        for i, v in enumerate(raw):
            if isinstance(v, str):
                items.append((v, {}))
            elif isinstance(v, dict) and len(v) == 1 and isinstance(next(iter(v.values())), (dict, type(None))):
                name, spec = next(iter(v.items()))
                items.append((name, spec or {}))
            else:
                raise _err(f"{key}[{i}]", f"expected a name or {{name: {{options}}}}, got {v!r}")
    elif isinstance(raw, dict):
        items = [(k, v if v is not None else {}) for k, v in raw.items()]
    else:
        raise _err(key, f"expected a mapping of name -> options or a list of names, got {type(raw).__name__}")
    out = {}
    for name, spec in items:
        if not isinstance(spec, dict):
            raise _err(f"{key}.{name}", f"expected a mapping of options, got {spec!r}")
        spec = copy.deepcopy(spec)
        spec.setdefault("type", name)
        out[str(name)] = spec
    return out


def _check_distributions(specs: dict[str, dict]) -> None:
    from geomgen.singular.manifolds import DISTRIBUTIONS, distribution_arguments, make_distribution

    for label, spec in specs.items():
        kind = spec["type"]
        if kind not in DISTRIBUTIONS:
            where = f"distributions.{label}" + (".type" if label != kind else "")
            raise _err(where, f"unknown distribution {kind!r}; choose one of {sorted(DISTRIBUTIONS)}")
        allowed = distribution_arguments(kind)
        for k in spec:
            if k != "type" and k not in allowed:
                raise _err(f"distributions.{label}.{k}", f"unknown argument for {kind!r}; allowed: {allowed}")
        try:
            make_distribution(kind, **{k: v for k, v in spec.items() if k != "type"})
        except (ValueError, TypeError) as e:
            raise _err(f"distributions.{label}", str(e)) from None


def _check_estimators(specs: dict[str, dict]) -> None:
    from geomgen.singular.fit import ESTIMATOR_OPTIONS, ESTIMATORS

    for label, spec in specs.items():
        kind = spec["type"]
        if kind not in ESTIMATOR_OPTIONS:
            where = f"estimators.{label}" + (".type" if label != kind else "")
            raise _err(where, f"unknown estimator {kind!r}; choose one of {list(ESTIMATORS)}")
        allowed = ESTIMATOR_OPTIONS[kind]
        for k, v in spec.items():
            if k == "type":
                continue
            if k not in allowed:
                raise _err(f"estimators.{label}.{k}", f"unknown option for {kind!r}; allowed: {sorted(allowed)}")
            if k in ("max_steps", "batch_size", "num_samples", "eval_samples", "hidden", "layers") and (
                    not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise _err(f"estimators.{label}.{k}", f"must be a positive integer, got {v!r}")
            if k in ("lr", "sigma_init", "min_sigma") and (not isinstance(v, (int, float)) or v <= 0):
                raise _err(f"estimators.{label}.{k}", f"must be a positive number, got {v!r}")
        if spec.get("likelihood", "mc") not in ("mc", "iw"):
            raise _err(f"estimators.{label}.likelihood", f"must be 'mc' or 'iw', got {spec['likelihood']!r}")
        if spec.get("latent", "uniform") not in ("uniform", "gaussian"):
            raise _err(f"estimators.{label}.latent", f"must be 'uniform' or 'gaussian', got {spec['latent']!r}")


def _check_list(raw, key: str, kind: str) -> list:
    if raw is None:
        raise _err(key, "missing")
    vals = raw if isinstance(raw, (list, tuple)) else [raw]
    if len(vals) == 0:
        raise _err(key, "empty: the grid would have no cells")
    for i, v in enumerate(vals):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _err(f"{key}[{i}]", f"expected a number, got {v!r}")
        if kind == "n" and (int(v) != v or v < 2):
            raise _err(f"{key}[{i}]", f"sample size must be an integer >= 2, got {v!r}")
        if kind == "noise" and v < 0:
            raise _err(f"{key}[{i}]", f"noise level must be >= 0, got {v!r}")
        if kind == "seeds" and int(v) != v:
            raise _err(f"{key}[{i}]", f"seed must be an integer, got {v!r}")
    return [int(v) for v in vals] if kind in ("n", "seeds") else [float(v) for v in vals]


def _grid(raw: dict, key: str, dists: dict, ests: dict, base: dict | None = None) -> dict:
    grid = dict(base or {})
    for k in raw:
        if k not in _GRID_KEYS:
            raise _err(f"{key}.{k}", f"unknown key; a grid has {list(_GRID_KEYS)}")
    for k in ("distributions", "estimators"):
        if k in raw:
            val = raw[k]
            names = list(val) if isinstance(val, dict) else list(val) if isinstance(val, (list, tuple)) else None
            if names is None or not names:
                raise _err(f"{key}.{k}", "empty: the grid would have no cells" if names == [] else
                           f"expected a list of names, got {val!r}")
            known = dists if k == "distributions" else ests
            for i, nm in enumerate(names):
                if not isinstance(nm, str) or nm not in known:
                    raise _err(f"{key}.{k}[{i}]", f"{nm!r} is not defined in the top-level {k}: {sorted(known)}")
            grid[k] = [str(v) for v in names]
    for k, kind in (("n", "n"), ("noise", "noise"), ("seeds", "seeds")):
        if k in raw:
            grid[k] = _check_list(raw[k], f"{key}.{k}", kind)
    return grid


def load_study(source: str | Path | dict) -> StudyConfig:
    """Read and validate a study from a YAML path or a dict.

    Raises:
        StudyConfigError: unknown or missing keys, unknown distributions or estimators,
            negative noise, empty grids, bad sample sizes; the message names the key.
    """
    if isinstance(source, (str, Path)):
        import yaml

        path = Path(source)
        if not path.is_file():
            raise StudyConfigError(f"study config: file not found: {path}")
        with open(path) as fh:
            raw = yaml.safe_load(fh)
        default_name = path.stem
    else:
        raw, default_name = copy.deepcopy(source), "study"
    if not isinstance(raw, dict):
        raise StudyConfigError(f"study config: expected a mapping at the top level, got {type(raw).__name__}")
    for k in raw:
        if k not in _TOP_KEYS:
            raise _err(k, f"unknown key; allowed: {list(_TOP_KEYS)}")
    for k in _GRID_KEYS:
        if k not in raw:
            raise _err(k, "missing")
    dists = _named_specs(raw["distributions"], "distributions")
    ests = _named_specs(raw["estimators"], "estimators")
    if not dists:
        raise _err("distributions", "empty: the grid would have no cells")
    if not ests:
        raise _err("estimators", "empty: the grid would have no cells")
    _check_distributions(dists)
    _check_estimators(ests)
    main = {"distributions": list(dists), "estimators": list(ests),
            "n": _check_list(raw["n"], "n", "n"), "noise": _check_list(raw["noise"], "noise", "noise"),
            "seeds": _check_list(raw["seeds"], "seeds", "seeds")}
    grids = [main]
    extra = raw.get("extra_grids") or []
    if not isinstance(extra, list):
        raise _err("extra_grids", f"expected a list of grids, got {type(extra).__name__}")
    for i, g in enumerate(extra):
        if not isinstance(g, dict):
            raise _err(f"extra_grids[{i}]", f"expected a mapping, got {g!r}")
        grids.append(_grid(g, f"extra_grids[{i}]", dists, ests, main))
    evaluation = dict(EVALUATION_DEFAULTS)
    ev = raw.get("evaluation") or {}
    if not isinstance(ev, dict):
        raise _err("evaluation", f"expected a mapping, got {ev!r}")
    for k, v in ev.items():
        if k not in EVALUATION_DEFAULTS:
            raise _err(f"evaluation.{k}", f"unknown key; allowed: {sorted(EVALUATION_DEFAULTS)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise _err(f"evaluation.{k}", f"must be a positive number, got {v!r}")
        evaluation[k] = v
    for k in ("workers", "threads"):
        v = raw.get(k, 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise _err(k, f"must be a positive integer, got {v!r}")
    cfg = StudyConfig(str(raw.get("name", default_name)), dists, ests, grids, evaluation,
                      int(raw.get("workers", 1)), int(raw.get("threads", 1)), str(raw.get("description", "")))
    if not cfg.cells():
        raise StudyConfigError("study config: the grid is empty")
    return cfg
