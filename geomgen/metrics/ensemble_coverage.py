"""Conformer-ensemble coverage (COV) and matching (AMR) with symmetry-aware heavy-atom RMSD."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_THRESHOLDS = (0.5, 0.75, 1.25)


def _heavy_coords(mol) -> tuple[object, np.ndarray]:
    from rdkit import Chem

    heavy = Chem.RemoveHs(mol, sanitize=False)
    if heavy.GetNumConformers() == 0:
        raise ValueError("molecule has no conformers")
    xyz = np.stack([c.GetPositions() for c in heavy.GetConformers()]).astype(np.float64)
    return heavy, xyz


def rmsd_matrix(reference, generated, max_matches: int = 1000) -> np.ndarray:
    r"""Symmetry-aware heavy-atom RMSD (after optimal superposition) between all conformer pairs.

    .. math::
        \mathrm{RMSD}(R, G) = \min_{\sigma \in \mathrm{Aut}} \min_{U \in SO(3)}
        \sqrt{\tfrac{1}{A}\textstyle\sum_a \|R_a - U G_{\sigma(a)}\|^2}

    The same quantity as RDKit's :func:`rdkit.Chem.rdMolAlign.GetBestRMS` on heavy atoms,
    vectorised: the graph isomorphisms are enumerated once and every pair is superposed by the
    Kabsch algorithm in closed form (singular values of the 3x3 covariance, with reflection
    correction).

    Args:
        reference: RDKit molecule with conformers (hydrogens are ignored).
        generated: RDKit molecule of the same compound with conformers.
        max_matches (int, optional): cap on enumerated isomorphisms (default 1000).

    Returns:
        numpy array ``[n_reference_conformers, n_generated_conformers]`` in Angstrom.
    """
    ref, r = _heavy_coords(reference)
    gen, g = _heavy_coords(generated)
    if ref.GetNumAtoms() != gen.GetNumAtoms():
        raise ValueError(
            f"rmsd_matrix: reference has {ref.GetNumAtoms()} heavy atoms, generated has {gen.GetNumAtoms()}"
        )
    matches = gen.GetSubstructMatches(ref, uniquify=False, useChirality=False, useQueryQueryMatches=False, maxMatches=max_matches)
    if not matches:
        raise ValueError("rmsd_matrix: the generated molecule does not match the reference graph")
    n_atoms = r.shape[1]
    r = r - r.mean(1, keepdims=True)
    g = g - g.mean(1, keepdims=True)
    rr = (r**2).sum((1, 2))
    gg = (g**2).sum((1, 2))
    best = np.full((len(r), len(g)), np.inf)
    r_flat = r.transpose(0, 2, 1).reshape(-1, n_atoms)  # [nr*3, A]
    for m in matches:
        gm = g[:, list(m), :]  # generated atoms reordered to the reference's order
        g_flat = gm.transpose(1, 0, 2).reshape(n_atoms, -1)  # [A, ng*3]
        h = (r_flat @ g_flat).reshape(len(r), 3, len(g), 3).transpose(0, 2, 1, 3)  # [nr, ng, 3, 3]
        s = np.linalg.svd(h, compute_uv=False)
        sign = np.sign(np.linalg.det(h))
        trace = s[..., 0] + s[..., 1] + np.where(sign < 0, -1.0, 1.0) * s[..., 2]
        msd = (rr[:, None] + gg[None, :] - 2 * trace) / n_atoms
        best = np.minimum(best, msd)
    return np.sqrt(np.clip(best, 0, None))


def coverage(reference, generated, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict:
    r"""Coverage and matching scores of a generated conformer ensemble against a reference one.

    With :math:`D_{ij}` the heavy-atom RMSD between reference conformer i and generated
    conformer j (:func:`rmsd_matrix`), as in GeoMol / GeoDiff / torsional diffusion:

    .. math::
        \mathrm{COV\text{-}R}(\delta) = \tfrac{1}{|R|}\big|\{i : \min_j D_{ij} < \delta\}\big|,\qquad
        \mathrm{AMR\text{-}R} = \tfrac{1}{|R|}\textstyle\sum_i \min_j D_{ij}

    and the precision scores COV-P / AMR-P are the same on :math:`D^\top`. Means over
    molecules are the caller's.

    Args:
        reference: RDKit molecule with the reference conformers.
        generated: RDKit molecule with the generated conformers.
        thresholds (sequence of float, optional): RMSD thresholds in Angstrom
            (default 0.5, 0.75, 1.25).

    Returns:
        dict with keys ``"COV-R"``, ``"COV-P"`` (each a dict threshold -> fraction),
        ``"AMR-R"``, ``"AMR-P"`` (Angstrom).
    """
    d = rmsd_matrix(reference, generated)
    min_r = d.min(1)
    min_p = d.min(0)
    return {
        "COV-R": {float(t): float((min_r < t).mean()) for t in thresholds},
        "AMR-R": float(min_r.mean()),
        "COV-P": {float(t): float((min_p < t).mean()) for t in thresholds},
        "AMR-P": float(min_p.mean()),
    }
