"""Conformer generation with VonMisesNet: the Python API behind ``geomgen conformers``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geomgen.chem.embed import MoleculeError
from geomgen.chem.torsions import dihedral_angles

DEFAULT_CHECKPOINT = "models/vonmisesnet.ckpt"


@dataclass
class GenerationReport:
    """What happened to one molecule: conformers made, tries, ESS of Boltzmann weights, seconds."""

    name: str
    ok: bool
    n_conformers: int = 0
    reason: str = ""
    clash_rejected: int = 0
    ess: float | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


class _StereoGuard:
    """Vectorised stereo check of many conformers against the seed (verified against the input).

    Tetrahedral centres: sign of the signed volume of three neighbours around the centre.
    Double bonds with stereo: sign of the cosine of the substituents' dihedral.
    """

    def __init__(self, mol):
        from rdkit import Chem

        self.centres = []
        for a in mol.GetAtoms():
            if a.GetChiralTag() in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW):
                nb = [n.GetIdx() for n in a.GetNeighbors()][:3]
                if len(nb) == 3:
                    self.centres.append([a.GetIdx()] + nb)
        self.dbonds = []
        for b in mol.GetBonds():
            if b.GetBondType() == Chem.BondType.DOUBLE and not b.IsInRing():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                ni = [n.GetIdx() for n in mol.GetAtomWithIdx(i).GetNeighbors() if n.GetIdx() != j]
                nj = [n.GetIdx() for n in mol.GetAtomWithIdx(j).GetNeighbors() if n.GetIdx() != i]
                if ni and nj:
                    self.dbonds.append([ni[0], i, j, nj[0]])
        self.centres = np.asarray(self.centres, dtype=np.int64).reshape(-1, 4)
        self.dbonds = np.asarray(self.dbonds, dtype=np.int64).reshape(-1, 4)
        seed = mol.GetConformer().GetPositions()
        self.ref = self.signature(seed[None])[0]

    def signature(self, pos: np.ndarray) -> np.ndarray:
        c = self.centres
        vol = np.linalg.det(np.stack([pos[:, c[:, m]] - pos[:, c[:, 0]] for m in (1, 2, 3)], -2)) if len(c) else np.zeros((len(pos), 0))
        dih = np.cos(dihedral_angles(pos, self.dbonds)) if len(self.dbonds) else np.zeros((len(pos), 0))
        return np.sign(np.concatenate([vol, dih], -1))

    def ok(self, pos: np.ndarray) -> np.ndarray:
        return (self.signature(pos) == self.ref).all(-1)


class _ClashGuard:
    """Reject conformers with atoms 4+ bonds apart closer than a contact floor: 2.2 A for two
    heavy atoms, 1.8 A for a heavy atom and a hydrogen, 1.5 A for two hydrogens (times
    ``scale``). A pair already closer in the seed (an intramolecular hydrogen bond, a fused ring
    system) gets 0.9 x its seed distance instead, so the seed itself always passes."""

    def __init__(self, mol, scale: float = 1.0):
        from rdkit import Chem

        d = Chem.GetDistanceMatrix(mol)
        iu = np.triu_indices(mol.GetNumAtoms(), 1)
        far = d[iu] >= 4
        self.i, self.j = iu[0][far], iu[1][far]
        heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
        hh = heavy[self.i] & heavy[self.j]
        nh = heavy[self.i] ^ heavy[self.j]
        self.limit = scale * np.where(hh, 2.2, np.where(nh, 1.8, 1.5))
        if mol.GetNumConformers():
            seed = mol.GetConformer().GetPositions()
            self.limit = np.minimum(self.limit, 0.9 * np.linalg.norm(seed[self.i] - seed[self.j], axis=-1))

    def ok(self, pos: np.ndarray) -> np.ndarray:
        if len(self.i) == 0:
            return np.ones(len(pos), dtype=bool)
        dist = np.linalg.norm(pos[:, self.i] - pos[:, self.j], axis=-1)
        return (dist >= self.limit).all(-1)


def _model_path(path) -> Path:
    from geomgen.assets import asset_path

    return Path(path) if path else asset_path(DEFAULT_CHECKPOINT)


class ConformerGenerator:
    """Generate conformers from SMILES with a trained VonMisesNet.

    For each molecule: one seed geometry (ETKDGv3, seeded, MMFF-minimised); the network predicts
    a von Mises mixture per rotatable torsion; torsions are sampled and set on the seed
    (vectorised rigid rotations, so bond lengths, angles and stereo are kept); conformers with
    steric clashes are rejected and resampled (bounded tries); every conformer's stereo is
    checked against the input. Options: MMFF relaxation, and Boltzmann importance resampling
    with weights :math:`\\propto \\exp(-E/k_BT) / q(\\theta)` (q = product of the predicted
    mixtures), reporting the effective sample size.

    Args:
        net: a trained :class:`~geomgen.nn.vonmisesnet.VonMisesNet`.
        max_tries (int): sampling rounds before a molecule is reported as failed (default 10).
    """

    def __init__(self, net, max_tries: int = 10):
        self.net = net.eval()
        self.max_tries = max_tries

    @classmethod
    def from_checkpoint(cls, path=None, **kwargs) -> "ConformerGenerator":
        """Load a checkpoint; with ``path=None`` the shipped model (models/vonmisesnet.ckpt)."""
        from geomgen.nn.vonmisesnet import load_vonmisesnet

        return cls(load_vonmisesnet(_model_path(path)), **kwargs)

    # -- public API ---------------------------------------------------------------------------
    def generate(self, smiles_or_mol, n: int = 10, seed: int = 0, relax: bool = False, boltzmann: bool = False, name: str | None = None):
        """Conformers of one molecule: returns an RDKit molecule with ``n`` conformers.

        Raises:
            MoleculeError: bad input or generation failure (the message says why).
        """
        mols, reports = self.generate_many([(name or "mol-0", smiles_or_mol)], n, seed=seed, relax=relax, boltzmann=boltzmann)
        if mols[0] is None:
            raise MoleculeError(reports[0].reason)
        return mols[0]

    def generate_many(self, items, n: int = 10, seed: int = 0, relax: bool = False, boltzmann: bool = False, batch_size: int = 64):
        """Generate for ``items`` = [(name, smiles_or_mol), ...]; returns (mols, reports), with
        ``None`` in place of molecules that failed (their report says why)."""
        from geomgen.chem import embed_seed, parse_molecule, stereo_matches

        seeds, reports = [], []
        for k, (name, item) in enumerate(items):
            t0 = time.perf_counter()
            try:
                if item is None:
                    raise MoleculeError(f"{name!r}: unreadable record")
                mol = parse_molecule(item, name=name)
                for attempt in range(3):
                    s = embed_seed(mol, seed=seed + 7919 * attempt, n_candidates=1, name=name)
                    if stereo_matches(s, reference=mol):
                        break
                else:
                    raise MoleculeError(f"{name!r}: the seed geometry cannot reproduce the input's stereochemistry")
                seeds.append(s)
                reports.append(GenerationReport(name=name, ok=True, seconds=time.perf_counter() - t0))
            except MoleculeError as exc:
                seeds.append(None)
                reports.append(GenerationReport(name=name, ok=False, reason=str(exc), seconds=time.perf_counter() - t0))
        mols = self._from_seeds([s for s in seeds if s is not None], [r for r, s in zip(reports, seeds) if s is not None],
                                n, seed, relax, boltzmann, batch_size)
        it = iter(mols)
        return [next(it) if s is not None else None for s in seeds], reports

    def generate_from_seeds(self, seed_mols, n: int = 10, seed: int = 0, relax: bool = False, boltzmann: bool = False, batch_size: int = 64):
        """Generate on given seed geometries (molecules with one conformer), e.g. for evaluation."""
        reports = [GenerationReport(name=f"mol-{i}", ok=True) for i in range(len(seed_mols))]
        return self._from_seeds(seed_mols, reports, n, seed, relax, boltzmann, batch_size)

    # -- internals ----------------------------------------------------------------------------
    def _predict(self, seeds, batch_size):
        import torch
        from torch_geometric.data import Batch

        from geomgen.chem import rotatable_torsions
        from geomgen.datasets.molecules import featurize
        from geomgen.distributions import VonMisesMixture

        torsions = [rotatable_torsions(m) for m in seeds]
        params = [None] * len(seeds)
        todo = [i for i, t in enumerate(torsions) if len(t)]
        with torch.no_grad():
            for start in range(0, len(todo), batch_size):
                idx = todo[start : start + batch_size]
                batch = Batch.from_data_list([featurize(seeds[i], torsions[i].atoms) for i in idx])
                loc, conc, logits = self.net(batch)
                counts = [len(torsions[i]) for i in idx]
                for i, lo, co, lg in zip(idx, loc.split(counts), conc.split(counts), logits.split(counts)):
                    params[i] = VonMisesMixture(lo.double(), co.double(), lg.double())
        return torsions, params

    def _from_seeds(self, seeds, reports, n, seed, relax, boltzmann, batch_size):
        import torch
        from rdkit import Chem

        from geomgen.chem import MMFF, set_torsions
        from geomgen.metrics import boltzmann_weights, effective_sample_size

        if n < 1:
            raise ValueError(f"number of conformers must be positive, got {n}")
        t0 = time.perf_counter()
        torsions, mixtures = self._predict(seeds, batch_size)
        share = (time.perf_counter() - t0) / max(len(seeds), 1)
        out = []
        for m, (mol, ts, mix, rep) in enumerate(zip(seeds, torsions, mixtures, reports)):
            t1 = time.perf_counter()
            g = torch.Generator().manual_seed(seed * 1_000_003 + m)
            rng = np.random.default_rng([seed, m])
            seed_pos = mol.GetConformer().GetPositions()
            stereo, clash = _StereoGuard(mol), _ClashGuard(mol)
            want = 4 * n if boltzmann else n
            pos_ok, ang_ok = [], []
            drawn = passed = 0
            for _ in range(self.max_tries):
                # draw enough for the acceptance seen so far (at least 2x, at most 50x what is missing)
                rate = max(passed / drawn, 0.02) if drawn else 0.5
                k = int(min(50, max(2, 1.2 / rate)) * (want - passed)) + 4
                if mix is None:
                    ang = np.zeros((k, 0))
                    pos = np.repeat(seed_pos[None], k, 0)
                else:
                    ang = mix.sample((k,), generator=g).numpy()
                    pos = set_torsions(seed_pos, ts, ang)
                good = clash.ok(pos) & stereo.ok(pos)
                rep.clash_rejected += int((~good).sum())
                drawn += k
                passed += int(good.sum())
                pos_ok.append(pos[good])
                ang_ok.append(ang[good])
                if sum(len(p) for p in pos_ok) >= want:
                    break
            pos = np.concatenate(pos_ok)[:want]
            ang = np.concatenate(ang_ok)[:want]
            if len(pos) < want:
                rep.ok, rep.reason = False, (f"{rep.name!r}: only {len(pos)} of {want} sampled conformers passed the clash and "
                                             f"stereo checks after {self.max_tries} tries")
                out.append(None)
                continue
            mmff = None
            energies = None
            props = [{} for _ in range(n)]
            if boltzmann:
                mmff = MMFF(mol)
                e = mmff.energies(pos)
                logq = mix.log_prob(torch.from_numpy(ang)).sum(-1).numpy() if mix is not None else np.zeros(len(e))
                w = boltzmann_weights(e, log_proposal=logq)
                rep.ess = effective_sample_size(w)
                # systematic resampling of n conformers
                u = (rng.random() + np.arange(n)) / n
                pick = np.minimum(np.searchsorted(np.cumsum(w), u), len(w) - 1)
                pos, ang, energies = pos[pick], ang[pick], e[pick]
                for c in range(n):
                    props[c].update({"boltzmann_weight": float(w[pick[c]]), "boltzmann_ess": float(rep.ess)})
            result = Chem.Mol(mol)
            result.RemoveAllConformers()
            for p in pos:
                conf = Chem.Conformer(result.GetNumAtoms())
                for a, x in enumerate(p):
                    conf.SetAtomPosition(a, (float(x[0]), float(x[1]), float(x[2])))
                result.AddConformer(conf, assignId=True)
            if relax:
                from rdkit.Chem import AllChem

                res = AllChem.MMFFOptimizeMoleculeConfs(result, numThreads=1, maxIters=200)
                energies = np.array([e for _, e in res])
                relaxed = np.stack([c.GetPositions() for c in result.GetConformers()])
                bad = ~stereo.ok(relaxed)
                if bad.any():  # relaxation inverted a centre (e.g. a stereogenic nitrogen): keep the unrelaxed geometry
                    for c in np.flatnonzero(bad):
                        conf = result.GetConformer(int(c))
                        for a, x in enumerate(pos[c]):
                            conf.SetAtomPosition(a, (float(x[0]), float(x[1]), float(x[2])))
                    mmff = mmff or MMFF(mol)
                    energies[bad] = mmff.energies(pos[bad])
                    rep.extra["relax_reverted"] = int(bad.sum())
            if energies is None and (relax or boltzmann):
                mmff = mmff or MMFF(mol)
                energies = mmff.energies(pos)
            for c in range(n):
                if energies is not None:
                    props[c]["MMFF94_energy_kcal_mol"] = float(energies[c])
                if mix is not None:
                    props[c]["torsions_rad"] = " ".join(f"{t:.4f}" for t in ang[c])
            for conf, pr in zip(result.GetConformers(), props):
                for key, val in pr.items():
                    if isinstance(val, float):
                        conf.SetDoubleProp(key, val)
                    else:
                        conf.SetProp(key, str(val))
            rep.n_conformers = n
            rep.seconds += share + time.perf_counter() - t1
            out.append(result)
        return out
