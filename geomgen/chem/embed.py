"""Molecule parsing, validation, seed embedding and stereo checks (RDKit glue)."""

from __future__ import annotations

import numpy as np

#: Elements MMFF94 parameterises and geomgen accepts.
SUPPORTED_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})


class MoleculeError(ValueError):
    """A molecule geomgen cannot process; the message names the molecule and the reason."""


def parse_molecule(smiles_or_mol, name: str | None = None):
    """Parse and validate a molecule; return it with explicit hydrogens.

    Args:
        smiles_or_mol: SMILES string or RDKit molecule.
        name (str, optional): used in error messages (default: the SMILES).

    Raises:
        MoleculeError: unparsable SMILES, no atoms, several fragments, unsupported element,
            or no MMFF94 parameters.
    """
    from rdkit import Chem, RDLogger

    label = name or (smiles_or_mol if isinstance(smiles_or_mol, str) else "molecule")
    if isinstance(smiles_or_mol, str):
        if not smiles_or_mol.strip():
            raise MoleculeError(f"{label!r}: empty SMILES")
        RDLogger.DisableLog("rdApp.*")
        try:
            mol = Chem.MolFromSmiles(smiles_or_mol.strip())
        finally:
            RDLogger.EnableLog("rdApp.*")
        if mol is None:
            raise MoleculeError(f"{label!r}: unparsable SMILES")
    else:
        mol = Chem.Mol(smiles_or_mol)
    if mol.GetNumAtoms() == 0:
        raise MoleculeError(f"{label!r}: molecule has no atoms")
    frags = Chem.GetMolFrags(mol)
    if len(frags) > 1:
        raise MoleculeError(f"{label!r}: {len(frags)} fragments (give one molecule; strip salts and solvents)")
    bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - SUPPORTED_ELEMENTS)
    if bad:
        raise MoleculeError(f"{label!r}: unsupported element(s) {', '.join(bad)} (supported: MMFF94 organic set)")
    if any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
        raise MoleculeError(f"{label!r}: radicals are not supported")
    mol = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    from rdkit.Chem import AllChem

    if not AllChem.MMFFHasAllMoleculeParams(mol):
        raise MoleculeError(f"{label!r}: MMFF94 has no parameters for some atom type")
    return mol


def rdkit_seed(seed: int) -> int:
    """Map a user seed to an RDKit random seed. RDKit's ``randomSeed = 0`` makes every
    conformer of ``EmbedMultipleConfs`` identical, so seeds are offset away from 0."""
    return int(seed) + 0x5EED


def embed_seed(mol, seed: int = 0, n_candidates: int = 8, name: str | None = None):
    """Embed ``mol`` with ETKDGv3 and return a copy with one MMFF-minimised seed conformer.

    ``n_candidates`` conformers are embedded with the given random seed and MMFF94-minimised;
    the lowest-energy one is kept, so amide/ester cis-trans and ring puckers come from a
    low-energy structure rather than from one random draw. Stereocentres left unspecified in
    the input are fixed by the seed.

    Raises:
        MoleculeError: when ETKDG cannot embed the molecule.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    label = name or Chem.MolToSmiles(Chem.RemoveHs(mol))
    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    params = AllChem.ETKDGv3()
    params.randomSeed = rdkit_seed(seed)
    params.numThreads = 1
    cids = list(AllChem.EmbedMultipleConfs(m, numConfs=n_candidates, params=params))
    if not cids:
        params.useRandomCoords = True
        cids = list(AllChem.EmbedMultipleConfs(m, numConfs=n_candidates, params=params))
    if not cids:
        raise MoleculeError(f"{label!r}: ETKDG could not embed the molecule")
    res = AllChem.MMFFOptimizeMoleculeConfs(m, numThreads=1, maxIters=2000)
    energies = [e if conv >= 0 else np.inf for conv, e in res]
    best = cids[int(np.argmin(energies))]
    out = Chem.Mol(m, confId=best)
    conf = m.GetConformer(best)
    out.RemoveAllConformers()
    c = Chem.Conformer(conf)
    c.SetId(0)
    out.AddConformer(c, assignId=False)
    Chem.AssignStereochemistryFrom3D(out, confId=0)
    return out


def canonical_isomeric_smiles(mol) -> str:
    """Canonical isomeric SMILES (hydrogens removed)."""
    from rdkit import Chem

    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=True)


def stereo_matches(mol, conf_id: int = -1, reference=None) -> bool:
    """Whether conformer ``conf_id`` of ``mol`` has the stereochemistry of ``reference``.

    Tetrahedral centres and double bonds are perceived from the 3D coordinates and compared
    through canonical isomeric SMILES with those of ``reference`` (default: ``mol`` itself
    with its stereo tags). Stereo elements left unspecified in ``reference`` are not checked.
    """
    from rdkit import Chem

    ref = Chem.RemoveHs(reference if reference is not None else mol)
    probe = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(probe, confId=conf_id)
    probe = Chem.RemoveHs(probe)
    # Forget perceived stereo where the reference leaves it unspecified.
    for a_ref, a in zip(ref.GetAtoms(), probe.GetAtoms()):
        if a_ref.GetChiralTag() == Chem.ChiralType.CHI_UNSPECIFIED:
            a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for b_ref, b in zip(ref.GetBonds(), probe.GetBonds()):
        if b_ref.GetStereo() == Chem.BondStereo.STEREONONE:
            b.SetStereo(Chem.BondStereo.STEREONONE)
    return Chem.MolToSmiles(probe) == Chem.MolToSmiles(ref)
