"""``SamplerConfig``: the settings of the reference sampler, assembled from the sampler's own
(:data:`~geomgen.conformers.reference.options.CORE_OPTIONS`) and those each move of the schedule
declares (:func:`~geomgen.conformers.reference.moves.schedule.move_options`), so a new move
brings its fields with it and the field names stored configs use keep working."""

from __future__ import annotations

import dataclasses

from geomgen.conformers.reference.convergence import ConvergenceTargets
from geomgen.conformers.reference.moves.schedule import move_options
from geomgen.conformers.reference.options import CORE_OPTIONS, Option

LADDERS = ("hamiltonian", "temperature")
#: what a Hamiltonian ladder scales: the rotatable bonds' torsion terms, or those and the
#: intramolecular electrostatics (which hold hydrogen-bonded states in vacuum)
LADDER_TERMS = ("torsion", "torsion+electrostatic")


def config_options() -> tuple[Option, ...]:
    """Every field of ``SamplerConfig``: the sampler's own, then the moves' in schedule order."""
    return CORE_OPTIONS + move_options()


def _post_init(self) -> None:
    if self.n_chains < 2:
        raise ValueError(f"SamplerConfig: n_chains must be at least 2 (convergence compares chains), got {self.n_chains}")
    if not 0.0 <= self.lambda_min < 1.0:
        raise ValueError(f"SamplerConfig: lambda_min must be in [0, 1), got {self.lambda_min}")
    for opt in config_options():
        why = opt.problem(getattr(self, opt.name))
        if why:
            raise ValueError(f"SamplerConfig: {opt.name} {why}")
    if self.t_max <= self.temperature and self.ladder == "temperature" and self.n_replicas > 1:
        raise ValueError(f"SamplerConfig: t_max ({self.t_max}) must exceed temperature ({self.temperature})")
    if self.agreement_target > 1.0:
        raise ValueError(f"SamplerConfig: agreement_target is a probability, at most 1, got {self.agreement_target}")
    if self.basin_starts > min(self.basin_search, self.n_chains):
        raise ValueError(f"SamplerConfig: basin_starts ({self.basin_starts}) exceeds basin_search ({self.basin_search}) "
                         f"or n_chains ({self.n_chains})")
    if self.dart_moves_per_sweep > 0 and self.basin_search == 0:
        raise ValueError("SamplerConfig: dart_moves_per_sweep needs basin_search > 0 (the darts are the search's minima)")
    if self.min_sweeps > self.max_sweeps:
        raise ValueError(f"SamplerConfig: min_sweeps ({self.min_sweeps}) exceeds max_sweeps ({self.max_sweeps})")


def _targets(self) -> ConvergenceTargets:
    return ConvergenceTargets(rhat=self.rhat_target, ess=self.ess_target, w1=self.w1_target, state_gap=self.state_gap_target,
                              agreement=self.agreement_target, basin_gap=self.basin_tolerance)


def _doc() -> str:
    args = "\n".join(f"        {o.name} ({o.type.__name__}): {o.help}" for o in config_options())
    return f"""Settings of :func:`~geomgen.conformers.reference.sampler.sample_reference`.

    The sampler's own settings, then those of each move of
    :data:`~geomgen.conformers.reference.moves.schedule.SCHEDULE` (declared in the move's module).

    Args:
{args}

    A sweep of a rung runs the moves of the schedule in order: one symmetry move, ``torsion_passes``
    rigid moves per movable bond (random order), the ring flips, pair moves and NCMC moves, then
    the MALA steps; swaps follow each sweep.
    """


def _make_config_class() -> type:
    fields = [(o.name, o.type, dataclasses.field(default=o.default)) for o in config_options()]
    names = [f[0] for f in fields]
    if len(set(names)) != len(names):
        raise RuntimeError(f"SamplerConfig: a setting is declared twice: {sorted(n for n in names if names.count(n) > 1)}")
    cls = dataclasses.make_dataclass("SamplerConfig", fields,
                                     namespace={"__post_init__": _post_init, "targets": property(_targets), "__doc__": _doc()})
    cls.__module__ = __name__
    return cls


SamplerConfig = _make_config_class()
