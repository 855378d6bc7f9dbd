"""The state-mixing benchmark script on a tiny run (N-methylacetamide, a few CPU seconds)."""

from tests.scripts import load_script


def _script():
    return load_script("evaluation/conformers/state_mixing.py")


def test_runs_report_state_and_torsion_ess_per_cpu_second(monkeypatch):
    from geomgen.conformers.reference import build

    # the split's settings shrunk to a tiny run (the script adds the cap, no early stop and the setting)
    monkeypatch.setitem(build.SPLIT_CONFIGS, "test", dict(n_chains=2, n_samples=50, warmup_sweeps=10, round_sweeps=20, min_sweeps=20,
                                                          amide_flips_per_sweep=2.0, basin_search=4, basin_starts=1))
    script = _script()
    rows = [script.run_one("test", "nma", "CCNC(C)=O", s, 1.0, 0) for s in ("evaluation", "hrex4-partial")]
    for r in rows:
        assert r["error"] is None and r["state_names"] == ["amide-0"] and r["sweeps"] > 0
        assert r["state_ess_per_cpu_s"] == r["state_ess_min"] / r["cpu_seconds"]
    assert rows[1]["swap_acceptance"] and len(rows[1]["swap_acceptance"]) == 3  # four rungs
    text = script.markdown(rows, "cmd")
    assert "| nma `CCNC(C)=O` | hrex4-partial |" in text and "(1.00x)" in text
    assert "failed" in script.markdown([{"id": "x", "setting": "evaluation", "error": "ValueError: bad"}], "cmd")


def test_the_frame_carried_setting_runs_the_revision_12_fused_flip(monkeypatch):
    from geomgen.conformers.reference import build

    monkeypatch.setitem(build.SPLIT_CONFIGS, "test", dict(n_chains=2, n_samples=50, warmup_sweeps=10, round_sweeps=20, min_sweeps=20,
                                                          ring_flips_per_sweep=1.0, basin_search=4, basin_starts=1))
    script = _script()
    assert script.SETTINGS["frame-carried"] == {"ring_flip_mirror": False}
    rows = [script.run_one("test", "chroman", "C[C@@H]1CCc2ccccc2O1", s, 1.0, 0) for s in ("evaluation", "frame-carried")]
    assert all(r["error"] is None and r["ring_flip_acceptance"] is not None for r in rows)
    assert "| chroman `C[C@@H]1CCc2ccccc2O1` | frame-carried |" in script.markdown(rows, "cmd")
