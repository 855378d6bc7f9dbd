"""evaluate.py's discrete-state report: amide E/Z states and nitrogen configurations of a method's
conformers against the reference's populations."""

from types import SimpleNamespace

import numpy as np
import pytest

from geomgen.conformers import embed_seed, parse_molecule
from geomgen.conformers.discrete_states import invert_nitrogen, nitrogen_states
from tests.scripts import load_script

AMINE = "CCN(C)Cc1ccccc1"  # N-ethyl-N-methylbenzylamine: a pyramid that is a configuration


@pytest.fixture(scope="module")
def mod():
    return load_script("evaluation/conformers/evaluate.py")


def test_nitrogen_sites_are_the_configurational_ones(mod):
    amine = embed_seed(parse_molecule(AMINE), seed=0)
    sites = mod.nitrogen_sites(amine)
    assert len(sites) == 1 and amine.GetAtomWithIdx(sites[0][0]).GetSymbol() == "N"
    assert mod.nitrogen_sites(embed_seed(parse_molecule("CN(C)C"), seed=0)) == []  # NMe3: graph symmetry relabels it
    assert mod.nitrogen_sites(embed_seed(parse_molecule("CC(=O)N(C)C"), seed=0)) == []  # an amide nitrogen is planar


def test_state_summary_against_recorded_reference_populations(mod):
    mol = embed_seed(parse_molecule(AMINE), seed=0)
    (site,) = mod.nitrogen_sites(mol)
    x = mol.GetConformer().GetPositions()
    y = invert_nitrogen(x, *site)
    s0 = bool(nitrogen_states([site], x)[0, 0])
    assert bool(nitrogen_states([site], y)[0, 0]) != s0
    # a method with 3 of 4 conformers in x's configuration; the reference records 0.4 in state 1
    pos = np.stack([x, x, x, y])
    share = float(nitrogen_states([site], pos).mean())
    assert share == (0.75 if s0 else 0.25)
    # a reference whose rebuilt conformers (with their stored states) are 2 of 5 in state 1
    rebuilt = np.stack([x, x, x, y, y]) if not s0 else np.stack([y, y, y, x, x])

    class Ref(SimpleNamespace):
        def conformers(self, n):
            from rdkit import Chem

            m = Chem.Mol(self.mol)
            m.RemoveAllConformers()
            for p in rebuilt[:n]:
                c = Chem.Conformer(m.GetNumAtoms())
                for i, v in enumerate(p):
                    c.SetAtomPosition(i, v.tolist())
                m.AddConformer(c, assignId=True)
            return m

    ref = Ref(id="m", mol=mol, states=np.zeros(5, np.uint32), angles=np.zeros((5, 1)),
              diagnostics={"state_names": [f"nitrogen-{site[0]}"], "state_population": [0.9]})
    assert mod.reference_nitrogen_population(ref) == [pytest.approx(0.4)]  # not the recorded 0.9
    old = Ref(id="old", mol=mol, states=None, angles=np.zeros((5, 1)), diagnostics=ref.diagnostics)
    assert mod.reference_nitrogen_population(old) is None  # no stored states: left out
    scores = [{"amide": None, "nitrogen": [share]}, None, {"amide": None, "nitrogen": [share]}]
    out = mod.state_summary([ref, ref, old], scores, "nitrogen")
    assert out["molecules"] == [["m", [share], [pytest.approx(0.4)]]]
    assert out["MAD"] == pytest.approx(abs(share - 0.4)) and out["within 0.1"] == 0.0
    assert np.isnan(mod.state_summary([ref], [{"amide": None, "nitrogen": None}], "amide")["MAD"])
    rows = [{"split": "test", "method": "geomgen", "nitrogen populations": out}]
    text = "\n".join(mod.state_markdown(rows, "nitrogen"))
    assert "Nitrogen configurations, test" in text and f"| m | nitrogen-0 | 0.40 | {share:.2f} |" in text
    assert mod.state_markdown(rows, "amide") == []  # no amide rows in these results


def test_with_sites_keeps_references_with_those_sites_and_stored_states(mod):
    def ref(smiles, states=True):
        return SimpleNamespace(id=smiles, mol=parse_molecule(smiles), states=np.zeros((2, 1)) if states else None)

    refs = [ref("CC(=O)NC"), ref("CCN(C)CCc1ccccc1"), ref("CC(=O)N(C)CCN(C)C1CC1"), ref("CCCC"), ref("CC(=O)NC", states=False)]
    assert [r.id for r in mod.with_sites(refs, ["amide"])] == ["CC(=O)NC", "CC(=O)N(C)CCN(C)C1CC1"]
    assert [r.id for r in mod.with_sites(refs, [])] == [r.id for r in refs[:4]]
    assert [r.id for r in mod.with_sites(refs, ["nitrogen"])] == ["CCN(C)CCc1ccccc1", "CC(=O)N(C)CCN(C)C1CC1"]
    assert [r.id for r in mod.with_sites(refs, ["amide", "nitrogen"])] == ["CC(=O)N(C)CCN(C)C1CC1"]


def test_state_summary_by_kind_of_partial_double_bond(mod):
    """Amide-site populations are also summarised per kind of site (amide, ester, acid, ...), with
    the molecules' sites in partial_double_bonds order."""
    carbamate = SimpleNamespace(id="c", mol=parse_molecule("CNC(=O)OCC"))  # two sites: carbamate C-N and C-O
    acid = SimpleNamespace(id="a", mol=parse_molecule("OC(=O)c1ccccc1"))  # one: the acid's O-H
    scores = [{"amide": [0.0, 0.5]}, {"amide": [0.0]}]
    out = mod.state_summary([carbamate, acid], scores, "amide", reference=[[0.05, 0.1], [1.0]])
    assert out["MAD"] == pytest.approx((0.05 + 0.4 + 1.0) / 3)
    assert list(out["by class"]) == ["carbamate", "acid"]
    assert out["by class"]["carbamate"] == {"sites": 2, "MAD": pytest.approx(0.225), "within 0.1": 0.5}
    assert out["by class"]["acid"] == {"sites": 1, "MAD": pytest.approx(1.0), "within 0.1": 0.0}
    assert "by class" not in mod.state_summary([carbamate], [{"nitrogen": [0.5]}], "nitrogen", reference=[[0.5]])
    text = "\n".join(mod.state_markdown([{"split": "val", "method": "geomgen", "amide populations": out}], "amide"))
    assert "| method | carbamate | acid |" in text and "| geomgen | 0.225 (1/2) | 1.000 (0/1) |" in text
