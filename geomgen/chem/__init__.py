"""RDKit glue for conformers: rotatable torsions, seed embedding, stereo checks, MMFF94
energies and the Boltzmann reference sampler."""

from geomgen.chem.embed import (
    SUPPORTED_ELEMENTS,
    MoleculeError,
    canonical_isomeric_smiles,
    embed_seed,
    parse_molecule,
    stereo_matches,
)
from geomgen.chem.mmff import MMFF
from geomgen.chem.sampler import (
    ReferenceResult,
    SamplerConfig,
    relaxed_torsion_scan,
    rigid_torsion_scan,
    sample_reference,
)
from geomgen.chem.torsions import TorsionSet, dihedral_angles, rotatable_torsions, rotate_torsion, set_torsions

__all__ = [
    "SUPPORTED_ELEMENTS",
    "MoleculeError",
    "canonical_isomeric_smiles",
    "embed_seed",
    "parse_molecule",
    "stereo_matches",
    "MMFF",
    "ReferenceResult",
    "SamplerConfig",
    "relaxed_torsion_scan",
    "rigid_torsion_scan",
    "sample_reference",
    "TorsionSet",
    "dihedral_angles",
    "rotatable_torsions",
    "rotate_torsion",
    "set_torsions",
]
