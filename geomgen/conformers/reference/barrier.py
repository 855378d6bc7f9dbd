r"""The MMFF94 torsion energy of chosen bonds, with its gradient: the term a Hamiltonian replica
ladder scales to free rotation about those bonds; and the intramolecular electrostatic energy
(:class:`ElectrostaticTerm`), which it can scale as well to free hydrogen-bonded states.

For every dihedral quadruple (a, j, k, b) around a chosen bond j-k (a a neighbour of j, b of k,
hydrogens included), MMFF94 adds

.. math::
    E_{abjk}(\phi) = \tfrac12\big(V_1 (1 + \cos\phi) + V_2 (1 - \cos 2\phi) + V_3 (1 + \cos 3\phi)\big)

with :math:`V_1, V_2, V_3` from RDKit's MMFF parameters. Summed over all bonds this is exactly
RDKit's MMFF torsion term (the tests check energy and gradient against RDKit with every other
term switched off). Summed over the rotatable bonds only, it is the part of the energy that
makes their rotational barriers (conjugation is an MMFF :math:`V_2` term) while ring torsions,
bond stretching and the rest stay untouched.
"""

from __future__ import annotations

import numpy as np


class TorsionBarrier:
    """MMFF94 torsion terms of the bonds ``bonds`` of ``mol``, vectorised over quadruples.

    Args:
        mol: RDKit molecule with explicit hydrogens.
        bonds: iterable of ``(j, k)`` atom pairs (bonded); ``None`` for every bond.
        props: RDKit ``MMFFMolProperties`` of ``mol`` (built when not given).

    Shapes:
        pos ``[N, 3]`` -> energy (float, kcal/mol), gradient ``[N, 3]`` (kcal/mol/A).
    """

    def __init__(self, mol, bonds=None, props=None):
        from rdkit import Chem
        from rdkit.Chem import AllChem

        props = props if props is not None else AllChem.MMFFGetMoleculeProperties(Chem.Mol(mol))  # typing rewrites aromaticity
        if bonds is None:
            bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
        quads, params = [], []
        for j, k in bonds:
            j, k = int(j), int(k)
            for a in mol.GetAtomWithIdx(j).GetNeighbors():
                if a.GetIdx() == k:
                    continue
                for b in mol.GetAtomWithIdx(k).GetNeighbors():
                    if b.GetIdx() in (j, a.GetIdx()):
                        continue
                    found = props.GetMMFFTorsionParams(mol, a.GetIdx(), j, k, b.GetIdx())
                    if found:
                        quads.append((a.GetIdx(), j, k, b.GetIdx()))
                        params.append(found[1:])
        self.quads = np.asarray(quads, dtype=np.int64).reshape(-1, 4)
        self.v = np.asarray(params, dtype=np.float64).reshape(-1, 3)
        # layouts for the fast energy: pos[quads_t] is [4, Q, 3] -> transposed to [4, 3, Q]
        self.quads_t = self.quads.T.copy()
        self.v_t = np.ascontiguousarray(self.v.T)

    def __len__(self) -> int:
        return len(self.quads)

    def _geometry(self, pos: np.ndarray):
        p0, p1, p2, p3 = (pos[self.quads[:, m]] for m in range(4))
        f, g, h = p0 - p1, p1 - p2, p3 - p2
        a, b = np.cross(f, g), np.cross(h, g)
        gn = np.linalg.norm(g, axis=-1)
        aa, bb = (a * a).sum(-1), (b * b).sum(-1)
        phi = np.arctan2((np.cross(b, a) * g).sum(-1) / gn, (a * b).sum(-1))
        return f, g, h, a, b, gn, aa, bb, phi

    def _energy_of(self, phi: np.ndarray) -> float:
        v1, v2, v3 = self.v.T
        return float(0.5 * (v1 * (1 + np.cos(phi)) + v2 * (1 - np.cos(2 * phi)) + v3 * (1 + np.cos(3 * phi))).sum())

    def energy(self, pos: np.ndarray) -> float:
        """Torsion energy (kcal/mol) of one geometry (from cos phi alone: the fast path)."""
        if not len(self.quads):
            return 0.0
        p = np.asarray(pos, dtype=np.float64)[self.quads_t].transpose(0, 2, 1)  # [4, 3, Q]
        g = p[1] - p[2]
        f = p[0] - p[1]
        h = p[3] - p[2]
        a = (f[1] * g[2] - f[2] * g[1], f[2] * g[0] - f[0] * g[2], f[0] * g[1] - f[1] * g[0])
        b = (h[1] * g[2] - h[2] * g[1], h[2] * g[0] - h[0] * g[2], h[0] * g[1] - h[1] * g[0])
        ab = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
        c = ab / np.sqrt((a[0] * a[0] + a[1] * a[1] + a[2] * a[2]) * (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]))
        # 1 + cos phi, 1 - cos 2 phi = 2 (1 - c^2), 1 + cos 3 phi = 1 + 4 c^3 - 3 c
        v1, v2, v3 = self.v_t
        return 0.5 * float(v1 @ (1 + c) + v2 @ (2 * (1 - c * c)) + v3 @ (1 + c * (4 * c * c - 3)))

    def energy_grad(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy and its gradient ``[N, 3]`` with respect to the positions."""
        pos = np.asarray(pos, dtype=np.float64)
        grad = np.zeros_like(pos)
        if not len(self.quads):
            return 0.0, grad
        f, g, h, a, b, gn, aa, bb, phi = self._geometry(pos)
        v1, v2, v3 = self.v.T
        de = 0.5 * (-v1 * np.sin(phi) + 2 * v2 * np.sin(2 * phi) - 3 * v3 * np.sin(3 * phi))
        # d phi / d positions (Bekker; Blondel & Karplus 1996), no singularity at phi = 0 or pi
        ga = (gn / aa)[:, None] * a
        hb = (gn / bb)[:, None] * b
        fg = ((f * g).sum(-1) / (aa * gn))[:, None] * a
        hg = ((h * g).sum(-1) / (bb * gn))[:, None] * b
        d0 = -ga
        d3 = hb
        d1 = ga + fg - hg
        d2 = -hb - fg + hg
        for m, d in enumerate((d0, d1, d2, d3)):
            np.add.at(grad, self.quads[:, m], de[:, None] * d)
        return self._energy_of(phi), grad


class ElectrostaticTerm:
    r"""MMFF94's intramolecular electrostatic energy of ``mol``, with its gradient (RDKit, with
    every other term switched off in a copy of the ``MMFFMolProperties``).

    .. math::
        E_{\mathrm{ele}} = \sum_{i<j,\ \ge 1\text{-}4} s_{ij}\, \frac{332.0716\, q_i q_j}{R_{ij} + 0.05}

    (distance-buffered Coulomb, :math:`s_{ij} = 0.75` for 1-4 pairs). In vacuum this is what
    holds intramolecular hydrogen bonds (MMFF94 has no separate hydrogen-bond term), the sticky
    states that scaling the torsion terms alone does not free.

    Shapes:
        pos ``[N, 3]`` -> energy (float, kcal/mol), gradient ``[N, 3]`` (kcal/mol/A).
    """

    def __init__(self, mol, props=None):
        from rdkit import Chem
        from rdkit.Chem import AllChem

        copy = Chem.Mol(mol)  # typing rewrites aromaticity: never on the caller's molecule
        props = AllChem.MMFFGetMoleculeProperties(copy) if props is None else props
        only = AllChem.MMFFGetMoleculeProperties(copy)  # its own switches: props stays untouched
        if only is None:
            raise ValueError("ElectrostaticTerm: MMFF94 cannot type this molecule")
        only.SetMMFFDielectricModel(props.GetMMFFDielectricModel())
        only.SetMMFFDielectricConstant(props.GetMMFFDielectricConstant())
        for term in ("Bond", "Angle", "StretchBend", "Oop", "Torsion", "VdW"):
            getattr(only, f"SetMMFF{term}Term")(False)
        only.SetMMFFEleTerm(True)
        self.ff = AllChem.MMFFGetMoleculeForceField(copy, only, nonBondedThresh=1e4, ignoreInterfragInteractions=False)

    def energy(self, pos: np.ndarray) -> float:
        return self.ff.CalcEnergy(np.asarray(pos, dtype=np.float64).ravel().tolist())

    def energy_grad(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        flat = np.asarray(pos, dtype=np.float64).ravel().tolist()
        return self.ff.CalcEnergy(flat), np.asarray(self.ff.CalcGrad(flat)).reshape(-1, 3)


class SumOfTerms:
    """The sum of energy terms (each with ``energy`` and ``energy_grad``): the part of the energy a
    Hamiltonian replica ladder scales."""

    def __init__(self, *terms):
        self.terms = terms

    def energy(self, pos: np.ndarray) -> float:
        return float(sum(t.energy(pos) for t in self.terms))

    def energy_grad(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        parts = [t.energy_grad(pos) for t in self.terms]
        return float(sum(e for e, _ in parts)), sum(g for _, g in parts)
