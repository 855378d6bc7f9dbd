import numpy as np
import pytest
from rdkit import Chem

from geomgen.conformers import MoleculeError, dihedral_angles, parse_molecule, rotatable_torsions, stereo_matches
from geomgen.conformers.clashes import ClashGuard
from geomgen.conformers.generator import ACID_STATE_MODES, DEFAULT_ACID_STATES, ConformerGenerator

DRUG = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"  # (S)-ibuprofen


@pytest.fixture(scope="module")
def gen(tiny_checkpoint):
    return ConformerGenerator.from_checkpoint(tiny_checkpoint)


def _bond_lengths(mol):
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    b = np.array([(x.GetBeginAtomIdx(), x.GetEndAtomIdx()) for x in mol.GetBonds()])
    return np.linalg.norm(pos[:, b[:, 0]] - pos[:, b[:, 1]], axis=-1)


def test_generate_keeps_stereo_and_geometry_and_is_reproducible(gen):
    ref = parse_molecule("C[C@H](N)C/C=C/C[C@@H](O)CC(C)C")
    mol = gen.generate(ref, n=12, seed=3)
    assert mol.GetNumConformers() == 12
    for c in mol.GetConformers():
        assert stereo_matches(mol, conf_id=c.GetId(), reference=ref)
    lengths = _bond_lengths(mol)
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=1e-6)
    ts = rotatable_torsions(mol)
    ang = dihedral_angles(np.stack([c.GetPositions() for c in mol.GetConformers()]), ts.atoms)
    assert ang.std(0).min() > 0.05  # torsions actually vary
    again = gen.generate(ref, n=12, seed=3)
    np.testing.assert_allclose(again.GetConformer(5).GetPositions(), mol.GetConformer(5).GetPositions())


def test_no_clashes_in_output(gen):
    mol = gen.generate(DRUG, n=20, seed=1)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    assert ClashGuard(mol).ok(pos).all()


def test_relax_and_boltzmann_properties(gen):
    mol = gen.generate(DRUG, n=8, seed=0, relax=True)
    e = [c.GetDoubleProp("MMFF94_energy_kcal_mol") for c in mol.GetConformers()]
    assert len(e) == 8 and max(e) < 50
    mol = gen.generate(DRUG, n=8, seed=0, boltzmann=True)
    assert mol.GetNumConformers() == 8
    props = [c.GetPropsAsDict() for c in mol.GetConformers()]
    assert all("MMFF94_energy_kcal_mol" in p and "torsions_rad" in p for p in props)


def test_minimize_restrained_holds_the_torsions(gen):
    """A minimisation with the torsions restrained: the torsions stay put, the energy drops below
    the rigidly set geometry's (by more than 1 kcal/mol on average), and no free minimisation goes lower."""
    from geomgen.conformers import MMFF, dihedral_angles

    mol = gen.generate(DRUG, n=6, seed=1)
    ts, _ = gen.predict(mol)
    mmff = MMFF(mol)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    ang = dihedral_angles(pos, ts.atoms)
    relaxed, e = mmff.minimize_restrained(pos, ang, ts.atoms)
    with pytest.raises(ValueError, match="minimize_restrained"):
        mmff.minimize_restrained(pos, ang[:, :1], ts.atoms)
    drift = np.angle(np.exp(1j * (dihedral_angles(relaxed, ts.atoms) - ang)))
    assert np.abs(drift).max() < np.radians(0.05)
    np.testing.assert_allclose(e, mmff.energies(relaxed), atol=1e-6)
    rigid = mmff.energies(pos)  # (the tiny test checkpoint differs between sessions: no fixed margin per conformer)
    assert (e <= rigid + 1e-6).all() and (rigid - e).mean() > 1.0
    free = np.array([mmff.minimize(p, max_iters=2000)[1] for p in relaxed])
    assert (free <= e + 1e-6).all()


def test_boltzmann_mode_takes_law_and_state_moves(tiny_checkpoint):
    """Options of --boltzmann: torsion moves proposed from the network's law and the discrete-state
    moves reach the chains (their acceptances are reported); bad rates are refused."""
    gen = ConformerGenerator.from_checkpoint(tiny_checkpoint, boltzmann_sweeps=2, boltzmann_law_moves=3.0,
                                             boltzmann_state_moves=True)
    mols, reports = gen.generate_many([("amide", "CC(=O)N(C)Cc1ccccc1")], n=4, seed=0, boltzmann=True)
    rep = reports[0]
    assert rep.ok and mols[0].GetNumConformers() == 4
    assert rep.extra["boltzmann_law_moves"] == 3.0 and 0 < rep.extra["boltzmann_law_acceptance"] <= 1
    assert 0 <= rep.extra["boltzmann_amide_flip_acceptance"] <= 1 and "boltzmann_nitrogen_inversion_acceptance" in rep.extra
    assert rep.extra["boltzmann_state_moves"] == 2.0  # True: the builds' rate
    plain = ConformerGenerator.from_checkpoint(tiny_checkpoint, boltzmann_sweeps=2)
    rep = plain.generate_many([("amide", "CC(=O)N(C)Cc1ccccc1")], n=4, seed=0, boltzmann=True)[1][0]
    assert "boltzmann_law_moves" not in rep.extra and "boltzmann_amide_flip_acceptance" not in rep.extra
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="boltzmann_law_moves must be 0 or more"):
            ConformerGenerator.from_checkpoint(tiny_checkpoint, boltzmann_law_moves=bad)
        with pytest.raises(ValueError, match="boltzmann_state_moves must be 0 or more"):
            ConformerGenerator.from_checkpoint(tiny_checkpoint, boltzmann_state_moves=bad)


def test_boltzmann_mode_refines_each_conformer_with_the_exact_sampler(tiny_checkpoint):
    """--boltzmann: two chains of the exact sampler, started at network samples, record a
    conformer every few sweeps: bond lengths now vary (every coordinate is flexible), the
    reported energies are those of the output geometries, stereo is kept, and the chains'
    effective sample size and R-hat are reported."""
    from geomgen.conformers import MMFF

    ref = parse_molecule(DRUG)
    plain = ConformerGenerator.from_checkpoint(tiny_checkpoint).generate(ref, n=8, seed=2, boltzmann=False)
    short = ConformerGenerator.from_checkpoint(tiny_checkpoint, boltzmann_sweeps=3)
    mols, reports = short.generate_many([("ibu", ref)], n=8, seed=2, boltzmann=True)
    mol, rep = mols[0], reports[0]
    assert rep.ok and rep.extra["boltzmann_sweeps"] == 3 and 0 < rep.extra["boltzmann_torsion_acceptance"] < 1
    assert rep.extra["boltzmann_chains"] == 2 and 0 < rep.ess <= 8 and rep.extra["boltzmann_rhat"] > 0
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    e = np.array([c.GetDoubleProp("MMFF94_energy_kcal_mol") for c in mol.GetConformers()])
    np.testing.assert_allclose(e, MMFF(mol).energies(pos), atol=1e-6)
    assert _bond_lengths(mol).std(0).max() > 1e-3 and _bond_lengths(plain).std(0).max() < 1e-6
    assert all(stereo_matches(mol, conf_id=c.GetId(), reference=ref) for c in mol.GetConformers())
    ts = rotatable_torsions(mol)
    np.testing.assert_allclose(np.cos(dihedral_angles(pos, ts.atoms)),
                               np.cos([[float(x) for x in c.GetProp("torsions_rad").split()] for c in mol.GetConformers()]), atol=1e-3)
    with pytest.raises(ValueError, match="boltzmann_sweeps must be at least 1"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, boltzmann_sweeps=0)
    with pytest.raises(ValueError, match="boltzmann_chains must be at least 1"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, boltzmann_chains=0)


def test_rigid_molecule_and_bad_inputs(gen):
    assert gen.generate("c1ccccc1", n=3).GetNumConformers() == 3
    for smi, reason in [("C1CC", "unparsable"), ("CCO.Cl", "fragments"), ("C[Se]C", "unsupported element")]:
        with pytest.raises(MoleculeError, match=reason):
            gen.generate(smi, n=2)


def test_clash_failure_is_reported_not_silent(gen, monkeypatch):
    monkeypatch.setattr(ClashGuard, "ok", lambda self, pos, pairs=None: np.zeros(len(pos), dtype=bool))
    mols, reports = gen.generate_many([("x", "CCCCO")], n=4)
    assert mols == [None] and not reports[0].ok and "clash" in reports[0].reason


def test_clash_guard_detects_overlap():
    mol = parse_molecule("CCCCCC")
    from geomgen.conformers import embed_seed

    mol = embed_seed(mol)
    pos = mol.GetConformer().GetPositions()[None].copy()
    guard = ClashGuard(mol)
    assert guard.ok(pos).all()
    pos[0, 5] = pos[0, 0] + 0.5  # put the terminal carbons on top of each other
    assert not guard.ok(pos).any()


def test_clash_floor_admits_a_hydrogen_bond_but_not_other_hydrogen_contacts():
    """contact_floors: 1.5 A for a hydrogen on O or N and an O or N (an acid's O-H on a neighbouring
    carbonyl, 1.6-1.8 A in MMFF94), 1.8 A for a C-H against the same oxygen, 2.5 A for two heavy atoms."""
    from geomgen.conformers.clashes import HBOND_H_FLOOR, HEAVY_H_FLOOR, contact_floors

    mol = parse_molecule("O=C1C=CC=CC1C(=O)O")  # an acid beside a ketone: the O-H can reach the ring C=O
    sym = [a.GetSymbol() for a in mol.GetAtoms()]
    acid_h = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "H" and a.GetNeighbors()[0].GetSymbol() == "O")
    ring_h = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "H" and a.GetNeighbors()[0].GetIdx() == 6)
    ketone_o = 0
    floors = contact_floors(mol, np.array([acid_h, ring_h, ketone_o, acid_h]), np.array([ketone_o, ketone_o, 8, 4]))
    assert sym[ketone_o] == "O" and sym[4] == "C"
    np.testing.assert_allclose(floors, [HBOND_H_FLOOR, HEAVY_H_FLOOR, 2.5, HEAVY_H_FLOOR])
    assert HBOND_H_FLOOR == 1.5 and HEAVY_H_FLOOR == 1.8


def test_unspecified_stereo_is_reported_not_rejected(gen):
    """Issue 13, item 1: an unspecified C=C and an amidine used to fail the stereo check."""
    mols, reports = gen.generate_many([("hexene", "CCC=CCC"), ("amidine", "NC(=N)c1ccccc1"), ("chiral", "C[C@@H](O)CC")], n=2)
    assert all(m is not None for m in mols)
    (warning,) = reports[0].warnings
    isomer = reports[0].extra["stereoisomer"]
    assert isomer in ("CC/C=C/CC", "CC/C=C\\CC")
    assert warning == f"'hexene': 1 double bond left unspecified in the input; generated one stereoisomer, {isomer}"
    assert reports[1].warnings == [] and reports[2].warnings == []


def test_macrocycles_get_several_ring_conformations(gen):
    """Issue 13, item 8: a macrocycle has no rotatable torsion, and used to get n identical conformers."""
    from rdkit import Chem

    from geomgen.conformers.stereo import fixed_stereo

    mols, reports = gen.generate_many([("ring", "C1CCCCCCCCCCCCC1"), ("lactone", "C[C@@H]1CCCCCCCCCCCC(=O)O1")], n=8, seed=1)
    for mol, rep in zip(mols, reports):
        assert rep.ok and rep.extra["ring_seeds"] >= 2
        pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
        heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
        spread = np.linalg.norm(pos[:, heavy] - pos[:, heavy].mean(1, keepdims=True), axis=-1).std(0).max()
        assert spread > 0.1  # not n copies of one geometry
        seeds = [c.GetIntProp("ring_seed") for c in mol.GetConformers()]
        assert seeds == sorted(seeds) and len(set(seeds)) == min(8, rep.extra["ring_seeds"])  # spread over the seeds
    lactone = mols[1]
    ref = parse_molecule("C[C@@H]1CCCCCCCCCCCC(=O)O1")
    assert all(stereo_matches(lactone, conf_id=c.GetId(), reference=ref) for c in lactone.GetConformers())
    assert {fixed_stereo(Chem.Mol(lactone, confId=c.GetId()), reference=ref).smiles for c in lactone.GetConformers()} == {
        Chem.MolToSmiles(Chem.MolFromSmiles("C[C@@H]1CCCCCCCCCCCC(=O)O1"))}


def test_small_non_aromatic_rings_get_seeds_in_proportion_to_their_boltzmann_weights(tiny_checkpoint):
    """Methylcyclohexane has two chairs, methyl equatorial and axial (each also as its mirror
    image): ring seeds find distinct ring conformations (ring atoms and their substituents),
    each carrying its energy, and the conformers are shared out by Boltzmann weight, the lowest
    energy getting the most."""
    from geomgen.conformers.embedding import _ring_rmsd, embed_seed, ring_seeds
    from geomgen.conformers.generator import _shares
    from geomgen.metrics import boltzmann_weights

    assert _shares(10, [1, 1, 1]) == [4, 3, 3] and _shares(50, [0.7, 0.2, 0.1]) == [35, 10, 5] and _shares(3, [0.9, 0.05, 0.05]) == [3, 0, 0]
    mol = parse_molecule("CC1CCCCC1")
    first = embed_seed(mol, seed=0)
    seeds = ring_seeds(mol, first, seed=0, n_candidates=16, max_seeds=4, energy_window=6.0, min_rmsd=0.3, min_size=3)
    assert len(seeds) >= 2
    ring = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]  # the ring and its methyl
    for i in range(len(seeds)):
        for j in range(i):
            assert _ring_rmsd(seeds[i].GetConformer().GetPositions()[ring], seeds[j].GetConformer().GetPositions()[ring]) >= 0.3
    e = [s.GetDoubleProp("MMFF94_energy_kcal_mol") for s in seeds]
    assert e == sorted(e) and e[-1] - e[0] <= 6.0
    assert ring_seeds(parse_molecule("c1ccccc1CC"), embed_seed(parse_molecule("c1ccccc1CC")), min_size=3)[0].GetNumAtoms() > 0
    assert len(ring_seeds(parse_molecule("c1ccccc1CC"), embed_seed(parse_molecule("c1ccccc1CC")), min_size=3)) == 1  # aromatic only

    gen = ConformerGenerator.from_checkpoint(tiny_checkpoint, ring_seeds=4)
    (out,), (rep,) = gen.generate_many([("ring", mol)], n=40, seed=0)
    # default: one seed for a ring with a rotatable torsion outside it (methylcyclohexane has none:
    # its conformers are its ring seeds, issue 25 D6)
    etkdg = ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="etkdg")  # one ETKDGv3 seed without ring seeds
    (plain,), (plain_rep,) = etkdg.generate_many([("ring", "CCC1CCCCC1")], n=40, seed=0)
    assert "ring_seeds" not in plain_rep.extra and not plain.GetConformer(0).HasProp("ring_seed")
    assert rep.extra["ring_seeds"] >= 2
    counts = np.bincount([c.GetIntProp("ring_seed") for c in out.GetConformers()])
    assert counts[0] == counts.max() and counts.sum() == 40  # the lowest-energy seed gets the largest share
    with pytest.raises(ValueError, match="ring_seeds must be 0 or more"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, ring_seeds=-1)
    assert boltzmann_weights(np.array(e))[0] == max(boltzmann_weights(np.array(e)))


def test_seed_iterations_and_full_minimisation_when_samples_keep_clashing(gen, monkeypatch):
    from geomgen.conformers.mmff import MMFF

    seeds = []
    orig = ConformerGenerator._sample

    def sample(self, seed_mol, *args):
        seeds.append(seed_mol)
        pos, ang = orig(self, seed_mol, *args)
        return (pos[:0], ang[:0]) if len(seeds) == 1 else (pos, ang)  # the first seed's samples all "clash"

    monkeypatch.setattr(ConformerGenerator, "_sample", sample)
    # one seed (ibuprofen's acid O-H has an anti state of weight 0.008: state_seeds would add one)
    quick = ConformerGenerator(gen.net, seed_iters=0, state_seeds=0, seed_method="etkdg", acid_states="usual")
    mols, reports = quick.generate_many([("x", DRUG)], n=4, seed=2)
    assert mols[0].GetNumConformers() == 4 and reports[0].extra["seed_minimised"]
    mmff = MMFF(seeds[0])
    e0, e1 = (mmff.energy(s.GetConformer().GetPositions()) for s in seeds)
    assert e1 < e0 - 5  # the second seed is the first one fully minimised
    np.testing.assert_allclose(MMFF.optimize_conformers(Chem.Mol(seeds[0]))[0][1], e1, atol=1e-3)
    # the number of iterations shows in the seed's energy (same ETKDG embedding); relax and
    # boltzmann always get a fully minimised seed
    energies = []
    for iters, kw in ((0, {}), (50, {}), (2000, {}), (0, {"relax": True})):
        seeds.clear()
        g = ConformerGenerator(gen.net, seed_iters=iters, state_seeds=0, seed_method="etkdg", acid_states="usual")
        g.generate_many([("x", DRUG)], n=2, seed=2, **kw)
        energies.append(mmff.energy(seeds[0].GetConformer().GetPositions()))
    assert energies[0] > energies[1] > energies[2] and energies[3] == pytest.approx(energies[2], abs=1e-6)
    # a KDG seed is another embedding of the same molecule; relax keeps ETKDGv3's
    first = {}
    for embedder in ("etkdg", "kdg"):
        seeds.clear()
        out = ConformerGenerator(gen.net, seed_iters=100, seed_embedder=embedder, state_seeds=0, seed_method="etkdg",
                                 acid_states="usual").generate_many([("x", DRUG)], n=2, seed=2)
        assert out[0][0].GetNumConformers() == 2
        first[embedder] = seeds[0].GetConformer().GetPositions()
    assert not np.allclose(first["etkdg"], first["kdg"], atol=0.1)
    seeds.clear()
    ConformerGenerator(gen.net, seed_embedder="kdg", state_seeds=0, seed_method="etkdg",
                       acid_states="usual").generate_many([("x", DRUG)], n=2, seed=2, relax=True)
    assert mmff.energy(seeds[0].GetConformer().GetPositions()) == pytest.approx(energies[3], abs=1e-6)
    with pytest.raises(ValueError, match="seed_embedder"):
        ConformerGenerator(gen.net, seed_embedder="dg")


def test_seed_iters_reaches_assembled_seeds_through_the_api_and_the_command_line(gen, monkeypatch):
    """``--seed-iters`` (``seed_iters``) sets the MMFF94 iterations of whichever seed a molecule
    gets: before, assembled seeds (the default path) kept 100 whatever it said."""
    from geomgen.conformers import MMFF
    from geomgen.conformers.commands.generate import _generator
    from geomgen.conformers.ringlib import RingLibrary

    assert ConformerGenerator(gen.net, seed_iters=0).assembly_iters == 0
    assert ConformerGenerator(gen.net, seed_iters=0, assembly_iters=30).assembly_iters == 30
    cli = _generator("unused", {"seed_iters": 7}, cache={"unused": ConformerGenerator(gen.net)})
    assert (cli.seed_iters, cli.assembly_iters) == (7, 7)
    seeds = []
    orig = ConformerGenerator._sample

    def sample(self, seed_mol, *args):
        seeds.append(seed_mol)
        return orig(self, seed_mol, *args)

    monkeypatch.setattr(ConformerGenerator, "_sample", sample)
    lib = RingLibrary(folder=False, shipped=False)
    energies = []
    for iters in (0, 2000):
        seeds.clear()
        g = ConformerGenerator(gen.net, seed_iters=iters, ring_library=lib, mirror_images=False, acid_states="usual")
        mols, reports = g.generate_many([("x", DRUG)], n=2, seed=2)
        assert reports[0].extra["seed"] == "assembled"
        energies.append(MMFF(seeds[0]).energy(seeds[0].GetConformer().GetPositions()))
    assert energies[1] < energies[0] - 1  # the assembled seed was minimised only when asked


def test_mmff_leaves_the_molecule_s_aromaticity_alone(gen):
    """RDKit's MMFF typing rewrites aromaticity flags (a 2-pyridone ring is not aromatic in MMFF94):
    neither the force field nor minimisation nor generated molecules may carry that rewrite."""
    from geomgen.conformers.mmff import MMFF

    smi = "Cc1ccc(NC(=O)c2ccc(=O)n(CCN3CCOCC3)c2)cc1"
    ref = parse_molecule(smi)
    flags = [b.GetIsAromatic() for b in ref.GetBonds()]
    for kw in ({}, {"relax": True}, {"boltzmann": True}):
        mol = gen.generate(smi, n=2, seed=0, **kw)
        assert [b.GetIsAromatic() for b in mol.GetBonds()] == flags
        MMFF(mol)
        MMFF.optimize_conformers(mol, max_iters=10)
        assert [b.GetIsAromatic() for b in mol.GetBonds()] == flags


#: a C24 polyol with 22 stereocentres: 22 rotatable torsions, nearly every independent draw of them clashes
POLYOL = ("C[C@@H](O)[C@@H](O)[C@H](O)[C@@H](O)[C@@H](O)[C@@H](O)[C@@H](O)[C@@H](O)[C@@H](O)[C@H](O)[C@H](O)"
          "[C@@H](O)[C@H](O)[C@H](O)[C@@H](O)[C@H](O)[C@@H](O)[C@H](O)[C@H](O)[C@@H](O)[C@@H](O)[C@H](O)CO")
LEU_ENKEPHALIN = "CC(C)C[C@@H](C(=O)O)NC(=O)[C@H](Cc1ccccc1)NC(=O)CNC(=O)CNC(=O)[C@@H](N)Cc1ccc(O)cc1"


@pytest.fixture(scope="module")
def shipped():
    return ConformerGenerator.from_checkpoint()


def test_many_torsion_molecule_gets_conformers_from_the_constrained_gibbs_sampler(shipped):
    """Issue 25, D5: a C24 polyol (22 torsions) failed with "only 1 of 3 passed the clash and stereo
    checks": independent draws of 22 torsions nearly always clash. The missing conformers now come
    from the constrained Gibbs sampler, the report says so, and the result is reproducible."""
    import time

    t0 = time.perf_counter()
    (mol,), (rep,) = shipped.generate_many([("polyol", POLYOL)], n=3, seed=0)
    assert time.perf_counter() - t0 < 20
    assert rep.ok and mol.GetNumConformers() == 3, rep.reason
    assert rep.extra["sampler"] == "gibbs" and 0 < rep.extra["gibbs_acceptance"] <= 1
    assert any("constrained Gibbs sampler" in w for w in rep.warnings)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    ref = parse_molecule(POLYOL)
    assert ClashGuard(mol).ok(pos).all()
    assert all(stereo_matches(mol, conf_id=c.GetId(), reference=ref) for c in mol.GetConformers())
    lengths = _bond_lengths(mol)
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=1e-6)
    ang = dihedral_angles(pos, rotatable_torsions(mol).atoms)
    assert (np.abs(np.angle(np.exp(1j * (ang[1:] - ang[0])))) > 0.3).mean() > 0.3  # the chains moved apart
    (again,), _ = shipped.generate_many([("polyol", POLYOL)], n=3, seed=0)
    assert Chem.MolToMolBlock(again, confId=2) == Chem.MolToMolBlock(mol, confId=2)
    # a molecule whose independent draws pass keeps the independent sampler
    _, (plain,) = shipped.generate_many([("x", DRUG)], n=3, seed=0)
    assert plain.extra["sampler"] == "independent" and not plain.warnings


def test_time_limit_per_molecule_fails_fast_and_names_the_limit(tiny_checkpoint):
    import time

    gen = ConformerGenerator.from_checkpoint(tiny_checkpoint, max_seconds=1e-3)
    t0 = time.perf_counter()
    mols, reports = gen.generate_many([("slow", POLYOL), ("also", DRUG)], n=3)
    assert time.perf_counter() - t0 < 10
    assert mols == [None, None]
    assert reports[0].reason.startswith("'slow': gave up after the time limit of 0.001 s per molecule (max_seconds) while ")
    assert ConformerGenerator.from_checkpoint(tiny_checkpoint).max_seconds == 600.0
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="max_seconds must be positive"):
            ConformerGenerator.from_checkpoint(tiny_checkpoint, max_seconds=bad)


def test_draws_are_capped_and_the_clash_check_is_chunked(monkeypatch):
    """The memory of a large molecule's sampling is bounded: at most MAX_DRAW_COORDS coordinates a
    round, and the pair distances in chunks, with the same answer as all at once."""
    import geomgen.conformers.clashes as clashes
    from geomgen.conformers import embed_seed

    mol = embed_seed(parse_molecule(DRUG))
    guard = ClashGuard(mol)
    rng = np.random.default_rng(0)
    pos = mol.GetConformer().GetPositions()[None] + rng.normal(scale=0.6, size=(200, mol.GetNumAtoms(), 3))
    whole = guard.ok(pos)
    monkeypatch.setattr(clashes, "_CHUNK_BYTES", 1)
    np.testing.assert_array_equal(guard.ok(pos), whole)
    assert 0 < whole.sum() < len(pos) or not whole.any()


@pytest.mark.parametrize("call, error, said", [
    (lambda g: g.generate("CCO", n=2.5), TypeError, "n must be a positive integer (the number of conformers), got float 2.5"),
    (lambda g: g.generate("CCO", n=True), TypeError, "n must be a positive integer (the number of conformers), got bool True"),
    (lambda g: g.generate("CCO", n="3"), TypeError, "n must be a positive integer (the number of conformers), got str '3'"),
    (lambda g: g.generate("CCO", n=0), ValueError, "n must be a positive integer (the number of conformers), got 0"),
    (lambda g: g.generate("CCO", n=-1), ValueError, "n must be a positive integer (the number of conformers), got -1"),
    (lambda g: g.generate(b"CCO"), TypeError, "smiles_or_mol must be a SMILES string or an RDKit molecule, got bytes b'CCO'"),
    (lambda g: g.generate("CCO", seed=1.5), TypeError, "seed must be an integer, got float 1.5"),
    (lambda g: g.generate_many([("x", "CCO")], n=2.5), TypeError, "n must be a positive integer"),
    (lambda g: g.generate_many([("x", "CCO")], n=0), ValueError, "n must be a positive integer"),
    (lambda g: g.generate_many([("x", b"CCO")]), TypeError,
     "items[0] ('x') must be a SMILES string or an RDKit molecule, got bytes b'CCO'"),
    (lambda g: g.generate_many(["CCO"]), TypeError, "items[0] must be a (name, smiles_or_mol) pair, got 'CCO'"),
    (lambda g: g.generate_many("CCO"), TypeError, "items must be a list of (name, smiles_or_mol) pairs, got str 'CCO'"),
])
def test_bad_arguments_are_one_line_errors_naming_them(gen, monkeypatch, call, error, said):
    """Issue 25: generate(n=2.5), generate(b'CCO'), n=True, n=0, n=-1, n="3" gave tracebacks deep
    inside or silent behaviour; now one-line errors naming the argument, before any work."""
    import geomgen.conformers.embedding as embedding

    monkeypatch.setattr(embedding, "embed_seed", lambda *a, **k: pytest.fail("work done despite a bad argument"))
    with pytest.raises(error) as info:
        call(gen)
    assert str(info.value).startswith(said) and "\n" not in str(info.value)


def test_rigid_rings_and_macrocycles_get_distinct_conformers_or_a_warning(gen):
    """Issue 25, D6: cyclododecane at -n 20 gave 16 pairs of byte-identical conformers (4 distinct),
    cyclooctane 3 distinct of 10, without a word. A molecule with no rotatable torsion outside its
    rings now gets up to n distinct ring conformations as seeds, and a warning says how many of its
    conformers are distinct whenever fewer than n are."""
    def _distinct(pos):  # conformers that differ beyond what an SD file keeps
        return len(np.unique(np.round(pos.reshape(len(pos), -1), 3), axis=0))

    mols, reports = gen.generate_many([("c12", "C1CCCCCCCCCCC1"), ("c8", "C1CCCCCCC1"), ("benzene", "c1ccccc1")], n=20, seed=0)
    for mol, rep in zip(mols, reports):
        assert rep.ok, rep.reason
        pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
        distinct = _distinct(pos)
        if distinct < 20:
            assert rep.warnings, f"{rep.name}: {distinct} distinct of 20 without a warning"
            why = ("the molecule has no rotatable torsion and no flexible ring: it has one conformation" if rep.name == "benzene"
                   else f"the molecule has no rotatable torsion, and {rep.extra.get('ring_seeds', 1) * (2 if rep.extra.get('mirror_images') else 1)} "
                   "distinct ring conformation(s) were found")  # with their mirror images (an achiral molecule)
            assert rep.warnings[-1] == f"{rep.name!r}: only {distinct} of the 20 conformers are distinct ({why})"
        else:
            assert not rep.warnings
    c12 = np.stack([c.GetPositions() for c in mols[0].GetConformers()])
    assert _distinct(c12) >= 10  # more than the 4 ring geometries of 8 seeds
    assert reports[2].extra["distinct_conformers"] == 1


def test_clash_criterion_catches_close_heavy_atoms_of_a_peptide(gen):
    """Issue 25: unrelaxed conformers of Leu-enkephalin had heavy-atom contacts of 2.27-2.35 A
    between atoms 10-12 bonds apart. The criterion (ClashGuard's docstring): heavy atoms 4 or more
    bonds apart at least max(2.5 A, 0.75 x the sum of their van der Waals radii) apart, unless no
    rotatable torsion moves them relative to each other."""
    vdw = {"C": 1.70, "N": 1.55, "O": 1.52}  # Bondi

    mols, reports = gen.generate_many([("leu-enk", LEU_ENKEPHALIN)], n=40, seed=0)
    mol = mols[0]
    assert reports[0].ok, reports[0].reason
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    d = Chem.GetDistanceMatrix(mol)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    moving = rotatable_torsions(mol).moving
    sym = [a.GetSymbol() for a in mol.GetAtoms()]
    worst = np.inf
    for a in heavy:
        for b in heavy:
            if b <= a or d[a, b] < 4 or (moving[:, a] == moving[:, b]).all():
                continue
            floor = max(2.5, 0.75 * (vdw[sym[a]] + vdw[sym[b]]))
            gap = np.linalg.norm(pos[:, a] - pos[:, b], axis=-1).min() - floor
            worst = min(worst, gap)
    assert worst >= 0
    # and the guard itself rejects such a contact
    guard = ClashGuard(mol)
    a, b = next((a, b) for a in heavy for b in heavy if d[a, b] >= 10)
    assert guard.limit[(guard.i == min(a, b)) & (guard.j == max(a, b))][0] >= 2.5


def test_amide_states_are_sampled_in_proportion_to_their_state_weights(tiny_checkpoint):
    """A tertiary amide (about 50/50 cis/trans in MMFF94 at 300 K): conformers in both E/Z
    states, shared by the state seeds' weights, recorded per conformer; deterministic; with
    state_seeds=0 every conformer keeps the seed's state."""
    from geomgen.conformers.discrete_states import amide_states

    smiles, n = "CCN(C)C(C)=O", 40
    gen = ConformerGenerator.from_checkpoint(tiny_checkpoint, state_seeds=8, amide_states="usual")
    mols, reps = gen.generate_many([("amide", smiles)], n=n, seed=0)
    mol, extra = mols[0], reps[0].extra
    seeds = extra["state_seeds"]
    assert extra["state_sites"] == ["amide-0"] and sorted(s["states"] for s in seeds) == ["0", "1"]
    assert abs(sum(s["weight"] for s in seeds) - 1) < 1e-3 and min(s["weight"] for s in seeds) > 0.2
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    cis = amide_states(mol, pos)[:, 0]
    labels = [c.GetProp("amide_states") for c in mol.GetConformers()]
    assert labels == ["1" if x else "0" for x in cis]
    for s in seeds:  # each state's share is its weight, to the nearest conformer
        got = sum(lab == s["states"] for lab in labels)
        assert got == s["conformers"] and abs(got - n * s["weight"]) <= 1
    assert {c.GetProp("state_seed") for c in mol.GetConformers()} == {"0", "1"}
    again = gen.generate(smiles, n=n, seed=0)
    np.testing.assert_allclose(np.stack([c.GetPositions() for c in again.GetConformers()]), pos)
    one = ConformerGenerator.from_checkpoint(tiny_checkpoint, amide_states="usual").generate(smiles, n=n, seed=0)
    assert len({c.GetProp("amide_states") for c in one.GetConformers()}) == 1  # off by default: the seed's state


def test_acid_states_from_their_minima_by_default(tiny_checkpoint):
    """Glycine's O-H is anti (hydrogen-bonded to the amine) at its MMFF94 minimum: by default
    (acid_states="minima") every conformer is in that state, with acid_states="usual" every one
    keeps the seed's syn; a molecule without an acid gets the same conformers either way."""
    from geomgen.conformers.discrete_states import acid_sites, amide_states

    assert ACID_STATE_MODES == ("minima", "usual") and DEFAULT_ACID_STATES == "minima"
    assert acid_sites(parse_molecule("NCC(=O)O")) == [0] and acid_sites(parse_molecule("CNC(C)=O")) == []
    minima = ConformerGenerator.from_checkpoint(tiny_checkpoint, amide_states="usual")
    usual = ConformerGenerator.from_checkpoint(tiny_checkpoint, amide_states="usual", acid_states="usual")
    (gly,), (rep,) = minima.generate_many([("gly", "NCC(=O)O")], n=12, seed=0)
    assert rep.extra["state_sites"] == ["amide-0"] and [s["states"] for s in rep.extra["state_seeds"]] == ["1"]
    assert amide_states(gly, np.stack([c.GetPositions() for c in gly.GetConformers()]))[:, 0].all()
    (syn,), (rep,) = usual.generate_many([("gly", "NCC(=O)O")], n=12, seed=0)
    assert "state_seeds" not in rep.extra
    assert not amide_states(syn, np.stack([c.GetPositions() for c in syn.GetConformers()]))[:, 0].any()
    a, b = (g.generate("CCN(C)C(C)=O", n=6, seed=0) for g in (minima, usual))
    np.testing.assert_array_equal(np.stack([c.GetPositions() for c in a.GetConformers()]),
                                  np.stack([c.GetPositions() for c in b.GetConformers()]))
    with pytest.raises(ValueError, match="acid_states"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, acid_states="anti")


def test_secondary_amide_keeps_the_rare_cis_state_rare(tiny_checkpoint):
    """N-methylacetamide: cis is about 1 % at 300 K (reference sampler 0.008); the state seeds'
    weight of cis stays below 0.05, and so does the library's."""
    gen = ConformerGenerator.from_checkpoint(tiny_checkpoint, state_seeds=8, amide_states="usual")
    _, reps = gen.generate_many([("nma", "CNC(C)=O")], n=20, seed=0)
    weights = {s["states"]: s["weight"] for s in reps[0].extra["state_seeds"]}
    assert weights["1"] < 0.05 < weights["0"]
    lib = ConformerGenerator.from_checkpoint(tiny_checkpoint, amide_states="library")
    _, reps = lib.generate_many([("nma", "CNC(C)=O")], n=20, seed=0)
    assert reps[0].extra["amide_state_p"]["0"] < 0.05  # the fragment library's probability


@pytest.mark.parametrize("smiles, achiral", [
    ("CCC1CCCCC1", True),  # no stereocentre
    ("C[C@H]1CCCC[C@H]1C", True),  # cis-1,2-dimethylcyclohexane: meso
    ("C[C@H]1CCCC[C@@H]1C", False),  # trans: C2, chiral (RDKit: the SMILES of its mirror image differs)
    ("C[C@H](N)c1ccccc1", False),
    ("C/C=C/C(C)(C)C", True),  # E/Z kept by a mirror
])
def test_achiral_known_answers(smiles, achiral):
    from geomgen.conformers import embed_seed
    from geomgen.conformers.generator import _achiral

    assert _achiral(embed_seed(parse_molecule(smiles), seed=0)) is achiral


def test_mirror_images_draw_half_on_the_mirrored_seed_with_the_same_torsions(tiny_checkpoint):
    """mirror_images: half the conformers of a molecule that is its own mirror image sit on the
    seed's mirror image; a mirrored conformer with torsions a is the mirror image of the seed with
    torsions -a (same interatomic distances), its recorded torsions are its own dihedrals, and a
    chiral molecule gets none."""
    from geomgen.conformers.torsions import set_torsions

    gen = ConformerGenerator.from_checkpoint(tiny_checkpoint, mirror_images=True, seed_method="etkdg")
    (mol,), (rep,) = gen.generate_many([("phenetole-amide", "CCOc1ccccc1C(=O)NC")], n=12, seed=0)
    flags = [int(c.GetProp("mirror_image")) for c in mol.GetConformers()]
    assert rep.extra["mirror_images"] and sorted(flags) == [0] * 6 + [1] * 6
    ts = rotatable_torsions(mol)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    ang = dihedral_angles(pos, ts.atoms)
    recorded = np.array([[float(x) for x in c.GetProp("torsions_rad").split()] for c in mol.GetConformers()])
    np.testing.assert_allclose(np.cos(recorded - ang), 1.0, atol=1e-6)
    plain = pos[flags.index(0)]
    dist = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)  # noqa: E731
    for c in np.flatnonzero(np.array(flags) == 1):
        np.testing.assert_allclose(dist(pos[c]), dist(set_torsions(plain, ts, -ang[c][None])[0]), atol=1e-6)
    (chiral,), (crep,) = gen.generate_many([("pea", "C[C@H](N)c1ccccc1OCC")], n=6, seed=0)
    assert "mirror_images" not in crep.extra and not any(c.HasProp("mirror_image") for c in chiral.GetConformers())
    assert stereo_matches(chiral, reference=parse_molecule("C[C@H](N)c1ccccc1OCC"))


def test_a_seed_superposable_on_its_mirror_gets_no_mirrored_draws():
    # benzene's planar seed is its own mirror image up to a rotation; a gauche butane is not
    from geomgen.conformers import embed_seed, parse_molecule
    from geomgen.conformers.generator import _superposable_on_its_mirror
    from geomgen.conformers.mmff import set_positions
    from geomgen.conformers.torsions import rotatable_torsions, set_torsions

    assert _superposable_on_its_mirror(embed_seed(parse_molecule("c1ccccc1"), seed=0))
    butane = embed_seed(parse_molecule("CCCC"), seed=0)
    ts = rotatable_torsions(butane)
    gauche = set_torsions(butane.GetConformer().GetPositions(), ts, np.array([1.1] * len(ts.atoms)))
    set_positions(butane.GetConformer(), gauche)
    assert not _superposable_on_its_mirror(butane)


#: N-benzyl-N-methylformamide: the reference sampler with amide flips (BAR over the rigid flip)
#: puts 0.74 of its samples in state 1 (geomgen.conformers.embedding.state_seeds' docstring),
#: where the Boltzmann weights of the two states' MMFF94 minima give 0.86
FORMAMIDE, FORMAMIDE_STATE_1 = "O=CN(C)Cc1ccccc1", 0.74


def test_sampled_state_weights_count_each_state_s_torsional_entropy(shipped):
    """Known answer: the sampled state probabilities of N-benzyl-N-methylformamide agree with the
    reference sampler within 0.05, where the minima's Boltzmann weights are 0.1 off (the negative
    control); two copies of one seed get 1/2 each (common draws); deterministic per generator."""
    import torch
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.embedding import sampled_state_weights, state_seeds

    mol = Chem.AddHs(Chem.MolFromSmiles(FORMAMIDE))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    seeds = state_seeds(mol, max_seeds=8, nitrogens=False)
    assert len(seeds) == 2
    state_1 = [s.GetProp("discrete_states") for s in seeds].index("1")
    ts, mix = shipped.predict(seeds[0])
    p, ess = sampled_state_weights(seeds, ts, mix, generator=torch.Generator().manual_seed(0))
    assert p.sum() == pytest.approx(1) and ess.min() > 100
    assert abs(p[state_1] - FORMAMIDE_STATE_1) < 0.05
    assert abs(seeds[state_1].GetDoubleProp("seed_weight") - FORMAMIDE_STATE_1) > 0.1
    again, _ = sampled_state_weights(seeds, ts, mix, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(p, again)
    same, _ = sampled_state_weights([seeds[0], seeds[0]], ts, mix, draws=50, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(same, [0.5, 0.5])
    with pytest.raises(ValueError, match="draws"):
        sampled_state_weights(seeds, ts, mix, draws=0)



def test_relax_bonds_keeps_each_conformer_s_torsions_and_lowers_its_energy(gen):
    """``relax_bonds``: bond lengths and angles relax with the sampled torsions held; the torsion
    law (each conformer's recorded torsions) is unchanged, the energies fall, stereo is kept."""
    from geomgen.conformers import MMFF

    plain = ConformerGenerator(gen.net, seed_method="etkdg", mirror_images=False).generate(DRUG, n=6, seed=3)
    held = ConformerGenerator(gen.net, seed_method="etkdg", mirror_images=False, relax_bonds=200).generate(DRUG, n=6, seed=3)
    ts = rotatable_torsions(held)
    p0 = np.stack([c.GetPositions() for c in plain.GetConformers()])
    p1 = np.stack([c.GetPositions() for c in held.GetConformers()])
    d = np.angle(np.exp(1j * (dihedral_angles(p1, ts.atoms) - dihedral_angles(p0, ts.atoms))))
    assert np.abs(d).max() < 0.01
    assert [c.GetProp("torsions_rad") for c in plain.GetConformers()] == [c.GetProp("torsions_rad") for c in held.GetConformers()]
    e0, e1 = MMFF(held).energies(p0), MMFF(held).energies(p1)
    assert (e1 < e0).all()
    np.testing.assert_allclose([c.GetDoubleProp("MMFF94_energy_kcal_mol") for c in held.GetConformers()], e1, atol=1e-4)
    assert stereo_matches(held, reference=parse_molecule(DRUG))
    assert not plain.GetConformer().HasProp("MMFF94_energy_kcal_mol")
    with pytest.raises(ValueError, match="relax_bonds"):
        ConformerGenerator(gen.net, relax_bonds=-1)


BATCH_SMILES = ["CCO", "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "CCN(C)C(C)=O", "c1ccccc1", "OCCCCCCCCO", "CC(=O)Nc1ccc(O)cc1",
                "CCOC(=O)c1ccccc1N", "CN1CCN(C)CC1"]


def _params(law):
    return None if law is None else [x.numpy() for x in (law.loc, law.concentration, law.logits)]


def test_predict_many_gives_each_molecule_its_own_law_bit_for_bit_whatever_its_batch_mates(shipped, monkeypatch):
    """The network runs several molecules per pass (with the padding graph): a molecule's mixture
    parameters are the same bits alone, in another order and in a pass cut elsewhere; where the
    BLAS is not row-exact (exact_batching False) molecules go one per pass with the same result.
    Molecules with one to three torsions are here: without the padding their parameters differ
    alone and batched (evaluation/conformers/batched_forward.md)."""
    import geomgen.conformers.generator as g
    from geomgen.conformers.embedding import embed_seed

    seeds = [embed_seed(parse_molecule(s), seed=1, n_candidates=1, max_iters=0) for s in BATCH_SMILES]
    assert g.exact_batching(shipped.net)  # this machine's BLAS: else the batched path is never taken
    together = shipped.predict_many([(s, None) for s in seeds])
    alone = [shipped.predict(s) for s in seeds]
    backwards = shipped.predict_many([(s, None) for s in seeds[::-1]])[::-1]
    monkeypatch.setattr(g, "PREDICT_BATCH", 3)
    cut = shipped.predict_many([(s, None) for s in seeds])
    monkeypatch.setattr(g, "_EXACT_BATCHING", {k: False for k in g._EXACT_BATCHING})
    single = shipped.predict_many([(s, None) for s in seeds])
    assert sum(1 <= len(ts) <= 3 for ts, _ in alone) >= 3 and any(law is None for _, law in alone)
    for k, (ts, law) in enumerate(alone):
        for other in (together, backwards, cut, single):
            assert np.array_equal(other[k][0].atoms, ts.atoms)
            a, b = _params(law), _params(other[k][1])
            assert (a is None and b is None) or all(np.array_equal(x, y) for x, y in zip(a, b)), BATCH_SMILES[k]


def test_predict_many_returns_a_molecule_s_featurizing_error_in_its_place(gen):
    """A molecule the features refuse does not stop the others: its entry is the error."""
    import dataclasses

    from geomgen.conformers.embedding import embed_seed

    good = embed_seed(parse_molecule(DRUG), seed=1, n_candidates=1, max_iters=0)
    ts = rotatable_torsions(good)
    bad_atoms = ts.atoms.copy()
    bad_atoms[0, 0] = next(a.GetIdx() for a in good.GetAtoms() if a.GetAtomicNum() == 1)  # a hydrogen: refused
    out = gen.predict_many([(good, None), (good, dataclasses.replace(ts, atoms=bad_atoms)), (good, ts)])
    assert isinstance(out[1], ValueError) and "heavy atoms" in str(out[1])
    assert all(np.array_equal(x, y) for x, y in zip(_params(out[0][1]), _params(out[2][1])))
