import re

import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from geomgen.conformers.io import (
    StreamedFile,
    check_output_path,
    iter_input_molecules,
    read_molecules,
    read_sdf_groups,
    sdf_records,
    unique_name,
    write_sdf_atomic,
)


def _ethanol(n: int):
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMultipleConfs(mol, n, randomSeed=7)
    return mol


def _props(name: str, line: int, n: int):
    return [{"_Name": f"{name}_{c}", "molecule": name, "input_line": line, "conformer": c, "energy": 1.0 / 3} for c in range(n)]


def test_line_numbers_and_unique_names(tmp_path):
    smi = tmp_path / "in.smi"
    smi.write_text("# header\nCCO a\n\nCCC a\nCCCC\nCCCCC a_2\nCCCCCC a\n")
    got = [(m.line, m.name, m.item, m.given_name) for m in iter_input_molecules(str(smi))]
    assert got == [(2, "a", "CCO", "a"), (4, "a_2", "CCC", "a"), (5, "mol-4", "CCCC", "mol-4"),
                   (6, "a_2_2", "CCCCC", "a_2"), (7, "a_3", "CCCCCC", "a")]  # fmt: skip
    assert [name for name, _ in read_molecules(str(smi))] == ["a", "a_2", "mol-4", "a_2_2", "a_3"]
    c = tmp_path / "in.csv"
    c.write_text('id,SMILES\nx,CCO\n"y\nz",CCC\nx,CCCC\n')  # a quoted name over two lines
    assert [(m.line, m.name) for m in iter_input_molecules(str(c))] == [(2, "x"), (4, "y_z"), (5, "x_2")]  # a newline would break an SD title line
    sdf = tmp_path / "in.sdf"
    with Chem.SDWriter(str(sdf)) as w:
        for name in ("p", "q", "p"):
            m = Chem.MolFromSmiles("CCO")
            m.SetProp("_Name", name)
            w.write(m)
    assert [(m.line, m.name) for m in iter_input_molecules(str(sdf))] == [(1, "p"), (2, "q"), (3, "p_2")]
    assert [(m.line, m.name, m.item) for m in iter_input_molecules("CCO")] == [(1, "mol-0", "CCO")]
    used = {"b", "b_2"}
    assert unique_name("b", used) == "b_3" and "b_3" in used


def test_unreadable_inputs_raise_value_error(tmp_path):
    (tmp_path / "empty.sdf").write_text("")
    assert list(iter_input_molecules(str(tmp_path / "empty.sdf"))) == []
    (tmp_path / "d.smi").mkdir()
    (tmp_path / "b.smi").write_bytes(b"\xff\xfeCCO\n")
    for path, reason in (("d.smi", "is a folder"), ("b.smi", "not a text file"), ("none.csv", "does not exist")):
        with pytest.raises(ValueError, match=reason):
            list(iter_input_molecules(str(tmp_path / path)))


def test_records_match_the_sd_writer_and_hold_one_conformer(tmp_path):
    mol = _ethanol(3)
    props = _props("eth", 4, 3)
    texts = list(sdf_records(mol, props))
    assert len(texts) == 3 and all(t.endswith("$$$$\n") for t in texts)
    with Chem.SDWriter(str(tmp_path / "ref.sdf")) as w:  # the writer before issue 13: a full copy per record
        for c, conf in enumerate(mol.GetConformers()):
            rec = Chem.Mol(mol)
            for k, v in props[c].items():
                rec.SetProp(k, f"{v:.6g}" if isinstance(v, float) else str(v))
            w.write(rec, confId=conf.GetId())
    # the same text, less the SD writer's running record number on property lines (">  <molecule>  (2)"): a
    # record does not depend on its position in the file, so streamed and resumed files are alike
    assert "".join(texts) == re.sub(r"(?m)^(>  <.*>)  \(\d+\) $", r"\1  ", (tmp_path / "ref.sdf").read_text())
    assert write_sdf_atomic(tmp_path / "out.sdf", [(mol, props), (mol, None)]) == 6
    recs = list(Chem.SDMolSupplier(str(tmp_path / "out.sdf"), removeHs=False))
    assert [r.GetNumConformers() for r in recs] == [1] * 6
    assert recs[1].GetProp("energy") == "0.333333" and recs[1].GetProp("input_line") == "4"


def test_read_sdf_groups(tmp_path):
    mol = _ethanol(2)
    path = tmp_path / "out.sdf"
    path.write_text("".join([*sdf_records(mol, _props("a", 1, 2)), *sdf_records(mol, _props("b", 3, 2))]))
    groups = list(read_sdf_groups(path))
    assert [(g.line, g.name, g.records) for g in groups] == [(1, "a", 2), (3, "b", 2)]
    assert "".join(g.text for g in groups) == path.read_text()
    path.write_text(path.read_text()[:-30])
    with pytest.raises(ValueError, match="cut short"):
        list(read_sdf_groups(path))
    path.write_text("".join(sdf_records(mol, None)))
    with pytest.raises(ValueError, match="no input_line"):
        list(read_sdf_groups(path))


def test_check_output_path(tmp_path):
    (tmp_path / "f.sdf").write_text("")
    assert check_output_path("-", (".sdf",)) is None
    assert check_output_path(tmp_path / "new" / "x.sdf", (".sdf",)) is None
    assert "is a folder" in check_output_path(tmp_path, (".sdf",))
    assert "unknown output type '.foo' (use .sdf)" in check_output_path(tmp_path / "x.foo", (".sdf",))
    assert "is a file, not a folder" in check_output_path(tmp_path / "f.sdf" / "x.sdf", (".sdf",))
    assert "unknown output type ''" in check_output_path("-", (".sdf",), allow_stdout=False)


def test_streamed_file(tmp_path):
    out = tmp_path / "out.sdf"
    out.write_text("old\n")
    f = StreamedFile(out)
    f.write("new\n")
    assert out.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 2  # written beside, not in place
    assert f.finish() and out.read_text() == "new\n"
    f = StreamedFile(out)
    f.discard()  # nothing done: the earlier file stays
    assert out.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["out.sdf"]
    f = StreamedFile(out)
    assert not f.finish()  # finished with nothing in it: a stale file is removed
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(IsADirectoryError):
        StreamedFile(tmp_path)


@pytest.mark.parametrize("smiles", ["O=C(O)[C@@H](O)[C@@H](O)[C@H](O)[C@@H](O)C(=O)O", "C[C@@H](COc1ccccc1)N(CCCl)Cc1ccccc1",
                                    "C/C=C/C[C@H](N)c1ccc(F)cc1"])
def test_records_of_a_chiral_molecule_keep_its_stereo_and_differ_only_in_coordinates(tmp_path, smiles):
    """One connection table for all conformers: RDKit's wedges (from a 2D projection of each
    conformer) are left out, the stereo read back from every record is the molecule's own."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    cids = list(AllChem.EmbedMultipleConfs(mol, 6, randomSeed=3))
    props = _props("m", 1, len(cids))
    texts = list(sdf_records(mol, props))
    want = Chem.MolToSmiles(Chem.RemoveHs(mol))
    for c, text in zip(cids, texts):
        back = Chem.MolFromMolBlock(text, removeHs=False)
        assert Chem.MolToSmiles(Chem.RemoveHs(back)) == want
        assert abs(back.GetConformer().GetPositions() - mol.GetConformer(c).GetPositions()).max() < 1e-4
        # RDKit's own record of this conformer, less its wedges and its running record numbers
        rec = Chem.Mol(mol, confId=c)
        for k, v in props[c].items():
            rec.SetProp(k, f"{v:.6g}" if isinstance(v, float) else str(v))
        ref = Chem.SDWriter.GetText(rec, confId=c)
        wedge_free = re.sub(r"(?m)^(\s*\d+\s*\d+  1)  [16](\s)", r"\1  0\2", ref)
        assert text == wedge_free
    assert [len(t.splitlines()) for t in texts] == [len(texts[0].splitlines())] * len(texts)
