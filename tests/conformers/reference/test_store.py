import numpy as np

from geomgen.conformers.mmff import with_conformers
from geomgen.conformers.reference.build import SAMPLER_VERSION, build_reference_set
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


def _csv(tmp_path, rows):
    path = tmp_path / "smiles.csv"
    path.write_text("id,smiles,source\n" + "".join(f"{i},{s},test\n" for i, s in rows))
    return path


def test_build_on_a_dask_cluster_equals_local(tmp_path):
    """Any concurrent.futures executor: a dask.distributed LocalCluster gives the same arrays."""
    distributed = __import__("pytest").importorskip("distributed")
    csv_path = _csv(tmp_path, [("a", "CCCO"), ("b", "OCC(=O)Nc1ccccc1")])
    build_reference_set(csv_path, tmp_path / "local", TINY, jobs=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        recs = build_reference_set(csv_path, tmp_path / "dask", TINY, executor=client.get_executor(), progress=False)
    assert sorted(r["id"] for r in recs) == ["a", "b"] and all(r["ok"] for r in recs)
    for i in ("a", "b"):
        with np.load(tmp_path / "local" / f"{i}.npz") as x, np.load(tmp_path / "dask" / f"{i}.npz") as y:
            for key in ("angles", "energies", "torsion_atoms", "symmetry", "molblock"):
                np.testing.assert_array_equal(x[key], y[key])


def test_assemble_keeps_molecules_not_yet_rebuilt(tmp_path):
    import json

    csv_path = _csv(tmp_path, [("a", "CCCO"), ("b", "CCCCO")])
    build_reference_set(csv_path, tmp_path / "old", TINY, jobs=1, progress=False)
    out = tmp_path / "ref.npz"
    assemble(csv_path, tmp_path / "old", out)
    more = dict(TINY, n_samples=20)
    build_reference_set(csv_path, tmp_path / "new", more, jobs=1, progress=False, limit=1)  # only "a"
    info = assemble(csv_path, tmp_path / "new", out)
    assert (info["rebuilt"], info["kept"], info["molecules"]) == (1, 1, 2)
    mols = {m.id: m for m in load_reference_set(str(out))}
    assert len(mols["a"].energies) == 20 and len(mols["b"].energies) == 30
    assert mols["a"].diagnostics["sampler_version"] == SAMPLER_VERSION and json.loads(json.dumps(mols["b"].diagnostics))


def test_converged_flag_and_filter(tmp_path):
    csv_path = _csv(tmp_path, [("a", "CCO"), ("b", "CC(=O)Nc1cccc(Cl)c1")])
    build_reference_set(csv_path, tmp_path / "w", TINY, jobs=1, progress=False)
    assemble(csv_path, tmp_path / "w", tmp_path / "ref.npz")
    mols = load_reference_set(str(tmp_path / "ref.npz"))
    flags = {m.id: m.converged for m in mols}
    assert flags == {"a": True, "b": False}  # no rotatable torsion; a hard torsion in 2 x 40 sweeps
    kept = load_reference_set(str(tmp_path / "ref.npz"), converged_only=True)
    assert [m.id for m in kept] == [i for i, f in flags.items() if f]
    for m in mols:
        assert len(m.symmetry) == len(m.torsion_atoms)
        assert len(m.diagnostics["rhat"]) == len(m.torsion_atoms)


def test_format_1_files_still_load():
    """The shipped drugs set loads, symmetry orders included (computed for the references built
    by the earlier sampler, whose format 1 did not store them)."""
    from geomgen.conformers.reference.store import is_converged

    mols = load_reference_set("drugs")
    assert len(mols) > 100
    m = next(m for m in mols if len(m.torsion_atoms))
    assert m.symmetry.shape == (len(m.torsion_atoms),) and set(m.symmetry.tolist()) <= {1, 2, 3, 4, 6}
    assert is_converged({"rhat_max": 1.01, "ess_min": 500, "interchain_w1_max": 0.05, "n_torsions": 2})
    assert not is_converged({"rhat_max": 1.2, "ess_min": 500, "interchain_w1_max": 0.05, "n_torsions": 2})


def test_ring_flips_are_stored_and_rebuilt(tmp_path):
    """With ring flips on, each sample records which rings are in the other chair than the seed's,
    and the rebuilt reference conformers are in that chair."""
    from geomgen.conformers import dihedral_angles
    from geomgen.conformers.reference.ring_flip import flippable_rings

    csv_path = _csv(tmp_path, [("m0", "CC1CCCCC1")])
    cfg = dict(TINY, n_samples=40, round_sweeps=300, min_sweeps=300, max_sweeps=300, ring_flips_per_sweep=1.0)
    build_reference_set(csv_path, tmp_path / "w", cfg, jobs=1, progress=False)
    assemble(csv_path, tmp_path / "w", tmp_path / "ref.npz")
    (m,) = load_reference_set(str(tmp_path / "ref.npz"))
    assert m.ring_flipped.shape == (40,) and set(m.ring_flipped.tolist()) == {0, 1}
    ring = flippable_rings(m.mol)[0][0]
    quads = np.array([[ring[i], ring[(i + 1) % 6], ring[(i + 2) % 6], ring[(i + 3) % 6]] for i in range(6)])
    seed = dihedral_angles(m.mol.GetConformer().GetPositions(), quads)
    pos = np.stack([c.GetPositions() for c in m.conformers().GetConformers()])
    # the bit is the physical pucker (the methyl axial where the seed's is equatorial, or the other
    # way round); the labelled ring torsions are the seed's reversed by the flip or by the mirror flag
    # that carries a relabelling of the ring's atoms (build.sample_representation)
    from geomgen.conformers.reference.ring_flip import axial, pucker_reporter

    bond = pucker_reporter(m.mol, ring)
    seed_axial = axial(m.mol.GetConformer().GetPositions(), ring, bond)[0]
    np.testing.assert_array_equal(axial(pos, ring, bond) != seed_axial, m.ring_flipped == 1)
    np.testing.assert_array_equal(dihedral_angles(pos, quads) @ seed < 0, (m.ring_flipped == 1) ^ (m.mirrored == 1))
    # references sampled without flips (also those assembled before format 3), or of molecules
    # without a flippable ring, have nothing flipped
    unflippable = [r for r in load_reference_set("val")
                   if not r.diagnostics.get("config", {}).get("ring_flips_per_sweep") or not flippable_rings(r.mol)]
    assert unflippable and not any(r.ring_flipped.any() for r in unflippable)


def test_mirrored_samples_are_rebuilt_with_their_handedness():
    """Mirror moves on an achiral molecule with a flippable ring: each sample records whether it
    is a mirror image, and conformers() rebuilds it as one (ring pucker and ethyl rotamer); read
    without the flag, the mirrored samples come back as other conformers."""
    import dataclasses

    from geomgen.conformers import SamplerConfig, embed_seed, parse_molecule, sample_reference
    from geomgen.conformers.reference.build import ring_flip_bits, sample_representation
    from geomgen.conformers.reference.store import ReferenceMolecule

    mol = embed_seed(parse_molecule("CCC1CCCCC1"), seed=0)
    cfg = SamplerConfig(n_chains=2, n_samples=60, warmup_sweeps=50, round_sweeps=300, min_sweeps=300, max_sweeps=300,
                        ring_flips_per_sweep=1.0, mirror_moves=True, seed=3)
    res = sample_reference(mol, cfg)
    assert res.diagnostics["mirror_moves"] and set(res.mirrored.tolist()) == {False, True}
    # as the build writes them: the ethyl labels the pucker; the symmetry move's relabelling of the
    # ring reverses its labelled torsions, which the mirror flag then carries (sample_representation)
    bits, mirror_flags = sample_representation(mol, res.positions, res.mirrored)
    ref = ReferenceMolecule(id="m", smiles="", mol=mol, torsion_atoms=res.torsions.atoms, angles=res.angles, energies=res.energies,
                            diagnostics={}, ring_flipped=bits, mirrored=mirror_flags)

    def rmsd_to_samples(reference):
        return np.diag(rmsd_matrix(with_conformers(mol, res.positions), reference.conformers()))

    good = rmsd_to_samples(ref)
    wrong = rmsd_to_samples(dataclasses.replace(ref, mirrored=None, ring_flipped=ring_flip_bits(mol, res.positions)))
    assert np.median(good) < 0.25 and np.quantile(good, 0.9) < 0.3  # every sample, not just most
    flagged = mirror_flags.astype(bool)
    assert 0 < flagged.sum() < len(flagged)
    assert np.median(wrong[flagged]) > np.median(good[flagged]) + 0.2


def test_should_resample_selects_unconverged_and_ring_references_without_flips():
    from geomgen.conformers.reference.build import should_resample

    per_torsion = {"n_torsions": 1, "rhat": [1.01], "ess": [500.0], "w1": [0.05]}
    failing = dict(per_torsion, ess=[20.0])
    no_flips, flips = {"config": {"n_chains": 4}}, {"config": {"ring_flips_per_sweep": 1.0}}
    cyclohexyl, phenyl = "CC1CCCCC1", "Cc1ccccc1"
    assert not should_resample(dict(per_torsion, **no_flips), cyclohexyl)  # nothing asked
    assert should_resample(dict(failing, **flips), phenyl, unconverged=True)
    assert not should_resample(dict(per_torsion, **flips), phenyl, unconverged=True)
    assert not should_resample(dict(failing, **flips), phenyl, unconverged=True, config=flips["config"])  # already tried so
    assert should_resample(dict(per_torsion, **no_flips), cyclohexyl, rings=True)
    assert not should_resample(dict(per_torsion, **flips), cyclohexyl, rings=True)  # already sampled with flips
    assert not should_resample(dict(per_torsion, **no_flips), phenyl, rings=True)  # an aromatic ring does not flip


def test_the_label_is_judged_by_the_targets_the_molecule_was_built_to():
    """A molecule built to ESS >= 400 (the evaluation splits of sampler version 4) that stopped at
    its CPU cap with ESS 236 is not converged, although it would pass the default ESS 100; explicit
    targets still decide when given, and diagnostics without a recorded config use the defaults."""
    from geomgen.conformers.reference.convergence import ConvergenceTargets
    from geomgen.conformers.reference.store import is_converged, recorded_targets

    diag = {"n_torsions": 2, "rhat": [1.016, 1.005], "ess": [236.0, 702.0], "w1": [0.031, 0.017],
            "config": {"ess_target": 400.0, "rhat_target": 1.05, "w1_target": 0.1}}
    assert recorded_targets(diag).ess == 400.0 and recorded_targets(diag).state_gap == ConvergenceTargets().state_gap
    assert not is_converged(diag)
    assert is_converged(diag, ConvergenceTargets())
    assert is_converged({k: v for k, v in diag.items() if k != "config"})
    assert is_converged({**diag, "ess": [400.0, 702.0]})
    # revision 7: an agreement target is part of the label; the run's recorded figure must reach it
    diag7 = {**diag, "ess": [400.0, 702.0], "config": {**diag["config"], "agreement_target": 0.95}}
    assert recorded_targets(diag7).agreement == 0.95
    assert not is_converged({**diag7, "self_agreement": 0.9}) and not is_converged(diag7)
    assert is_converged({**diag7, "self_agreement": 0.96})


def test_amide_states_are_stored_and_rebuilt():
    """Format 5: each sample records its amide E/Z state, and conformers() rebuilds it in that
    state (a tertiary amide, about 40/60 in MMFF94, with amide flips and mirror moves), close to
    the sampled geometry; read without the states, every rebuilt conformer has the seed's and the
    samples in the other state come back far from what was sampled."""
    import dataclasses

    from geomgen.conformers import SamplerConfig, embed_seed, parse_molecule, sample_reference
    from geomgen.conformers.reference.build import sample_molecule
    from geomgen.conformers.reference.sampler import System
    from geomgen.conformers.reference.store import ReferenceMolecule, encode_states, molecule_from_record

    cfg = dict(TINY, n_samples=60, warmup_sweeps=50, round_sweeps=400, min_sweeps=400, max_sweeps=400, amide_flips_per_sweep=2.0,
               mirror_moves=True)
    # through the build and the record, as the store writes it
    ref = molecule_from_record(sample_molecule("m", "CCN(C)C(C)=O", cfg, seed=2)["arrays"])
    assert ref.states is not None and set(ref.states.tolist()) == {0, 1}
    system = System(ref.mol, ref.torsions(), SamplerConfig(**cfg))
    pos = np.stack([c.GetPositions() for c in ref.conformers().GetConformers()])
    np.testing.assert_array_equal(encode_states(system, pos, ref.mirrored.astype(bool)), ref.states)
    seed_state = encode_states(system, ref.mol.GetConformer().GetPositions()[None])[0]
    old = np.stack([c.GetPositions() for c in dataclasses.replace(ref, states=None).conformers().GetConformers()])
    assert set(encode_states(system, old, ref.mirrored.astype(bool)).tolist()) == {seed_state}
    # against the sampled geometries themselves
    mol = embed_seed(parse_molecule("CCN(C)C(C)=O"), seed=0)
    res = sample_reference(mol, SamplerConfig(seed=1, **cfg))
    sys2 = System(mol, res.torsions, SamplerConfig(**cfg))
    codes = encode_states(sys2, res.positions, res.mirrored)
    stored = ReferenceMolecule(id="m", smiles="", mol=mol, torsion_atoms=res.torsions.atoms, angles=res.angles, energies=res.energies,
                               diagnostics={"config": cfg}, mirrored=res.mirrored.astype(np.uint8), states=codes)
    sampled = with_conformers(mol, res.positions)
    good = np.diag(rmsd_matrix(sampled, stored.conformers()))
    wrong = np.diag(rmsd_matrix(sampled, dataclasses.replace(stored, states=None).conformers()))
    other = codes != encode_states(sys2, mol.GetConformer().GetPositions()[None])[0]
    assert 0 < other.sum() < len(other)
    assert np.quantile(good, 0.9) < 0.3
    assert np.median(wrong[other]) > np.median(good[other]) + 0.3


def test_spiro_ring_flips_are_stored_and_rebuilt(tmp_path):
    """8-fluorospiro[4.5]decane (sampler revision 12): the cyclohexane is the second flippable ring
    (after the cyclopentane), its bit is the fluorine's axial/equatorial swap against the seed (a
    small A value: both chairs are populated), and the rebuilt conformers carry it."""
    from geomgen.conformers.reference.ring_flip import axial, flippable_rings, pucker_reporter

    csv_path = _csv(tmp_path, [("m0", "FC1CCC2(CC1)CCCC2")])
    cfg = dict(TINY, n_samples=40, round_sweeps=300, min_sweeps=300, max_sweeps=300, ring_flips_per_sweep=1.0)
    build_reference_set(csv_path, tmp_path / "w", cfg, jobs=1, progress=False)
    assemble(csv_path, tmp_path / "w", tmp_path / "ref.npz")
    (m,) = load_reference_set(str(tmp_path / "ref.npz"))
    rings = flippable_rings(m.mol)
    assert [len(r) for r, _ in rings] == [5, 6] and m.diagnostics["n_flippable_rings"] == 2
    ring = rings[1][0]
    bit = (m.ring_flipped >> 1) & 1
    assert set(bit.tolist()) == {0, 1}  # both chairs sampled
    bond = pucker_reporter(m.mol, ring)
    pos = np.stack([c.GetPositions() for c in m.conformers().GetConformers()])
    np.testing.assert_array_equal(axial(pos, ring, bond) != axial(m.mol.GetConformer().GetPositions(), ring, bond)[0], bit == 1)


def test_fused_ring_flips_are_stored_and_rebuilt(tmp_path):
    """2-Fluorotetralin (sampler revisions 12 and 13): the ring fused to the benzene ring flips between its
    half-chairs, its bit is the fluorine's axial/equatorial swap against the seed, and the rebuilt
    conformers carry it with the benzene ring where the seed has it."""
    import dataclasses

    from geomgen.conformers.reference.ring_flip import axial, flippable_rings, pucker_reporter

    csv_path = _csv(tmp_path, [("m0", "F[C@@H]1CCc2ccccc2C1")])
    cfg = dict(TINY, n_samples=40, round_sweeps=300, min_sweeps=300, max_sweeps=300, ring_flips_per_sweep=1.0)
    build_reference_set(csv_path, tmp_path / "w", cfg, jobs=1, progress=False)
    assemble(csv_path, tmp_path / "w", tmp_path / "ref.npz")
    (m,) = load_reference_set(str(tmp_path / "ref.npz"))
    (site,) = flippable_rings(m.mol)
    assert len(site.fixed) == 2 and set(m.ring_flipped.tolist()) == {0, 1}
    ring = site[0]
    bond = pucker_reporter(m.mol, ring)
    seed = m.mol.GetConformer().GetPositions()
    pos = np.stack([c.GetPositions() for c in m.conformers().GetConformers()])
    np.testing.assert_array_equal(axial(pos, ring, bond) != axial(seed, ring, bond)[0], m.ring_flipped == 1)
    np.testing.assert_allclose(pos[:, site.plane], np.broadcast_to(seed[site.plane], pos[:, site.plane].shape), atol=1e-6)
    # each record is rebuilt with the flip map of the revision that sampled it: branches without a
    # stereocentre mirrored from revision 13 on (the CH2 hydrogens), carried by their frames before
    flipped = np.flatnonzero(m.ring_flipped == 1)[0]
    assert m.diagnostics["sampler_revision"] >= 13 and len(site.mirror) == 3
    old = dataclasses.replace(m, diagnostics={**m.diagnostics, "sampler_revision": 12})
    pos12 = np.stack([c.GetPositions() for c in old.conformers().GetConformers()])
    np.testing.assert_allclose(pos[flipped], site.flip(seed), atol=1e-6)
    np.testing.assert_allclose(pos12[flipped], flippable_rings(m.mol, mirror=False)[0].flip(seed), atol=1e-6)
    assert np.abs(pos12[flipped] - pos[flipped]).max() > 0.3
