"""evaluation/conformers/coupling_headroom.py: disjoint sets, the product of the marginals, the summary."""
import numpy as np
import pytest

from evaluation.conformers import coupling_headroom as H


def _reference(angles):
    from geomgen.conformers import embed_seed, parse_molecule, rotatable_torsions
    from geomgen.conformers.reference.store import ReferenceMolecule

    mol = embed_seed(parse_molecule("CCCCCC"), seed=0)  # butyl chain: three rotatable torsions
    ts = rotatable_torsions(mol)
    angles = np.asarray(angles, dtype=np.float32)
    assert angles.shape[1] == len(ts)
    return ReferenceMolecule(id="m", smiles="CCCCCC", mol=mol, torsion_atoms=ts.atoms, angles=angles,
                             energies=np.zeros(len(angles)), diagnostics={}, symmetry=np.ones(len(ts), np.int64))


def _torsions(mol, ref):
    from geomgen.conformers.torsions import dihedral_angles

    return dihedral_angles(np.stack([c.GetPositions() for c in mol.GetConformers()]), ref.torsion_atoms)


def test_reference_and_compared_samples_are_disjoint():
    ref, rest = H.disjoint_indices(100, 20)
    assert len(ref) == 20 and len(rest) == 80 and not set(ref) & set(rest)
    assert ref[0] == 0 and ref[-1] == 99
    with pytest.raises(ValueError, match="at least 40 samples"):
        H.disjoint_indices(39, 20)


def test_independent_draw_keeps_each_marginal_and_breaks_the_coupling():
    # perfectly coupled torsions: all three at +60 deg or all three at 180 deg
    rng = np.random.default_rng(0)
    state = rng.integers(0, 2, 400)
    angles = np.where(state[:, None] == 1, np.pi / 3, np.pi) * np.ones((1, 3))
    ref = _reference(angles)
    pool = np.arange(400)
    joint = _torsions(H.subset(ref, pool[:200]).conformers(), ref)
    indep = _torsions(H.independent_draw(ref, pool, 400, np.random.default_rng(1)), ref)
    near = lambda a, b: np.abs(np.angle(np.exp(1j * (a - b)))) < 1e-3  # noqa: E731
    # the joint law: every conformer has its three torsions equal; the product of the marginals
    # mixes them (all equal with probability 1/4 when each is a fair coin)
    assert (near(joint[:, 0], joint[:, 1]) & near(joint[:, 1], joint[:, 2])).all()
    same = (near(indep[:, 0], indep[:, 1]) & near(indep[:, 1], indep[:, 2])).mean()
    assert 0.15 < same < 0.35
    # each torsion keeps its marginal: only the two values, in about the stored shares
    for t in range(3):
        assert (near(indep[:, t], np.pi / 3) | near(indep[:, t], np.pi)).all()
        assert abs(near(indep[:, t], np.pi / 3).mean() - state.mean()) < 0.1


def test_joint_set_scores_like_the_reference_itself():
    state = np.random.default_rng(0).integers(0, 2, 200)
    angles = np.where(state[:, None] == 1, np.pi / 3, np.pi) * np.ones((1, 3))
    rec = H.molecule_scores(_reference(angles), 20, np.random.default_rng(0))
    # two conformers in all, both among 20 joint draws (but with probability 2^-19): each
    # reference conformer has an identical one
    assert rec["joint"]["COV-R"] == 1.0 and rec["joint"]["AMR-R"] < 1e-3
    assert set(rec) >= {"independent", "independent + clash check", "clash_rejected", "joint_clash_share"}


def test_summary_pairs_the_differences_over_molecules():
    recs = [{"id": str(i), "clash_rejected": 0.1 * i, "joint_clash_share": 0.0,
             "joint": {"COV-R": 0.9, "AMR-R": 0.3},
             "independent": {"COV-R": 0.8, "AMR-R": 0.4},
             "independent + clash check": {"COV-R": 0.9 - 0.1 * i, "AMR-R": 0.3 + 0.1 * i}} for i in range(3)]
    s = H.summarize(recs + [{"id": "x", "clash_rejected": 0.3, "joint_clash_share": 0.0, "joint": {"COV-R": 1, "AMR-R": 0}}])
    assert s["molecules"] == 3 and s["clash_rejected"] == pytest.approx(0.15)
    assert s["joint - independent COV-R"][0] == pytest.approx(0.1) and s["joint - independent COV-R"][1] == pytest.approx(0.0)
    mean, se = s["joint - independent + clash check AMR-R"]
    assert mean == pytest.approx(-0.1) and se == pytest.approx(0.1 / np.sqrt(3))
