"""The registry of sampler moves, in the order a sweep runs them.

A sweep of a rung runs every applicable move of :data:`SCHEDULE` in this order; the diagnostics
of :func:`~geomgen.conformers.reference.sampler.sample_reference` and
:func:`~geomgen.conformers.reference.sampler.refine` are those the moves report, and the
settings of ``SamplerConfig`` (and the flags of ``geomgen reference``) are the sampler's own plus
those the moves declare. A new move is a module with a
:class:`~geomgen.conformers.reference.moves.base.Move` subclass and one entry here.
"""

from __future__ import annotations

from geomgen.conformers.reference.moves.amide_flip import AmideFlipMove
from geomgen.conformers.reference.moves.darting import DartMove
from geomgen.conformers.reference.moves.law_proposal import TorsionLawMove
from geomgen.conformers.reference.moves.mala import MALAMove
from geomgen.conformers.reference.moves.ncmc import NCMCMove
from geomgen.conformers.reference.moves.nitrogen_inversion import NitrogenInversionMove
from geomgen.conformers.reference.moves.rigid_torsion import RigidTorsionMove
from geomgen.conformers.reference.moves.ring_flip import RingFlipMove
from geomgen.conformers.reference.moves.ring_nitrogen_inversion import RingNitrogenInversionMove
from geomgen.conformers.reference.moves.symmetry import SymmetryMove
from geomgen.conformers.reference.moves.torsion_pair import TorsionPairMove

#: every move, in sweep order: symmetry (and mirror), rigid torsion passes, torsion moves from a
#: given law, ring flips, nitrogen inversions (acyclic, then in rings), amide flips, torsion pairs,
#: darts between basins, NCMC, MALA
SCHEDULE = (SymmetryMove, RigidTorsionMove, TorsionLawMove, RingFlipMove, NitrogenInversionMove, RingNitrogenInversionMove,
            AmideFlipMove, TorsionPairMove, DartMove, NCMCMove, MALAMove)


def move_options() -> tuple:
    """The settings every move of :data:`SCHEDULE` declares, in schedule order."""
    return tuple(o for move in SCHEDULE for o in move.options)
