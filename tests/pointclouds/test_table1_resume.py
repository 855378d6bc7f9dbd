"""A Table 1 cell stopped part-way resumes from its last checkpoint and ends where an
uninterrupted run of it ends: the same losses, learning curve and test scores."""

from types import SimpleNamespace

import pytest

from evaluation.pointclouds import table1_protocols as t1
from geomgen.pointclouds.system import PointCloudAutoencoderSystem


def _cell(tmp_path, out: str, every: int = 5) -> dict:
    args = SimpleNamespace(protocols=["small_geomgen"], methods=["SW"], seeds=[0], steps=12, batch_size=8,
                           shapes_per_class=10, eval_every=4, curve_shapes=4, emd_shapes=2, figure_index=[0],
                           figure_points=8, threads=1, cache=tmp_path / "cache", out=tmp_path / out,
                           checkpoint_every=every)
    (cell,) = t1.make_cells(args)
    return cell


def test_a_stopped_cell_resumes_where_it_stopped(tmp_path, monkeypatch):
    whole = t1.run_cell(_cell(tmp_path, "whole"))
    cell = _cell(tmp_path, "stopped")
    assert cell["key"] == _cell(tmp_path, "whole", every=0)["key"]  # where it checkpoints is not part of the key
    step = PointCloudAutoencoderSystem.model_step
    calls = []

    def stop_at_the_eleventh(self, batch, stage):
        calls.append(stage)
        if calls.count("train") == 11:
            raise KeyboardInterrupt("stopped")
        return step(self, batch, stage)

    monkeypatch.setattr(PointCloudAutoencoderSystem, "model_step", stop_at_the_eleventh)
    with pytest.raises(KeyboardInterrupt):
        t1.run_cell(cell)
    monkeypatch.setattr(PointCloudAutoencoderSystem, "model_step", step)
    partial = tmp_path / "stopped" / "partial" / f"{cell['key']}.pt"
    assert partial.is_file()  # saved after minibatch 10: the second epoch's third (8 minibatches of 8 an epoch)
    resumed = t1.run_cell(cell)
    assert not partial.exists()  # a finished cell leaves no checkpoint behind
    assert resumed["steps"] == whole["steps"] == 12
    assert resumed["loss_trace_every_10"] == whole["loss_trace_every_10"]
    assert [(c["step"], c["chamfer"], c["sw"]) for c in resumed["curve"]] == [(c["step"], c["chamfer"], c["sw"]) for c in whole["curve"]]
    assert (resumed["chamfer"], resumed["sw"], resumed["emd"]) == (whole["chamfer"], whole["sw"], whole["emd"])
