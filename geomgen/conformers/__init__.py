"""Conformers from SMILES with VonMisesNet (Swanson, Williams & Jonas, ICML 2023).

* :class:`ConformerGenerator` -- the generation API behind ``geomgen conformers``.
* RDKit glue: :func:`parse_molecule`, :func:`embed_seed`, :func:`rotatable_torsions` (the one
  definition of a rotatable torsion), :func:`set_torsions`, :class:`MMFF`, stereo and clash guards.
* :class:`VonMisesNet` (plain torch) with :func:`load_vonmisesnet`; the training side
  (:mod:`~geomgen.conformers.dataset`, :mod:`~geomgen.conformers.datamodule`,
  :mod:`~geomgen.conformers.system`) uses torch_geometric and Lightning.
* :mod:`geomgen.conformers.reference` -- MMFF94 Boltzmann reference ensembles (sampler, build, store).

Names are re-exported lazily: importing this package loads nothing heavy.
"""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "SUPPORTED_ELEMENTS": ".molecule",
        "MoleculeError": ".molecule",
        "parse_molecule": ".molecule",
        "canonical_isomeric_smiles": ".molecule",
        "embed_seed": ".embedding",
        "etkdg_conformers": ".embedding",
        "rdkit_seed": ".embedding",
        "stereo_matches": ".stereo",
        "StereoGuard": ".stereo",
        "ClashGuard": ".clashes",
        "MMFF": ".mmff",
        "TorsionSet": ".torsions",
        "dihedral_angles": ".torsions",
        "rotatable_torsions": ".torsions",
        "rotate_torsion": ".torsions",
        "set_torsions": ".torsions",
        "torsion_class": ".torsions",
        "torsion_bond_label": ".torsions",
        "TORSION_CLASSES": ".torsions",
        "ReferenceResult": ".reference.sampler",
        "SamplerConfig": ".reference.sampler",
        "sample_reference": ".reference.sampler",
        "refine": ".reference.sampler",
        "RefineResult": ".reference.sampler",
        "relaxed_torsion_scan": ".reference.scans",
        "rigid_torsion_scan": ".reference.scans",
        "ReferenceMolecule": ".reference.store",
        "load_reference_set": ".reference.store",
        "ConformerGenerator": ".generator",
        "GenerationReport": ".generator",
        "VonMisesNet": ".model",
        "VonMisesNetEnsemble": ".model",
        "load_vonmisesnet": ".checkpoint",
        "export_checkpoint": ".checkpoint",
        "export_ensemble": ".checkpoint",
        "featurize": ".features",
        "MoleculeGraph": ".features",
    },
)
