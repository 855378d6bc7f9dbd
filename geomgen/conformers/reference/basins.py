r"""A check of a sampled ensemble against an independent search for low-energy basins.

Convergence diagnostics compare chains with each other: R-hat, ESS and the inter-half W1 cannot
see a basin that no chain ever entered. An independent, cheap search can: start from many
geometries, minimise each with MMFF94 and keep the distinct minima. The reference sampler's search
(option ``basin_search``) minimises over-dispersed starts like its chains' own, every discrete
site (amide E/Z, acid syn/anti, nitrogen configuration, ring pucker) in a random state, because
distance geometry alone hardly ever embeds the rarer states (baclofen's acid: no anti-OH minimum
among 200 ETKDGv3 embeddings); :func:`search_minima` is the ETKDGv3-only search an outside check
would run. If the lowest minimum lies well below every basin the sampled conformers relax into
(:func:`sample_minima`: the lowest-energy samples, minimised), the ensemble has missed a basin of
the target law, whatever its diagnostics say:

.. math::

    \Delta = \min_s E_{\min}(\text{sample}_s) - \min_m E(\text{search minimum}_m) > \delta
    \quad\Rightarrow\quad \text{not converged}.

:func:`basin_gap` computes :math:`\Delta`, :func:`gap_within` applies the tolerance. Why a gap in minimum energy means a missed basin:
at 300 K (kT = 0.596 kcal/mol) a basin whose minimum lies :math:`\Delta` below the lowest basin
visited has, up to the ratio of the basins' widths, :math:`e^{\Delta/kT}` times its weight
(:math:`\delta` = 0.5 kcal/mol: a factor of 2.3), so an ensemble of thousands of draws that never
relaxes into it is not a sample of the Boltzmann law unless that basin is unusually narrow. The
check is one-sided: a search that finds nothing lower proves nothing, and a narrow basin may
trip it (a conservative error: a molecule is labelled not converged). The same search gives the
sampler starts in the lowest basins (``basin_starts``), so that chains over-dispersed in the
sense of Gelman and Rubin cover the basins that matter, not only random embeddings that relax
into the nearest one.

What prompted it: baclofen (``NC[C@@H](CC(=O)O)c1ccc(Cl)cc1``), sampled to the evaluation
rule in 35 CPU-s, never left the acid's syn state; an independent rerun spent a third of its
samples in the anti state (``evaluation/conformers/verify_references_rev7.md``), whose lowest
minimum, with the hydroxyl hydrogen-bonded to the amine, lies 0.97 kcal/mol below the syn state's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: a search minimum this far (kcal/mol) below every minimised sample means a missed basin
GAP_TOLERANCE = 0.5
#: energies closer than this (kcal/mol) are one minimum when the search deduplicates
ENERGY_RESOLUTION = 0.01


@dataclass
class Minima:
    """Distinct local minima, lowest first.

    Attributes:
        positions: ``[K, N, 3]`` minimised geometries (Angstrom).
        energies: ``[K]`` their MMFF94 energies (kcal/mol), ascending.
        tried: how many starts were minimised (embeddings that failed are not counted).
    """

    positions: np.ndarray
    energies: np.ndarray
    tried: int

    @property
    def lowest(self) -> float:
        """The lowest energy found (``inf`` when nothing was)."""
        return float(self.energies[0]) if len(self.energies) else float("inf")


def distinct(positions: np.ndarray, energies: np.ndarray, resolution: float = ENERGY_RESOLUTION) -> tuple[np.ndarray, np.ndarray]:
    """Sort by energy and keep one geometry per energy level (``resolution`` kcal/mol): minima of
    equal energy are, for a force field, almost always images of one another (symmetry, mirror)."""
    order = np.argsort(energies, kind="stable")
    pos, e = positions[order], energies[order]
    keep = np.ones(len(e), dtype=bool)
    keep[1:] = np.diff(e) > resolution
    return pos[keep], e[keep]


def _minimised(starts: np.ndarray, mmff, max_iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``starts [K, N, 3]`` minimised: ``(positions [K, N, 3], energies [K])``."""
    done = [mmff.minimize(p, max_iters=max_iters) for p in starts]
    return np.array([p for p, _ in done]).reshape(len(done), -1, 3), np.array([e for _, e in done], dtype=np.float64)


def search_minima(mol, n_starts: int = 64, seed: int = 0, mmff=None, max_iters: int = 500,
                  resolution: float = ENERGY_RESOLUTION) -> Minima:
    """Distinct MMFF94 minima from ``n_starts`` ETKDGv3 embeddings of ``mol``, each minimised.

    Embeddings that change the stereo of ``mol``'s conformer
    (:class:`~geomgen.conformers.stereo.StereoGuard`) are dropped, before and after the
    minimisation. Single-threaded.

    Args:
        mol: RDKit molecule with hydrogens and a conformer (its stereo is the one kept).
        n_starts (int): embeddings tried (default 64).
        seed (int): ETKDG random seed (default 0).
        mmff: the :class:`~geomgen.conformers.mmff.MMFF` of ``mol`` (built when not given), so the
            energies are on the sampler's scale.
        max_iters (int): BFGS iterations per round of :meth:`~geomgen.conformers.mmff.MMFF.minimize`.
        resolution (float): energies closer than this are one minimum (kcal/mol).

    Returns:
        :class:`Minima` (empty when no embedding succeeded).
    """
    from rdkit import Chem
    from rdkit.Chem import rdDistGeom

    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.stereo import StereoGuard

    if n_starts < 1:
        raise ValueError(f"search_minima: n_starts must be at least 1, got {n_starts}")
    mmff = mmff if mmff is not None else MMFF(mol)
    guard = StereoGuard(mol)
    copy = Chem.Mol(mol)
    copy.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = int(seed) % (2**31 - 1) + 1
    params.numThreads = 1
    ids = list(rdDistGeom.EmbedMultipleConfs(copy, int(n_starts), params))
    starts = np.array([copy.GetConformer(i).GetPositions() for i in ids]).reshape(-1, mol.GetNumAtoms(), 3)
    starts = starts[guard.ok(starts)] if len(starts) else starts
    pos, e = _minimised(starts, mmff, max_iters)
    if len(pos):
        ok = guard.ok(pos)
        pos, e = pos[ok], e[ok]
    return Minima(*distinct(pos, e, resolution), int(len(starts)))


def sample_minima(positions, energies, mmff, n: int = 32, max_iters: int = 500,
                  resolution: float = ENERGY_RESOLUTION) -> Minima:
    """The basins the ``n`` lowest-energy samples relax into: those samples, minimised.

    Args:
        positions: ``[S, N, 3]`` sampled geometries.
        energies: ``[S]`` their energies (kcal/mol), which pick the ``n`` lowest.
        mmff: the :class:`~geomgen.conformers.mmff.MMFF` of the molecule.
        n (int): samples minimised (default 32).

    Returns:
        :class:`Minima`.
    """
    positions, energies = np.asarray(positions, dtype=np.float64), np.asarray(energies, dtype=np.float64)
    if positions.ndim != 3 or len(positions) != len(energies):
        raise ValueError(f"sample_minima: expected [S, N, 3] positions and [S] energies, got {positions.shape} and {energies.shape}")
    pick = np.argsort(energies, kind="stable")[:n]
    return Minima(*distinct(*_minimised(positions[pick], mmff, max_iters), resolution), len(pick))


def basin_gap(sampled: Minima, searched: Minima) -> float:
    """How far (kcal/mol) the lowest search minimum lies below the lowest basin the samples relax
    into: positive when the search found something lower; ``nan`` when either is empty."""
    if not len(sampled.energies) or not len(searched.energies):
        return float("nan")
    return sampled.lowest - searched.lowest


def gap_within(gap: float | None, tolerance: float = GAP_TOLERANCE) -> bool:
    """Whether a :func:`basin_gap` passes the check of a run built to ``tolerance`` (kcal/mol): always
    with an infinite tolerance (no check), else only a recorded gap of at most ``tolerance`` (None or
    ``nan``, nothing compared, fails). The one rule of the sampler's label,
    :func:`~geomgen.conformers.reference.store.is_converged` and ``STATS.md``."""
    if not np.isfinite(tolerance):
        return True
    return gap is not None and bool(gap <= tolerance)
