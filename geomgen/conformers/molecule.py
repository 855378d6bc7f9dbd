"""Molecule input checks: parse and validate a SMILES or RDKit molecule, canonical SMILES."""

from __future__ import annotations

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






def canonical_isomeric_smiles(mol) -> str:
    """Canonical isomeric SMILES (hydrogens removed)."""
    from rdkit import Chem

    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=True)


