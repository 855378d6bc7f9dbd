"""The generator's assembled seeds (issue 27): path reported, stereo kept, fallback, ring seeds."""

import numpy as np
import pytest

from geomgen.conformers import parse_molecule, stereo_matches
from geomgen.conformers.generator import ConformerGenerator, seed_paths
from geomgen.conformers.ringlib import RingLibrary


@pytest.fixture(autouse=True)
def _no_clash_fallback(monkeypatch):
    """The tiny test network's draws are untrained and clash often on any seed: these tests are
    about the assembled path, so the clash-share fallback is off unless a test turns it on."""
    import geomgen.conformers.generator as g

    monkeypatch.setattr(g, "ASSEMBLY_CLASH_FALLBACK", 1.0)


@pytest.fixture(scope="module")
def gen(tiny_checkpoint, tmp_path_factory):
    from geomgen.conformers.statelib import StateLibrary

    lib = RingLibrary(folder=tmp_path_factory.mktemp("ringlib"), shipped=False)
    states = StateLibrary(folder=tmp_path_factory.mktemp("statelib"), shipped=False)
    return ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="assembly", ring_library=lib, state_library=states,
                                              amide_states="library")


def test_amide_states_are_drawn_by_their_library_probabilities(gen, tiny_checkpoint):
    """N-ethyl-N-methylacetamide has both states about equally likely (library p = 0.49; the
    reference sampler's amide flips: 0.47): the conformers cover both in about that share, and with
    amide_states="usual" every conformer keeps the assembler's state."""
    from geomgen.conformers.discrete_states import amide_states

    smi = "CCN(C)C(C)=O"
    mols, reports = gen.generate_many([("nenma", smi)], n=64, seed=3)
    p = reports[0].extra["amide_state_p"]["0"]
    assert p == pytest.approx(0.49, abs=0.05)
    pos = np.stack([c.GetPositions() for c in mols[0].GetConformers()])
    assert amide_states(mols[0], pos)[:, 0].mean() == pytest.approx(p, abs=0.15)
    usual = ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="assembly", ring_library=gen.ring_library)
    assert usual.amide_states == "usual"  # the default
    mol = usual.generate(smi, n=16, seed=3)
    states = amide_states(mol, np.stack([c.GetPositions() for c in mol.GetConformers()]))[:, 0]
    assert states.all() or not states.any()
    with pytest.raises(ValueError, match="amide_states"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, amide_states="both")


def test_a_site_whose_other_state_is_improbable_takes_the_probable_one_on_every_seed(gen):
    """N-benzylacetamide: the library puts its cis state below MIN_STATE_PROBABILITY, so the site
    is not drawn and every conformer is trans."""
    from geomgen.conformers.discrete_states import amide_states

    mols, reports = gen.generate_many([("nba", "CC(=O)NCc1ccccc1")], n=32, seed=0)  # p(cis) = 0.004
    assert reports[0].extra["amide_state_p"]["0"] < 0.01
    pos = np.stack([c.GetPositions() for c in mols[0].GetConformers()])
    assert not amide_states(mols[0], pos)[:, 0].any()


def test_assembled_seeds_keep_stereo_and_are_reproducible(gen):
    items = [("a", "CC(=O)N[C@@H](Cc1ccccc1)C(=O)N1CC[C@H](O)C1"), ("b", r"F/C=C/C[C@H](N)c1ccncc1")]
    mols, reports = gen.generate_many(items, n=8, seed=2)
    for (_, smi), mol, rep in zip(items, mols, reports):
        assert rep.ok and rep.extra["seed"] == "assembled" and mol.GetNumConformers() == 8
        ref = parse_molecule(smi)
        assert all(stereo_matches(mol, conf_id=c.GetId(), reference=ref) for c in mol.GetConformers())
    again, _ = gen.generate_many(items[::-1], n=8, seed=2)
    np.testing.assert_array_equal(again[1].GetConformer(7).GetPositions(), mols[0].GetConformer(7).GetPositions())
    assert seed_paths(reports) == {"assembled": 2}


def test_macrocycle_falls_back_to_etkdg(gen):
    mols, reports = gen.generate_many([("m", "O=C1CCCCCCCCCCN1")], n=4, seed=0)
    assert reports[0].ok and mols[0].GetNumConformers() == 4
    assert reports[0].extra["seed"] == "etkdg" and reports[0].extra["seed_fallback"] == "macrocycle"
    assert seed_paths(reports) == {"etkdg": 1}


def test_ring_conformations_become_seeds_by_weight(gen):
    mol = gen.generate("C[C@H]1CC[C@H](CC1)CCO", n=20, seed=1)  # cis: the methyl or the ethanol axial
    seeds = {int(c.GetProp("ring_seed")) for c in mol.GetConformers()}
    assert len(seeds) == 2


def test_ring_seeds_caps_the_assembled_seeds_too(gen, tmp_path, tiny_checkpoint):
    """``ring_seeds`` (``--ring-seeds``) caps the seeds of either method: before, assembled seeds
    (the default) took up to ``ring_conformations`` whatever it said."""
    from geomgen.cli import main

    smi = "C[C@H]1CC[C@H](CC1)CCO"
    one = ConformerGenerator(gen.net, ring_seeds=1, ring_library=gen.ring_library).generate(smi, n=20, seed=1)
    assert not any(c.HasProp("ring_seed") for c in one.GetConformers())
    out = tmp_path / "one.sdf"
    assert main(["conformers", smi, "-n", "20", "--seed", "1", "-o", str(out), "--model", str(tiny_checkpoint),
                 "--ring-seeds", "1"]) == 0
    assert "ring_seed" not in out.read_text()
    assert main(["conformers", smi, "-n", "20", "--seed", "1", "-o", str(out), "--model", str(tiny_checkpoint)]) == 0
    assert "ring_seed" in out.read_text()  # the default: several assembled seeds


def test_unknown_seed_method_is_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="seed_method"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="corina")


def test_a_molecule_whose_draws_keep_clashing_on_the_assembled_seed_gets_an_etkdg_seed(gen, monkeypatch):
    """Above ASSEMBLY_CLASH_FALLBACK (the share of draws the clash check rejects), the molecule
    is generated again from an ETKDGv3 seed and the report says why; at 1 nothing falls back."""
    import geomgen.conformers.generator as g

    item = [("x", "CC(=O)N[C@@H](Cc1ccccc1)C(=O)N1CC[C@H](O)C1")]
    monkeypatch.setattr(g, "ASSEMBLY_CLASH_FALLBACK", 1.0)
    _, (kept,) = gen.generate_many(item, n=6, seed=2)
    assert kept.ok and kept.extra["seed"] == "assembled" and "seed_fallback" not in kept.extra
    monkeypatch.setattr(g, "ASSEMBLY_CLASH_FALLBACK", -1.0)  # every molecule with a draw falls back
    (mol,), (rep,) = gen.generate_many(item, n=6, seed=2)
    assert rep.ok and mol.GetNumConformers() == 6 and rep.extra["seed"] == "etkdg"
    assert rep.extra["seed_fallback"].startswith("the clash check rejected ") and "draws on the assembled seed" in rep.extra["seed_fallback"]


def test_library_amides_with_state_seeds_seed_only_the_sites_the_library_does_not_place(gen, tiny_checkpoint):
    """A 6-acetamido-4-quinolone-3-carboxylic acid: the library places the amide (trans), and has
    no fragment for the acid's O-H, whose state 1 (anti, hydrogen-bonded to the ring's C=O) the
    state seeds find; so do the acid's own state seeds of the default (acid_states="minima"), and with
    acid_states="usual" every conformer keeps the assembler's syn O-H."""
    from geomgen.conformers.discrete_states import amide_states, partial_double_bonds

    smi = "CC(=O)Nc1ccc2[nH]cc(C(=O)O)c(=O)c2c1"
    mol = parse_molecule(smi)
    both = ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="assembly", ring_library=gen.ring_library,
                                              state_library=gen.state_library, amide_states="library", state_seeds=8)
    (m,), (rep,) = both.generate_many([("q", smi)], n=16, seed=0)
    placed = set(rep.extra["amide_state_p"])
    assert placed and len(placed) < len(partial_double_bonds(mol))
    assert rep.extra["state_sites"] == [f"amide-{k}" for k in range(len(partial_double_bonds(mol))) if str(k) not in placed]
    acid = int(rep.extra["state_sites"][0].split("-")[1])
    pos = np.stack([c.GetPositions() for c in m.GetConformers()])
    assert amide_states(m, pos)[:, acid].mean() > 0.9
    (alone,), _ = gen.generate_many([("q", smi)], n=16, seed=0)
    assert amide_states(alone, np.stack([c.GetPositions() for c in alone.GetConformers()]))[:, acid].mean() > 0.9
    syn = ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="assembly", ring_library=gen.ring_library,
                                             state_library=gen.state_library, acid_states="usual")
    (usual,), _ = syn.generate_many([("q", smi)], n=16, seed=0)
    assert amide_states(usual, np.stack([c.GetPositions() for c in usual.GetConformers()]))[:, acid].mean() == 0.0


def test_state_seeds_on_each_assembled_ring_conformation(gen, tiny_checkpoint):
    """N-methyl-N-(4-methylcyclohexyl)acetamide: assembled on two ring conformations, each gets its
    own state seeds (both amide states are within the window), the weights multiplied; the entries
    say which ring seed they come from and the conformers cover both states."""
    many = ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="assembly", ring_library=gen.ring_library,
                                              state_library=gen.state_library, amide_states="usual", state_seeds=8)
    (m,), (rep,) = many.generate_many([("c", "CC(=O)N(C)C1CCC(C)CC1")], n=40, seed=1)
    entries = rep.extra["state_seeds"]
    assert rep.extra["ring_seeds"] == 2 and {e["ring_seed"] for e in entries} == {0, 1}
    assert {e["states"] for e in entries} == {"0", "1"}
    assert sum(e["weight"] for e in entries) == pytest.approx(1.0, abs=1e-3)
    assert sum(e["conformers"] for e in entries) == m.GetNumConformers() == 40
    assert {c.GetProp("amide_states") for c in m.GetConformers()} == {"0", "1"}


def test_held_seed_relaxation_keeps_the_rotatable_torsions_and_free_moves_them(gen, tiny_checkpoint):
    """seed_relaxation="held": the MMFF94 iterations on an assembled seed leave its rotatable
    torsions where assembly put them (the draws set them afresh) and move the rest; "free" moves
    the torsions too."""
    from geomgen.conformers.torsions import dihedral_angles, rotatable_torsions

    mol = parse_molecule("CC(O)c1ccccc1OCC(C)N", name="m")
    ts = rotatable_torsions(mol)
    out = {}
    for mode, iters in (("free", 0), ("free", 60), ("held", 60)):
        g = ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_method="assembly", ring_library=gen.ring_library,
                                               seed_relaxation=mode, assembly_iters=iters)
        seed = g._assembled(mol, 7, 1, g.assembly_iters, {}, ts)[0]
        out[mode, iters] = seed.GetConformer().GetPositions()
    angle = {k: dihedral_angles(p[None], ts.atoms)[0] for k, p in out.items()}
    turn = lambda a, b: np.abs(np.angle(np.exp(1j * (a - b))))  # noqa: E731
    assert turn(angle["held", 60], angle["free", 0]).max() < 5e-3
    assert turn(angle["free", 60], angle["free", 0]).max() > 0.05
    assert np.abs(out["held", 60] - out["free", 0]).max() > 0.01  # the rest relaxed
    with pytest.raises(ValueError, match="seed_relaxation"):
        ConformerGenerator.from_checkpoint(tiny_checkpoint, seed_relaxation="frozen")
