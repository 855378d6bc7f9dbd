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


def test_a_report_of_some_cells_keeps_the_other_recorded_rows(tmp_path):
    out = tmp_path / "t1"
    out.mkdir()
    shutil.copy(COMMITTED / "table1_protocols.json", out)  # the committed record, no cell files
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
