"""MMFF94 Boltzmann reference ensembles: the sampler, its diagnostics, torsion scans, building
and storing reference sets. Names are re-exported lazily."""

from geomgen._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "SamplerConfig": ".sampler",
        "ReferenceResult": ".sampler",
        "sample_reference": ".sampler",
        "refine": ".sampler",
        "RefineResult": ".sampler",
        "torsion_diagnostics": ".diagnostics",
        "relaxed_torsion_scan": ".scans",
        "rigid_torsion_scan": ".scans",
        "ReferenceMolecule": ".store",
        "load_reference_set": ".store",
        "assemble": ".store",
        "build_reference_set": ".build",
    },
)
