"""PyG dataset of molecule graphs (:mod:`geomgen.conformers.features`) with their reference
torsion samples, for training VonMisesNet; the LightningDataModule is
:mod:`geomgen.conformers.datamodule`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from geomgen.conformers.features import MoleculeGraph, featurize


class TorsionData(Data):
    """A molecule graph with its torsions; ``torsion_index`` [T, 4] is shifted when batched."""

    def __inc__(self, key, value, *args, **kwargs):
        if key == "torsion_index":
            return self.num_nodes
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key, value, *args, **kwargs):
        if key == "torsion_index":
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)

    @classmethod
    def from_graph(cls, g: MoleculeGraph) -> TorsionData:
        d = cls(x=g.x, edge_index=g.edge_index, edge_attr=g.edge_attr, torsion_index=g.torsion_index, num_nodes=g.num_nodes)
        if g.torsion_attr is not None:
            d.torsion_attr = g.torsion_attr
        return d


def default_cache_root() -> Path:
    return Path(os.environ.get("GEOMGEN_CACHE", Path.home() / ".cache" / "geomgen"))


torch.serialization.add_safe_globals([TorsionData])


class ReferenceTorsionDataset(InMemoryDataset):
    """Molecule graphs with their reference torsion samples, from a reference set.

    ``torsion_angles`` [T, S] holds S reference samples of each torsion (radians) and
    ``torsion_symmetry`` [T] each torsion's graph-symmetry order (the convergence rule's);
    ``torsion_converged`` [T] whether each torsion's references pass the convergence rule on
    their own (False where the diagnostics carry no per-torsion verdict, as for earlier samplers);
    ``torsion_attr`` [T, 6] the torsion-potential features (for networks that read them). Processed
    once and cached (PyG ``InMemoryDataset``) under ``root`` (default
    ``~/.cache/geomgen/molecules``, or ``$GEOMGEN_CACHE``); the cache key includes the source
    file's size and modification time and the featurisation version.

    Args:
        split (str): ``train``, ``val``, ``test``, ``drugs`` or a path to a reference ``.npz``.
        root (str, optional): cache folder.
        converged_only (bool): keep only molecules whose references pass the convergence rule
            (:mod:`geomgen.conformers.reference.convergence`; default False).
        rebuilt_only (bool): keep only molecules sampled by the current reference sampler
            (``SAMPLER_VERSION`` of :mod:`geomgen.conformers.reference.build`); a set whose
            rebuild is under way also holds earlier, shorter-run references (default False).
        transform, pre_transform: PyG transforms.
    """

    VERSION = 5

    def __init__(self, split: str, root: str | None = None, converged_only: bool = False, transform=None, pre_transform=None,
                 rebuilt_only: bool = False):
        from geomgen.assets import asset_path

        p = Path(split)
        self.source = p if p.suffix == ".npz" else asset_path(f"data/conformers/reference_{split}.npz")
        st = self.source.stat()
        key = hashlib.sha1(f"{self.source.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
        self.converged_only = converged_only
        self.rebuilt_only = rebuilt_only
        self.tag = (f"{self.source.stem}_v{self.VERSION}_{key}" + ("_converged" if converged_only else "")
                    + ("_rebuilt" if rebuilt_only else ""))
        super().__init__(str(Path(root) if root else default_cache_root() / "molecules"), transform, pre_transform)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self):
        return []

    @property
    def processed_file_names(self):
        return [f"{self.tag}.pt"]

    def download(self):
        """Nothing to download: the source is a shipped (or given) reference ``.npz``; PyG
        calls this hook only when ``raw_file_names`` is non-empty, which it is not."""

    def process(self):
        from geomgen.conformers.reference.build import SAMPLER_VERSION
        from geomgen.conformers.reference.store import load_reference_set

        items = []
        for ref in load_reference_set(str(self.source), converged_only=self.converged_only):
            if len(ref.torsion_atoms) == 0 or (self.rebuilt_only and ref.diagnostics.get("sampler_version") != SAMPLER_VERSION):
                continue
            d = TorsionData.from_graph(featurize(ref.mol, ref.torsion_atoms, torsion_features=True))
            d.torsion_angles = torch.from_numpy(np.ascontiguousarray(ref.angles.T)).float()
            d.torsion_symmetry = torch.from_numpy(np.asarray(ref.symmetry, dtype=np.int64))
            verdict = ref.diagnostics.get("torsion_converged")
            d.torsion_converged = (torch.tensor(verdict, dtype=torch.bool) if isinstance(verdict, list) and len(verdict) == len(ref.symmetry)
                                   else torch.zeros(len(ref.symmetry), dtype=torch.bool))
            d.mol_id = ref.id
            if self.pre_transform is not None:
                d = self.pre_transform(d)
            items.append(d)
        if not items:
            which = " ".join(["converged"] * self.converged_only + ["rebuilt"] * self.rebuilt_only + ["molecule"])
            raise ValueError(f"{self.source}: no {which} with rotatable torsions to train or evaluate on")
        # one stored tensor holds every molecule's [T, S] samples, so S must be shared: sampler
        # versions store 400 or 800 samples per molecule, thinned evenly to the smallest count
        thin = ThinTorsions(min(d.torsion_angles.shape[1] for d in items))
        self.save([thin(d) for d in items], self.processed_paths[0])


class SubsampleTorsions:
    """Transform: keep ``n`` random reference samples per torsion (fresh each access)."""

    def __init__(self, n: int = 64):
        self.n = n

    def _indices(self, s: int) -> torch.Tensor:
        return torch.randint(0, s, (self.n,))

    def __call__(self, data):
        s = data.torsion_angles.shape[1]
        if s > self.n:
            data = data.clone()
            data.torsion_angles = data.torsion_angles[:, self._indices(s)]
        return data


class ThinTorsions(SubsampleTorsions):
    """Transform: keep at most ``n`` evenly spaced reference samples per torsion (deterministic).

    A dataset stores (and a batch concatenates) the molecules' ``torsion_angles`` along the torsion
    axis, so every molecule must carry the same number of samples; reference sets mix sampler
    versions that store 400 and 800 samples per molecule (:meth:`ReferenceTorsionDataset.process`
    thins them to the smallest). Evenly spaced draws of a chain's thinned samples keep its law."""

    def __init__(self, n: int = 400):
        super().__init__(n)

    def _indices(self, s: int) -> torch.Tensor:
        return torch.linspace(0, s - 1, self.n).round().long()


class SymmetrizeTorsions:
    """Transform: shift each reference sample of a torsion of graph-symmetry order :math:`s` by
    :math:`2\\pi k / s` with :math:`k` uniform in :math:`\\{0, \\dots, s-1\\}` (fresh each access).

    The Boltzmann distribution is invariant under exchanging graph-equivalent atoms, and for a
    torsion of order :math:`s` (:func:`~geomgen.conformers.reference.convergence.torsion_symmetry`)
    such an exchange moves the dihedral over the labelled atoms by a multiple of :math:`2\\pi / s`
    (exactly for a planar ring's flip; up to the small spread of bond angles for an sp3 rotor, as
    in the evaluation, which compares torsions modulo the same period). A reference chain that
    stayed in one of the equivalent copies (a slow phenyl flip) carries a preference for one copy
    that no graph feature can predict; symmetrizing removes it from the training target. Orders 1
    are left as they are."""

    def __call__(self, data):
        order = data.torsion_symmetry
        if bool((order > 1).any()):
            k = torch.floor(torch.rand(data.torsion_angles.shape) * order[:, None]).clamp(max=(order[:, None] - 1))
            data = data.clone()
            shifted = data.torsion_angles + 2 * torch.pi * k / order[:, None]  # angles in [-pi, pi), shifts in [0, 2 pi)
            data.torsion_angles = torch.where(shifted >= torch.pi, shifted - 2 * torch.pi, shifted)
        return data
