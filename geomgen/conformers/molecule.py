"""Molecule input checks: parse and validate a SMILES or RDKit molecule, canonical SMILES."""

from __future__ import annotations

#: Elements MMFF94 types in a covalent molecule, which geomgen accepts (its other types are free
#: metal ions and halide anions). A molecule of these elements can still hold an atom MMFF94
#: cannot type (e.g. a Si=O double bond): :func:`parse_molecule` checks with RDKit's
#: ``MMFFHasAllMoleculeParams``.
SUPPORTED_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Br", "I"})


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
        raise MoleculeError(f"{label!r}: unsupported element(s) {', '.join(bad)} (MMFF94 has no parameters for them; "
                            f"supported: {', '.join(sorted(SUPPORTED_ELEMENTS - {'H'}))})")
    if any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
        raise MoleculeError(f"{label!r}: radicals are not supported")
    mol = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    from rdkit.Chem import AllChem

    if not AllChem.MMFFHasAllMoleculeParams(mol):
        elements = sorted({a.GetSymbol() for a in mol.GetAtoms()} - {"C", "H"})
        raise MoleculeError(f"{label!r}: MMFF94 cannot type every atom of this molecule (its elements other than C and H: "
                            f"{', '.join(elements) or 'none'})")
    return mol


def canonical_isomeric_smiles(mol) -> str:
    """Canonical isomeric SMILES (hydrogens removed)."""
    from rdkit import Chem

    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=True)


