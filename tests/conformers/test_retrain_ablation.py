"""evaluation/conformers/retrain_ablation.py: the scorer's marginal W1 and joint NLL, the report's columns."""
import numpy as np
import pytest
import torch

from evaluation.conformers import retrain_ablation as RA
from geomgen.conformers import embed_seed, parse_molecule, rotatable_torsions
from geomgen.conformers.features import featurize
from geomgen.conformers.model import VonMisesNet


def _scorer(smiles="CCCCO", samples=50):
    mol = embed_seed(parse_molecule(smiles), seed=0)
    ts = rotatable_torsions(mol)
    angles = np.random.default_rng(0).uniform(-np.pi, np.pi, (300, len(ts))).astype(np.float32)
    sc = object.__new__(RA.Scorer)  # without loading the shipped reference sets
    sc.samples, sc.nll_samples = samples, 100
    sc.sets = {"val": [(featurize(mol, ts.atoms, torsion_features=True), angles, np.ones(len(ts), np.int64), ["sp3-sp3"] * len(ts))]}
    return sc, angles


@pytest.mark.parametrize("coupling", [False, True])
def test_scorer_nll_is_the_joint_log_likelihood_per_torsion(coupling):
    sc, angles = _scorer()
    torch.manual_seed(0)
    net = VonMisesNet(hidden=16, num_layers=2, num_components=3, coupling=coupling).eval()
    out = sc(net)["val"]
    rows = np.linspace(0, len(angles) - 1, 100).round().astype(int)
    g = sc.sets["val"][0][0]
    import dataclasses

    with torch.no_grad():
        law = net.law(dataclasses.replace(g, torsion_attr=None))
        want = -float(law.log_prob(torch.as_tensor(angles[rows])).sum(-1).mean()) / angles.shape[1]
    assert out["nll"] == pytest.approx(want, rel=1e-5)
    assert out["molecules"] == 1 and 0 <= out["w1"] <= np.pi


def test_report_has_nll_columns_and_names_coupled_variants():
    scores = {s: {"w1": 0.3, "nll": 1.1, "molecules": 2, "by_class": {"sp3-sp3": [0.3, 4]}} for s in RA.SPLITS}
    rows = [{"variant": "all-coupled", "seed": k, "train_molecules": 10, "net": {"num_layers": 5, "num_components": 6, "hidden": 128,
             "coupling": True}, "scores": scores} for k in (0, 1)]
    old = {s: {"w1": 0.3, "molecules": 2, "by_class": {"sp3-sp3": [0.3, 4]}} for s in RA.SPLITS}  # an earlier report: no NLL
    text = RA.to_markdown(rows, old, "header")
    head, sep, shipped, row = text.splitlines()[2:6]
    assert head.count("NLL") == 3 and sep.count("---") == 3 + 3 * len(RA.SPLITS)
    assert shipped.endswith("- | - | - |") and ", coupled (full)" in row and "1.100 ± 0.000" in row
