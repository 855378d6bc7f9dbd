import json

from evaluation.singular.run_highdim import reuse_cells
from geomgen.singular.cli import resolve_study
from geomgen.singular.studies import load_cells, load_study


def _write(d, key, status):
    (d / "cells").mkdir(parents=True, exist_ok=True)
    (d / "cells" / f"{key}.json").write_text(json.dumps({"key": key, "status": status, "w1": 0.5}))


def test_reuse_copies_only_finished_cells_with_this_study_s_keys(tmp_path):
    cfg = load_study(resolve_study("tiny"))
    keys = [c.key for c in cfg.cells()]
    other, out = tmp_path / "other", tmp_path / "out"
    _write(other, keys[0], "ok")
    _write(other, keys[1], "error")  # a failed cell is run again, not copied
    _write(other, keys[2][:-10] + "0123456789", "ok")  # same names, another spec hash: not this study's cell
    (out / "cells").mkdir(parents=True)
    assert reuse_cells(cfg, out, [other]) == 1
    done = load_cells(out)
    assert set(done) == {keys[0]} and done[keys[0]]["w1"] == 0.5
    assert reuse_cells(cfg, out, [other]) == 0  # already finished here


def test_reuse_does_not_overwrite_a_finished_cell(tmp_path):
    cfg = load_study(resolve_study("tiny"))
    key = cfg.cells()[0].key
    other, out = tmp_path / "other", tmp_path / "out"
    _write(other, key, "ok")
    _write(out, key, "ok")
    (out / "cells" / f"{key}.json").write_text(json.dumps({"key": key, "status": "ok", "w1": 0.25}))
    assert reuse_cells(cfg, out, [other]) == 0
    assert load_cells(out)[key]["w1"] == 0.25
