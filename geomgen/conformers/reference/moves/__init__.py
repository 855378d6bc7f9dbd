"""Moves of the reference sampler: one protocol (:class:`~.base.Move`), one module per move, and
the schedule that orders them (:data:`~.schedule.SCHEDULE`). Names are re-exported lazily."""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "Move": ".base",
        "SCHEDULE": ".schedule",
        "move_options": ".schedule",
        "SymmetryMove": ".symmetry",
        "mirror_symmetric": ".symmetry",
        "RigidTorsionMove": ".rigid_torsion",
        "rotate_side": ".rigid_torsion",
        "RingFlipMove": ".ring_flip",
        "TorsionPairMove": ".torsion_pair",
        "torsion_pairs": ".torsion_pair",
        "DartMove": ".darting",
        "choose_darts": ".darting",
        "dart_coordinates": ".darting",
        "NCMCMove": ".ncmc",
        "MALAMove": ".mala",
        "NitrogenInversionMove": ".nitrogen_inversion",
        "invertible_nitrogens": ".nitrogen_inversion",
        "invert_nitrogen": ".nitrogen_inversion",
        "nitrogen_configurations": ".nitrogen_inversion",
        "RingNitrogenInversionMove": ".ring_nitrogen_inversion",
        "ring_nitrogens": ".ring_nitrogen_inversion",
        "invert_ring_nitrogen": ".ring_nitrogen_inversion",
        "AmideFlipMove": ".amide_flip",
        "partial_double_bonds": ".amide_flip",
        "amide_states": ".amide_flip",
        "ncmc_rotation": ".ncmc",
        "ncmc_path": ".ncmc",
    },
)
