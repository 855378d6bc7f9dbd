import subprocess
import sys

import geomgen
from geomgen.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert geomgen.__version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "geomgen" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "geomgen", "--help"], capture_output=True, text=True, check=True)
    assert "usage: geomgen" in out.stdout


def test_entry_point_in_a_fresh_interpreter():
    # the console script calls geomgen.cli.main directly (no runpy, which imports more)
    code = "import sys; from geomgen.cli import main; sys.exit(main(['--help']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("conformers", "reference", "vonmisesnet", "pointcloud", "simulate"):
        assert name in out.stdout


def test_interrupt_is_one_line_exit_130(monkeypatch, capsys):
    import geomgen.pointclouds.cli as pointcloud_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pointcloud_cli, "run", interrupted)
    assert main(["pointcloud", "export", "a.ckpt", "-o", "b.pt"]) == 130
    assert capsys.readouterr().err == "geomgen pointcloud: interrupted\n"
