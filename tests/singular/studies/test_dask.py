"""Studies on a dask.distributed cluster: the same rows as the local process pool, and a run
killed under one executor resumes under the other."""

import json

import pytest
import yaml

from geomgen.cli import main
from geomgen.singular.studies import load_cells, run_study

distributed = pytest.importorskip("distributed")

NET = {"max_steps": 3, "hidden": 8, "layers": 1, "num_samples": 16, "eval_samples": 32, "batch_size": 16}
STUDY = {
    "name": "dask",
    "distributions": {"circle_vm": {}, "sphere_in_4d": {"type": "sphere", "ambient_dim": 4}},
    "n": [30, 60],
    "noise": [0.1],
    "estimators": {"perturbed_mle": dict(NET), "kde": {}, "empirical": {}},
    "seeds": [0],
    "evaluation": {"num_points": 40, "test_points": 20, "compare_n": 60},
    "workers": 2,
}
KEYS = ("w1", "oracle_w1", "loglik", "sigma", "steps")


def _rows(outdir):
    return {k: {c: v.get(c) for c in KEYS} for k, v in load_cells(outdir).items()}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_dask_cli_equals_local_pool_and_resumes_across_executors(tmp_path, cluster, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY))
    local = run_study(STUDY, tmp_path / "local", workers=2, progress=False)  # spawn process pool
    assert (local.ran, local.failed) == (12, 0)

    # the CLI on the cluster: the same rows, cell for cell
    assert main(["simulate", str(study), "-o", str(tmp_path / "dask"), "--dask", cluster.scheduler_address,
                 "--no-progress"]) == 0
    assert "12 cells run, 0 skipped (already finished), 0 failed" in capsys.readouterr().out
    expect = _rows(tmp_path / "local")
    assert _rows(tmp_path / "dask") == expect

    # a run killed on the local pool (cells lost, one half-written) resumes on the cluster ...
    cells = sorted((tmp_path / "local" / "cells").glob("*.json"))
    for p in cells[:5]:
        p.unlink()
    (tmp_path / "local" / "cells" / ".tmp-x.json").write_text('{"status": "o')
    with distributed.Client(cluster) as client:
        res = run_study(STUDY, tmp_path / "local", executor=client.get_executor(), progress=False)
    assert (res.ran, res.skipped, res.failed) == (5, 7, 0)
    assert _rows(tmp_path / "local") == expect
    # ... and one killed on the cluster resumes on the local pool
    for p in sorted((tmp_path / "dask" / "cells").glob("*.json"))[-4:]:
        p.unlink()
    res = run_study(STUDY, tmp_path / "dask", workers=2, progress=False)
    assert (res.ran, res.skipped) == (4, 8)
    assert _rows(tmp_path / "dask") == expect
    assert json.loads((tmp_path / "dask" / "study.json").read_text())["name"] == "dask"


def test_dask_cli_bad_address(tmp_path, capsys):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main(["simulate", "tiny", "-o", str(tmp_path / "o"), "--dask", "tcp://127.0.0.1:9", "--no-progress"]) == 2
    assert "--dask tcp://127.0.0.1:9: cannot connect" in capsys.readouterr().err
