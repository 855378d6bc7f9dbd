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
