import numpy as np
import pytest

from tests.scripts import load_script


@pytest.fixture(scope="module")
def sel():
    return load_script("data/conformers/select_training.py")


def test_rake_matches_every_reachable_margin(sel):
    rng = np.random.default_rng(0)
    x = rng.random((2000, 3)) < [0.1, 0.5, 0.7]
    x[:, 1] |= x[:, 0]  # correlated features
    target = np.array([0.4, 0.6, 0.2])
    w = sel.rake(x, target)
    assert w.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(sel.shares(x, w), target, atol=1e-5)


def test_rake_skips_unreachable_features(sel):
    x = np.array([[1, 0], [0, 0], [1, 0], [0, 0]], dtype=bool)  # nobody has feature 1
    w = sel.rake(x, np.array([0.75, 0.15]))
    assert sel.shares(x, w)[0] == pytest.approx(0.75) and np.all(w > 0)


def test_weighted_sample_without_replacement_follows_the_weights(sel):
    rng = np.random.default_rng(1)
    w = np.array([1.0, 1.0, 8.0, 0.0])
    firsts = [sel.weighted_sample(w, 1, rng)[0] for _ in range(4000)]
    assert np.mean(np.array(firsts) == 2) == pytest.approx(0.8, abs=0.03)  # P(first = i) = w_i / sum w
    two = sel.weighted_sample(w, 3, rng)
    assert sorted(two.tolist()) == [0, 1, 2]  # never the zero-weight item, no repeats
    with pytest.raises(ValueError, match="cannot draw 4"):
        sel.weighted_sample(w, 4, rng)


def test_features_known_answers(sel):
    from geomgen.conformers import parse_molecule, rotatable_torsions

    names = list(sel.FEATURES)

    def feats(smi):
        m = parse_molecule(smi)
        return dict(zip(names, sel.features(m, rotatable_torsions(m))))

    f = feats("CCN(CC)CCCC(=O)O")  # a tertiary amine and an acid, sp3-sp3 torsions
    assert f["basic amine"] and f["carboxylic acid"] and f["two or more sp3-sp3 torsions"] and not f["amide"]
    g = feats("CC(=O)Nc1ccc(OC)cc1")  # paracetamol methyl ether: amide, aryl ether, aryl-N torsion
    assert g["amide"] and g["aryl ether"] and g["an aryl-N torsion"] and not g["basic amine"] and not g["urea"]
    h = feats("CN1CCN(C(=O)NC)CC1")  # a piperazine urea: the ring N-methyl is basic, the urea N is not
    assert h["urea"] and h["saturated ring N"] and h["basic amine"]
