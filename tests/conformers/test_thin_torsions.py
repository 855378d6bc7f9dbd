"""Reference sets whose molecules store different numbers of samples (sampler versions: 400 or 800)."""

import torch
from torch_geometric.data import Batch, Data

from geomgen.conformers.dataset import ThinTorsions


def _mol(t: int, s: int) -> Data:
    return Data(torsion_angles=torch.arange(t * s, dtype=torch.float32).reshape(t, s))


def test_thin_torsions_gives_one_sample_count_per_batch():
    thin = ThinTorsions(400)
    a, b = thin(_mol(2, 800)), thin(_mol(3, 400))
    assert a.torsion_angles.shape == (2, 400) and torch.equal(b.torsion_angles, _mol(3, 400).torsion_angles)
    # evenly spaced, first and last kept, deterministic
    assert a.torsion_angles[0, 0] == 0 and a.torsion_angles[0, -1] == 799 and torch.equal(thin(_mol(2, 800)).torsion_angles, a.torsion_angles)
    assert Batch.from_data_list([a, b]).torsion_angles.shape == (5, 400)
    assert thin(_mol(1, 40)).torsion_angles.shape == (1, 40)
