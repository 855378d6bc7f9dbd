import numpy as np

from geomgen.conformers.reference.build import build_reference_set
from geomgen.conformers.reference.store import assemble, load_reference_set
from geomgen.metrics import rmsd_matrix

TINY = dict(n_chains=2, n_samples=30, warmup_sweeps=10, round_sweeps=40, min_sweeps=40, max_sweeps=40)


def test_build_resume_assemble_load_roundtrip(tmp_path):
    csv_path = tmp_path / "smiles_tiny.csv"
    csv_path.write_text("id,smiles,source\nm0,CCCC,test\nm1,C1CC,test\nm2,OCC(=O)Nc1ccccc1,test\n")
    work = tmp_path / "work"
    recs = build_reference_set(csv_path, work, TINY, jobs=1, progress=False)
    assert {r["id"]: r["ok"] for r in recs} == {"m0": True, "m1": False, "m2": True}
    assert "unparsable" in next(r for r in recs if r["id"] == "m1")["error"]
    # resume: nothing left to do
    assert build_reference_set(csv_path, work, TINY, jobs=1, progress=False) == []
    info = assemble(csv_path, work, tmp_path / "ref.npz")
    assert info["molecules"] == 2 and len(info["failures"]) == 1 and info["missing"] == 0
    mols = load_reference_set(str(tmp_path / "ref.npz"))
    assert [m.id for m in mols] == ["m0", "m2"]
    m = mols[1]
    assert m.angles.shape == (30, len(m.torsion_atoms)) and m.energies.shape == (30,)
    assert np.all(np.abs(m.angles) <= np.pi)
    assert m.diagnostics["n_chains"] == 2
    # quantisation error is below 1e-4 rad: compare with the per-molecule file
    with np.load(work / "m2.npz") as z:
        q = z["angles"].astype(np.float64) / 65536 * 2 * np.pi - np.pi
    np.testing.assert_allclose(m.angles, q, atol=1e-6)
    # rebuilt reference conformers carry the sampled torsions
    from geomgen.conformers import dihedral_angles

    confs = m.conformers(5)
    assert confs.GetNumConformers() == 5
    pos = np.stack([c.GetPositions() for c in confs.GetConformers()])
    got = dihedral_angles(pos, m.torsion_atoms)
    idx = np.linspace(0, 29, 5).round().astype(int)
    assert np.abs(np.angle(np.exp(1j * (got - m.angles[idx])))).max() < 1e-3
    assert rmsd_matrix(confs, confs).shape == (5, 5)
