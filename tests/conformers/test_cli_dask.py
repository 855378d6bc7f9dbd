"""``geomgen conformers -o OUT/``: chunk files on any executor and on a dask.distributed cluster
(``--dask``), byte for byte the single-file output; ``--resume`` skips finished chunks."""

import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from geomgen.cli import main
from geomgen.conformers import chunked
from geomgen.conformers.chunked import FolderError, generate_folder, merge_chunks

SMILES = "CCCCO a\nCC(C)Cc1ccc(cc1)C(C)C(=O)O b\nC1CC broken\nCOc1ccc(CCN)cc1 c\nCC(=O)Nc1ccc(O)cc1 d\n"


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The input and its single-file run (-n 2, one process): OUT.sdf and OUT.failures.csv."""
    root = tmp_path_factory.mktemp("single")
    smi = root / "in.smi"
    smi.write_text(SMILES)
    out = root / "single.sdf"
    assert main(["conformers", str(smi), "-n", "2", "-o", str(out), "--jobs", "1"]) == 0
    return smi, out


def _chunks(folder):
    return sorted(folder.glob("chunk-*.sdf"))


def _same_as_single(folder, single_out, tmp_path):
    assert b"".join(p.read_bytes() for p in _chunks(folder)) == single_out.read_bytes()  # cat OUT/chunk-*.sdf
    merged, fails = merge_chunks(folder, tmp_path / "merged.sdf")
    assert merged.read_bytes() == single_out.read_bytes()
    assert fails.read_bytes() == single_out.with_name("single.failures.csv").read_bytes()


def test_local_folder_runs_equal_the_single_file_run(single, tmp_path, capsys):
    smi, out = single
    assert main(["conformers", str(smi), "-n", "2", "-o", f"{tmp_path / 'cli'}/", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "wrote 8 conformers of 4 molecule(s) to" in err and "5 chunk(s) written now, 0 already done, 5 in all" in err
    assert "1 molecule(s) failed" in err and "'broken': unparsable SMILES" in err
    _same_as_single(tmp_path / "cli", out, tmp_path)
    # the failing molecule is in its own chunk's failures file; that chunk's SD file is empty
    assert "broken" in (tmp_path / "cli" / "chunk-00002.failures.csv").read_text()
    assert (tmp_path / "cli" / "chunk-00002.sdf").read_bytes() == b""
    assert (tmp_path / "cli" / "chunk-00001.failures.csv").read_text().count("\n") == 1  # header only
    # the Python API on any executor, and a local process pool from the command line
    with ThreadPoolExecutor(2) as ex:
        res = generate_folder(smi, tmp_path / "threads", executor=ex, num_conformers=2, chunk=2, progress=False, max_pending=1)
    assert (res.chunks, res.written, res.molecules, res.records, res.failed) == (3, 3, 4, 8, 1)
    _same_as_single(tmp_path / "threads", out, tmp_path)
    with ProcessPoolExecutor(2) as ex:
        generate_folder(smi, tmp_path / "procs", executor=ex, num_conformers=2, progress=False)
    _same_as_single(tmp_path / "procs", out, tmp_path)
    assert main(["conformers", str(smi), "-n", "2", "-o", f"{tmp_path / 'pool'}/", "--jobs", "2", "--chunk", "3"]) == 0
    assert len(_chunks(tmp_path / "pool")) == 2
    _same_as_single(tmp_path / "pool", out, tmp_path)


def test_folder_usage_errors_are_one_line_exit_2(single, tmp_path, capsys):
    smi, _ = single
    (tmp_path / "file.sdf").write_text("x")
    for output, said in [(str(tmp_path / "file.sdf"), "is a file"), (str(tmp_path / "new.sdf"), "names an SD file"),
                         ("-", "not standard output")]:
        assert main(["conformers", str(smi), "-o", output, "--dask", "tcp://127.0.0.1:1"]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1
    with pytest.raises(TypeError, match="unknown option"):
        generate_folder(smi, tmp_path / "x", num_conformer=2)
    assert main(["conformers", "CCO", "-o", str(tmp_path / "out")]) == 2  # no suffix, no --dask: neither file nor folder
    assert "(or " + str(tmp_path / "out") + "/, ending in /, for a folder of chunk files)" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(single, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import time

    smi, _ = single
    monkeypatch.setattr(chunked, "DASK_CONNECT_TIMEOUT", 1.0)
    t0 = time.monotonic()
    assert main(["conformers", str(smi), "-o", str(tmp_path / "out"), "--dask", "tcp://127.0.0.1:9"]) == 2
    assert time.monotonic() - t0 < 20
    err = capsys.readouterr().err
    assert "--dask tcp://127.0.0.1:9: cannot connect to the scheduler within 1 s" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_resume_skips_finished_chunks_and_refuses_other_options_or_input(single, tmp_path, capsys, monkeypatch):
    smi, out = single
    folder = tmp_path / "out"
    run = ["conformers", str(smi), "-n", "2", "-o", f"{folder}/", "--jobs", "1"]
    real = chunked.run_chunk
    ran = []

    def interrupted_at_chunk_3(job, check=None):
        if job.index == 3:
            raise KeyboardInterrupt
        ran.append(job.index)
        return real(job, check)

    monkeypatch.setattr(chunked, "run_chunk", interrupted_at_chunk_3)
    assert main([*run, "--chunk", "1"]) == 130
    assert "interrupted with 2 of 5 chunk(s) left" in capsys.readouterr().err
    assert ran == [0, 1, 2] and len(_chunks(folder)) == 3
    monkeypatch.setattr(chunked, "run_chunk", lambda job, check=None: ran.append(job.index) or real(job, check))
    # a rerun without --resume, other options, another input: refused, nothing changed
    assert main(run) == 2
    assert "holds the chunks of an earlier run; rerun with --resume" in capsys.readouterr().err
    assert main([*run, "--resume", "--seed", "1"]) == 2
    assert "cannot resume: options differ: --seed 1 (was 0)" in capsys.readouterr().err
    assert main([*run, "--resume", "--chunk", "2"]) == 2
    assert "--chunk 2 (was 1)" in capsys.readouterr().err
    other = tmp_path / "other.smi"
    other.write_text(SMILES.replace("COc1ccc(CCN)cc1 c", "COc1ccc(CCO)cc1 c"))
    assert main(["conformers", str(other), *run[2:], "--resume"]) == 2
    assert "the input of chunk 3 (input lines 4..4) differs" in capsys.readouterr().err
    assert ran == [0, 1, 2]
    # --resume makes only the missing chunks (--chunk taken from the manifest)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name.startswith("chunk-")}
    assert main([*run, "--resume"]) == 0
    assert "2 chunk(s) written now, 3 already done, 5 in all" in capsys.readouterr().err
    assert ran == [0, 1, 2, 3, 4]
    _same_as_single(folder, out, tmp_path)
    # a lost chunk file (and a temporary file of a killed writer) is made again, nothing else
    (folder / "chunk-00001.sdf").unlink()
    (folder / ".chunk-00001.1234abcd.tmp.sdf").write_text("half")
    assert main([*run, "--resume"]) == 0
    assert ran == [0, 1, 2, 3, 4, 1]
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name.startswith("chunk-") and p.name in stamps
            and "00001" not in p.name} == {k: v for k, v in stamps.items() if "00001" not in k}
    assert not list(folder.glob(".chunk-*"))
    _same_as_single(folder, out, tmp_path)
    assert main([*run, "--resume"]) == 0  # nothing left
    assert "0 chunk(s) written now, 5 already done, 5 in all" in capsys.readouterr().err


def test_a_worker_with_another_model_fails_the_run_and_keeps_finished_chunks(single, tmp_path, monkeypatch):
    smi, _ = single
    real = chunked._worker_digest
    monkeypatch.setattr(chunked, "_worker_digest", lambda model: real(model) if threading.current_thread() is threading.main_thread() else "sha256:0")
    with ThreadPoolExecutor(1) as ex:
        res = generate_folder(smi, tmp_path / "out", executor=ex, num_conformers=2, progress=False)
    assert "its model file (sha256:0) is not the run's" in res.error and res.written == 0
    res = generate_folder(smi, tmp_path / "out", num_conformers=2, progress=False, resume=True)  # this process
    assert (res.written, res.error) == (5, "")
    with pytest.raises(FolderError, match="holds the chunks of an earlier run"):
        generate_folder(smi, tmp_path / "out", num_conformers=2, progress=False)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_dask_cluster_run_equals_the_local_run_and_resumes(single, tmp_path, cluster, capsys):
    smi, out = single
    folder = tmp_path / "dask"
    run = ["conformers", str(smi), "-n", "2", "-o", str(folder), "--dask", cluster.scheduler_address]
    assert main(run) == 0
    err = capsys.readouterr().err
    assert "5 chunk(s) written now" in err and "'broken': unparsable SMILES" in err
    _same_as_single(folder, out, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in _chunks(folder)}
    os.unlink(folder / "chunk-00003.failures.csv")
    assert main([*run, "--resume"]) == 0
    assert "1 chunk(s) written now, 4 already done, 5 in all" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in _chunks(folder) if p.name != "chunk-00003.sdf"} == \
        {k: v for k, v in stamps.items() if k != "chunk-00003.sdf"}
    _same_as_single(folder, out, tmp_path)
    assert main([*run, "--resume", "-n", "3"]) == 2
    assert "options differ: -n 3 (was 2)" in capsys.readouterr().err
