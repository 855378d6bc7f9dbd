"""Table 1's report keeps what it recorded: a fresh clone (no cell files) reruns nothing already
reported, and a run of a few cells keeps the other rows of the JSON."""

import json
import shutil
from pathlib import Path

from evaluation.pointclouds import table1_protocols as t1

COMMITTED = Path(t1.__file__).resolve().parent / "table1_converged"
ARGS = ["--steps", "6000", "--batch-size", "32", "--shapes-per-class", "200", "--eval-every", "250"]


def test_recorded_rows_reads_the_finished_rows_of_a_report(tmp_path):
    raw = {"protocols": {"a": {"cells": {"k1": {"status": "ok", "protocol": "a"}, "k2": None}},
                         "b": {"cells": {"k3": {"status": "failed"}, "k4": {"status": "ok", "protocol": "b"}}}}}
    (tmp_path / "table1_protocols.json").write_text(json.dumps(raw))
    assert sorted(t1.recorded_rows(tmp_path)) == ["k1", "k4"]
    (tmp_path / "table1_protocols.json").write_text("{not json")
    assert t1.recorded_rows(tmp_path) == {}
    assert t1.recorded_rows(tmp_path / "missing") == {}


def _committed_record(tmp_path) -> Path:
    """A fresh output folder holding the committed record alone (no cell files)."""
    out = tmp_path / "t1"
    out.mkdir()
    shutil.copy(COMMITTED / "table1_protocols.json", out)
    return out


def test_a_report_of_some_cells_keeps_the_other_recorded_rows(tmp_path):
    out = _committed_record(tmp_path)
    before = t1.recorded_rows(out)
    assert len(before) >= 8
    sw = sorted(k for k in before if k.startswith("small_faithful__SW__seed0"))
    assert sw
    # the SW seed-0 cell is recorded, so nothing is trained: the report reads it back
    assert t1.main([*ARGS, "--out", str(out), "--protocols", "small_faithful", "--methods", "SW", "--seeds", "0"]) == 0
    text = (out / "table1_protocols.md").read_text()
    assert "| SW | 1 |" in text and "Unfinished cells" not in text
    after = t1.recorded_rows(out)
    assert sorted(after) == sorted(before)  # every other recorded row is still in the JSON
    assert after[sw[0]]["chamfer"] == before[sw[0]]["chamfer"]


def test_paired_against_gives_scipy_s_paired_t_interval_and_judges_by_it():
    """Every method minus SW, paired by seed: the interval is scipy's paired t interval; a method
    worse on every seed by far more than the spread is 'worse', an unresolved one '-', one seed or
    no seed shared with SW is left out."""
    from scipy.stats import ttest_rel

    sw = {0: 0.020, 1: 0.021, 2: 0.019}
    worse = {s: {"chamfer": v + 0.003 + 0.0001 * s, "sw": v, "emd": v - 0.001 * (s - 1)} for s, v in sw.items()}
    rows = {"SW": {s: {"chamfer": v, "sw": v, "emd": v} for s, v in sw.items()}, "A": worse,
            "B": {0: {"chamfer": 0.01, "sw": 0.01, "emd": 0.01}}, "C": {7: {"chamfer": 0.01, "sw": 0.01, "emd": 0.01}}}
    lines = t1.paired_against(rows)
    body = [line for line in lines if line.startswith("| A |")]
    assert len(body) == 1 and not any(line.startswith(("| B |", "| C |")) for line in lines)
    cells = [c.strip() for c in body[0].strip("|").split("|")]
    a = [worse[s]["chamfer"] for s in (0, 1, 2)]
    ci = ttest_rel(a, [sw[s] for s in (0, 1, 2)]).confidence_interval(0.95)
    lo, hi = (float(x) for x in cells[3].split(" to "))
    assert lo == round(100 * ci.low, 3) and hi == round(100 * ci.high, 3)
    assert cells[4] == "worse" and cells[7] == "-" and cells[10] == "-"  # SW_2: no difference; EMD: spread, mean 0
    assert t1.paired_against({"SW": rows["SW"]}) == []


def test_paired_against_another_reference_keeps_only_the_methods_named():
    """Against v-DSW (the amortizers' own loss): only the methods named get a row (all others with
    ``methods=None``), the reference never gets one, and without the reference's rows there is no table."""
    from scipy.stats import ttest_rel

    ref = {s: {"chamfer": 0.020 + 0.001 * s, "sw": 0.03, "emd": 0.1} for s in (0, 1, 2)}
    amort = {s: {"chamfer": ref[s]["chamfer"] + 0.002 + 0.0002 * s, "sw": 0.03, "emd": 0.1} for s in (0, 1, 2)}
    rows = {"SW": ref, "v-DSW": ref, "A amortized": amort}
    lines = t1.paired_against(rows, "v-DSW", ["A amortized"])
    assert "| method | seeds | CD - v-DSW |" in "\n".join(lines)
    body = [line for line in lines if line.startswith("| ")][1:]
    assert len(body) == 1 and body[0].startswith("| A amortized | 3 |")
    cells = [c.strip() for c in body[0].strip("|").split("|")]
    ci = ttest_rel([amort[s]["chamfer"] for s in (0, 1, 2)], [ref[s]["chamfer"] for s in (0, 1, 2)]).confidence_interval(0.95)
    assert [float(x) for x in cells[3].split(" to ")] == [round(100 * ci.low, 3), round(100 * ci.high, 3)]
    assert cells[4] == "worse"
    assert len([line for line in t1.paired_against(rows, "v-DSW") if line.startswith("| SW |")]) == 1
    assert t1.paired_against({"A amortized": amort}, "v-DSW") == []  # no reference rows: no table


def _max_sw_seed0_as_a_cell_file(tmp_path, **changes):
    """An output folder with the committed record and the committed small_faithful Max-SW seed-0 row
    (with ``changes``) as a finished cell file; returns ``(out, row)``."""
    out = _committed_record(tmp_path)
    packed = [json.loads(line) for line in (COMMITTED / "cells.jsonl").read_text().splitlines()]
    row = next(r for r in packed if r["protocol"] == "small_faithful" and r["method"] == "Max-SW" and r["seed"] == 0)
    (out / "cells").mkdir()
    (out / "cells" / f"{row['key']}.json").write_text(json.dumps({**row, **changes}))
    return out, row


def test_a_report_of_some_methods_leaves_the_reconstruction_figure_alone(tmp_path):
    # a lane runs one method's cells (`--methods M --seeds S`); its report must not replace the protocol's
    # reconstruction figure with one showing only that method, even though its rows carry reconstructions
    out, row = _max_sw_seed0_as_a_cell_file(tmp_path)
    assert row.get("figure")  # the row has what the figure is drawn from
    assert t1.main([*ARGS, "--out", str(out), "--protocols", "small_faithful", "--methods", "Max-SW", "--seeds", "0"]) == 0
    text = (out / "table1_protocols.md").read_text()
    assert "| Max-SW | 1 |" in text and "Unfinished cells" not in text  # the row was read, nothing trained
    assert not (out / "reconstructions_small_faithful.png").exists()


def test_a_method_timed_with_another_sort_than_sw_is_marked_in_the_time_column(tmp_path):
    out, row = _max_sw_seed0_as_a_cell_file(tmp_path, projection_sort="numpy")
    assert "projection_sort" not in row  # the committed cells were timed with torch.sort
    assert t1.main([*ARGS, "--out", str(out), "--protocols", "small_faithful", "--methods", "SW", "Max-SW", "--seeds", "0"]) == 0
    lines = (out / "table1_protocols.md").read_text().splitlines()
    max_sw = next(x for x in lines if x.startswith("| Max-SW | 1 |"))
    sw = next(x for x in lines if x.startswith("| SW | 1 |"))
    assert "\u2021" in max_sw and "\u2021" not in sw
    assert any(x.startswith("\u2021 Max-SW: timed with another sort") for x in lines)


def test_a_method_may_set_system_arguments_of_its_own_and_other_cells_keep_their_keys(tmp_path):
    """The one-setting ablation row of small_geomgen takes small_faithful's amortizer betas and
    nothing else; the committed cells' keys do not change."""
    from geomgen.pointclouds.system import PointCloudAutoencoderSystem

    plain_name, ablated_name = "linear amortized v-DSW", "linear amortized v-DSW, amortizer betas (0, 0.9)"
    args = t1.parse_args([*ARGS, "--out", str(tmp_path), "--protocols", "small_geomgen", "--methods", plain_name, ablated_name,
                          "--seeds", "0"])
    plain, ablated = t1.make_cells(args)
    assert plain["key"] in t1.recorded_rows(COMMITTED)  # the committed cell's key is what it was
    assert ablated["loss"] == plain["loss"] and "system" not in ablated["loss"]
    assert ablated["system"] == {**plain["system"], "amortizer_betas": [0.0, 0.9]} != plain["system"]
    system = PointCloudAutoencoderSystem(t1.instantiate(ablated["autoencoder"], "net"), t1.instantiate(ablated["loss"], "loss"),
                                         **ablated["system"])
    _, amortizer_opt = system.configure_optimizers()
    assert amortizer_opt.param_groups[0]["betas"] == (0.0, 0.9)


def test_the_report_pairs_an_ablation_with_the_method_it_changes(tmp_path):
    """From the committed record alone (nothing trained): the concentration-1 ablation of the linear
    amortizer is tabled against the linear amortizer, paired by seed, with scipy's interval."""
    from scipy.stats import ttest_rel

    out = _committed_record(tmp_path)
    base, ablated = "linear amortized v-DSW", "linear amortized v-DSW, concentration 1"
    assert t1.main([*ARGS, "--out", str(out), "--protocols", "small_geomgen", "--methods", base, ablated, "--report-only"]) == 0
    text = (out / "table1_protocols.md").read_text()
    assert f"Every method minus {base}, paired by seed" in text
    (row,) = [line for line in text.splitlines() if line.startswith(f"| {ablated} | 3 | -")]  # the paired row
    rows = t1.recorded_rows(out)
    by_seed = {m: {r["seed"]: r["chamfer"] for r in rows.values() if r["protocol"] == "small_geomgen" and r["method"] == m}
               for m in (base, ablated)}
    ci = ttest_rel([by_seed[ablated][s] for s in (0, 1, 2)], [by_seed[base][s] for s in (0, 1, 2)]).confidence_interval(0.95)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert [float(x) for x in cells[3].split(" to ")] == [round(100 * ci.low, 3), round(100 * ci.high, 3)]



def test_every_ablation_row_changes_its_base_in_one_setting(tmp_path):
    """A row labelled ``ablation_of`` claims to differ from a method of the same protocol in one setting
    alone (the report's paired table reads the difference as that setting's effect): compared on the
    cells ``make_cells`` builds, loss and system arguments flattened."""
    from geomgen.lightning_cli import _flatten

    seen = 0
    for path in sorted(t1.PROTOCOL_DIR.glob("*.yaml")):
        spec = t1.load_protocol(path.stem)
        for name, method in spec["methods"].items():
            if "ablation_of" not in method:
                continue
            assert "ablation_of" not in spec["methods"][method["ablation_of"]]  # names a method of its own protocol
            args = t1.parse_args([*ARGS, "--out", str(tmp_path), "--protocols", path.stem, "--methods", name,
                                  method["ablation_of"], "--seeds", "0"])
            a, b = ({**_flatten(c["loss"], "loss"), **_flatten(c["system"], "system")} for c in t1.make_cells(args))
            changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
            assert len(changed) == 1, (path.name, name, sorted(changed))
            seen += 1
    assert seen >= 3  # small_geomgen's concentration and betas rows of the linear amortizer, Linformer's concentration row
