r"""Study configuration: a grid over distributions, sample sizes n, instance-noise levels s,
estimators and seeds, read from YAML or a dict and validated before anything runs.

A study YAML (more in ``geomgen/singular/configs/``); its keys are the fields of :class:`StudyConfig`::

    name: default
    distributions: {circle_vm: {}, sphere_in_10d: {type: sphere, ambient_dim: 10}}  # 'type' defaults to the label
    n: [250, 500, 1000]
    noise: [0.1]           # s; only perturbed_mle uses it, the others run once with s = 0
    estimators: {perturbed_mle: {max_steps: 2000}, mle: {}, vae: {}, kde: {bandwidth: scott}}
    seeds: [0, 1]
    extra_grids: [{estimators: [perturbed_mle], n: [1000], noise: [0.05, 0.2]}]  # optional
    evaluation: {num_points: 2000, test_points: 1000}                               # optional

Every grid cell is one (distribution, n, s, estimator, seed); the cells of all grids are
united (duplicates run once). Each entry is checked by jsonargparse (:mod:`.schema`) against
the type hints of :class:`StudyConfig`, :class:`Grid`, :class:`Evaluation`, the estimator's
options (:data:`~geomgen.singular.fit.ESTIMATOR_OPTIONS`) or the law's constructor
(:data:`~geomgen.singular.manifolds.DISTRIBUTIONS`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Literal, Union

from jsonargparse.typing import NonNegativeInt, PositiveFloat, PositiveInt, restricted_number_type

from geomgen.singular.studies.cell import Cell
from geomgen.singular.studies.schema import SchemaError, check, short

__all__ = ["StudyConfigError", "StudyConfig", "Grid", "Evaluation", "load_study"]

SampleSize = restricted_number_type("SampleSize", int, (">=", 2), docstring="int restricted to be >=2")
NoiseLevel = restricted_number_type("NoiseLevel", float, [(">=", 0.0), ("<", math.inf)],
                                    docstring="float restricted to be >=0 and finite")
#: a grid's instance-noise entry: a level s, or a rule of :func:`~geomgen.singular.fit.fit_estimator`
#: (``"schedule"``: s(n) of :func:`~geomgen.singular.noise_selection.noise_schedule`; ``"auto"``: s by cross-validation)
Noise = Union[NoiseLevel, Literal["auto", "schedule"]]  # noqa: UP007 (jsonargparse reads a typing.Union here)


#: the largest study file read (bytes); a study is a few hundred bytes
MAX_STUDY_BYTES = 1 << 20
#: the longest message of a :class:`StudyConfigError` (characters)
MAX_MESSAGE = 500


class StudyConfigError(ValueError):
    """A bad study configuration; the message names the offending key."""


@dataclass
class Grid:
    """An extra grid: the values it runs over instead of the main grid's (``None``, the default: the main grid's).

    Args:
        distributions, estimators (list of str, optional): labels defined at the top level.
        n (list of int, optional): sample sizes, each >= 2.
        noise (list of float or str, optional): instance-noise levels s >= 0, or ``"schedule"`` / ``"auto"``.
        seeds (list of int, optional): seeds.
    """

    distributions: list[str] | None = None
    n: list[SampleSize] | None = None
    noise: list[Noise] | None = None
    estimators: list[str] | None = None
    seeds: list[int] | None = None


@dataclass
class Evaluation:
    r"""How every cell is measured (:func:`~geomgen.singular.studies.run_cell`) and reported.

    Args:
        num_points (int, optional): samples of the estimate and fresh samples of the truth for
            the exact W1 (default 2000).
        test_points (int, optional): held-out truth samples for the log-likelihood (default 1000).
        alpha (float, optional): smoothness assumed by the theory rate
            :math:`\max(n^{-1/2}, n^{-(\alpha+1)/(2\alpha + d)})` (default 2.0).
        compare_n (int, optional): the n at which the report compares estimators (default 1000).
        paired_ambient (bool, optional): laws that differ only in their ambient dimension D (and
            isometry) draw the same points on the manifold -- training data, truth and held-out
            samples, and the estimators' seeds -- each embedded by its own isometry: common random
            numbers, so a W1 difference between two D is the estimator's, not the evaluation
            floor's noise (default False: every law its own draws).
        w1_repeats (int, optional): independent repeats of the W1 evaluation (each: ``num_points``
            samples of the estimate, of the truth and of a second truth sample); W1, its floor and
            W1 - floor (:func:`~geomgen.metrics.debiased_wasserstein`) are means over repeats with
            standard errors (default 1: the single evaluation of older studies).
        energy_points (int, optional): samples of the estimate and of the truth for the energy
            distance (:func:`~geomgen.metrics.energy_distance`, unbiased, with its jackknife standard
            error), and its truth-vs-truth value at the same size; 0 skips it (default 0).
        energy_directions (int, optional): 0 computes that energy distance exactly, in
            O(energy_points^2) time (:func:`~geomgen.metrics.energy_distance`, about 7 s at 16,000
            points); K > 0 slices it over K directions (:func:`~geomgen.metrics.sliced_energy_distance`,
            unbiased too, O(K m log m): a few seconds at 200,000 points, whose truth-vs-truth noise is
            1/12 of that at 16,000) (default 0).

    The last three at their defaults leave a cell's key as in older studies, so their results still load and resume.
    """

    num_points: PositiveInt = 2000
    test_points: PositiveInt = 1000
    alpha: PositiveFloat = 2.0
    compare_n: PositiveInt = 1000
    paired_ambient: bool = False
    w1_repeats: PositiveInt = 1
    energy_points: NonNegativeInt = 0
    energy_directions: NonNegativeInt = 0


@dataclass
class StudyConfig:
    """A study: named distribution and estimator specs, the main grid over them, extra grids.

    Args:
        distributions (dict): label -> ``{"type": law, **constructor arguments}``, a law of
            :data:`~geomgen.singular.manifolds.DISTRIBUTIONS`.
        estimators (dict): label -> ``{"type": estimator, **options}``, an estimator of
            :data:`~geomgen.singular.fit.ESTIMATOR_OPTIONS` and its options.
        n (list of int): sample sizes, each >= 2.
        noise (list of float or str): instance-noise levels s >= 0, or the rules ``"schedule"`` (s(n), the rate
            :func:`~geomgen.singular.noise_selection.noise_schedule`) and ``"auto"`` (s chosen by cross-validation in
            every cell, :func:`~geomgen.singular.noise_selection.select_noise`); used by ``perturbed_mle`` only.
        seeds (list of int): seeds.
        name (str, optional): the study's name (default ``"study"``; :func:`load_study`: the file's stem).
        description (str, optional): free text for the report (default ``""``).
        extra_grids (list of Grid, optional): more grids (default none).
        evaluation (Evaluation, optional): measurement settings (default ``Evaluation()``).
        workers (int, optional): parallel processes when no executor is passed (default 1).
        threads (int, optional): torch threads per cell (default 1).
    """

    distributions: dict[str, dict]
    estimators: dict[str, dict]
    n: list[SampleSize]
    noise: list[Noise]
    seeds: list[int]
    name: str = "study"
    description: str = ""
    extra_grids: list[Grid] = field(default_factory=list)
    evaluation: Evaluation = field(default_factory=Evaluation)
    workers: PositiveInt = 1
    threads: PositiveInt = 1

    @property
    def grids(self) -> list[dict]:
        """The main grid, then each extra grid with its unset keys taken from the main grid."""
        main = {"distributions": list(self.distributions), "estimators": list(self.estimators),
                "n": self.n, "noise": self.noise, "seeds": self.seeds}
        return [main] + [{**main, **{k: v for k, v in asdict(g).items() if v is not None}} for g in self.extra_grids]

    def cells(self) -> list[Cell]:
        """All cells of all grids, without duplicates, in a stable order."""
        cells, evaluation = {}, asdict(self.evaluation)
        for grid in self.grids:
            for dist, n, est in product(grid["distributions"], grid["n"], grid["estimators"]):
                noises = grid["noise"] if self.estimators[est]["type"] == "perturbed_mle" else [0.0]
                for s, seed in product(noises, grid["seeds"]):
                    c = Cell(dist, self.distributions[dist], int(n), s if isinstance(s, str) else float(s), est, self.estimators[est], int(seed),
                             evaluation, self.threads)
                    cells.setdefault(c.key, c)
        return list(cells.values())


def load_study(source: str | Path | dict) -> StudyConfig:
    """Read and validate a study from a YAML path or a dict (left unchanged).

    Each law is also built once, so bad values (``kappa < 0``) fail here. A list of labels
    stands for a mapping of them to ``{}``, and a single n, s or seed for a list of one.

    Raises:
        StudyConfigError: a missing, unknown or ill-typed key, an unknown distribution or
            estimator, an empty grid; the message names the key (dotted path) and what it accepts,
            and echoes a bad value cut short (at most :data:`MAX_MESSAGE` characters in all); a
            file over :data:`MAX_STUDY_BYTES`.
        yaml.YAMLError: a file that is not YAML, or that uses aliases (``*name``, refused: a few
            hundred bytes of nested aliases expand to gigabytes).
    """
    raw, default_name = _read(source)  # before the imports: a bad file fails fast

    from geomgen.singular.fit import ESTIMATOR_OPTIONS
    from geomgen.singular.manifolds import DISTRIBUTIONS, make_distribution

    try:
        nested = ("distributions", "estimators", "extra_grids", "evaluation")  # checked part by part below
        top = check(StudyConfig, {"name": default_name, **raw}, skip=nested)
        dists = _specs(raw, "distributions", {kind: cls for kind, (cls, _) in DISTRIBUTIONS.items()})
        for label, spec in dists.items():
            try:
                make_distribution(spec["type"], **{k: v for k, v in spec.items() if k != "type"})
            except (ValueError, TypeError) as e:
                raise SchemaError(f"distributions.{label}: {e}") from None
        extra = raw.get("extra_grids") or []
        if not isinstance(extra, list):
            raise SchemaError(f"extra_grids: expected a list of grids, got {short(extra)}")
        cfg = StudyConfig(distributions=dists, estimators=_specs(raw, "estimators", ESTIMATOR_OPTIONS), **top,
                          extra_grids=[Grid(**check(Grid, g, f"extra_grids[{i}].")) for i, g in enumerate(extra)],
                          evaluation=Evaluation(**check(Evaluation, raw.get("evaluation") or {}, "evaluation.")))
        for i, grid in enumerate(cfg.grids):
            where = f"extra_grids[{i - 1}]." if i else ""
            for k, values in grid.items():
                if not values:
                    raise SchemaError(f"{where}{k}: empty: the grid would have no cells")
            for k in ("distributions", "estimators"):
                for j, label in enumerate(grid[k]):
                    if label not in getattr(cfg, k):
                        raise SchemaError(f"{where}{k}[{j}]: {short(label)} is not defined in the top-level {k}: "
                                          f"{sorted(getattr(cfg, k))}")
    except SchemaError as e:
        text = str(e)  # keys and labels are echoed whole: cap the line
        raise StudyConfigError(f"study config: {text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + '...'}") from None
    return cfg


def _read(source: str | Path | dict) -> tuple[dict, str]:
    """The study as a dict (a copy), and its default name: the file's stem, or ``"study"``.

    A file is read with :class:`_StudyLoader` (safe, and no aliases) and at most
    :data:`MAX_STUDY_BYTES` long.
    """
    if isinstance(source, (str, Path)):
        import yaml

        if not Path(source).is_file():
            raise StudyConfigError(f"study config: file not found: {source}")
        size = Path(source).stat().st_size
        if size > MAX_STUDY_BYTES:
            raise StudyConfigError(f"study config: the file is {size} bytes; a study file is at most {MAX_STUDY_BYTES}")
        raw, name = yaml.load(Path(source).read_text(), Loader=_study_loader()), Path(source).stem
    else:
        raw, name = copy.deepcopy(source), "study"
    if not isinstance(raw, dict):
        raise StudyConfigError(f"study config: expected a mapping at the top level, got {type(raw).__name__}")
    return raw, name


def _study_loader() -> type:
    """``yaml.SafeLoader`` that refuses aliases (``*name``): a few hundred bytes of nested aliases
    (a "billion laughs" document) expand to gigabytes, and a study needs none. The error is a
    :class:`yaml.composer.ComposerError` with the alias's position."""
    import yaml
    from yaml.composer import ComposerError
    from yaml.events import AliasEvent

    class _StudyLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(AliasEvent):
                event = self.peek_event()
                raise ComposerError(None, None, f"found alias *{event.anchor[:40]}; YAML aliases and anchors are not "
                                    "allowed in study files", event.start_mark)
            return super().compose_node(parent, index)

    return _StudyLoader


def _specs(raw: dict, section: str, schemas: dict[str, type]) -> dict[str, dict]:
    """``raw[section]`` as label -> ``{"type": kind, **entries}``: ``type`` (default: the label) is a key of
    ``schemas``, and the entries are checked against that schema. A list holds labels or ``{label: entries}``."""
    if section not in raw:
        raise SchemaError(f"{section}: missing")
    specs = raw[section]
    if isinstance(specs, list):
        for i, v in enumerate(specs):
            if not (isinstance(v, str) or isinstance(v, dict) and len(v) == 1):
                raise SchemaError(f"{section}[{i}]: expected a name or {{name: {{options}}}}, got {short(v)}")
        specs = {k: v for item in specs for k, v in ({item: {}} if isinstance(item, str) else item).items()}
    if not isinstance(specs, dict):
        raise SchemaError(f"{section}: expected a mapping of name -> options or a list of names, got {short(specs)}")
    out = {}
    for label, spec in specs.items():
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            raise SchemaError(f"{section}.{label}: expected a mapping of options, got {short(spec)}")
        kind = spec.get("type", label)
        if not isinstance(kind, str) or kind not in schemas:
            where = f"{section}.{label}" + (".type" if kind != label else "")
            raise SchemaError(f"{where}: unknown {section[:-1]} {short(kind)}; choose one of {sorted(schemas)}")
        given = {k: v for k, v in spec.items() if k != "type"}
        checked = check(schemas[kind], given, f"{section}.{label}.")
        out[str(label)] = {"type": kind, **{k: checked[k] for k in given}}
    return out
