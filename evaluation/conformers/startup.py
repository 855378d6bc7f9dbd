"""Start-up cost of the conformer command, as a ratio to importing torch alone.

    python -m evaluation.conformers.startup [--runs 7] [--out evaluation/conformers/startup.md]

Times, interleaved run by run so machine noise hits all alike: ``python -c "import torch"``,
``geomgen conformers CCO -n 1 -o out.sdf`` (the shipped model), and, for the record, what the
old path paid: ``import torch_geometric`` and ``import lightning``. Reports medians and the
ratio of the command to ``import torch`` (issue target: at most 1.5x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _time(cmd: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="interleaved runs of each command (default 7)")
    ap.add_argument("--out", default=str(HERE / "startup.md"), help="results file (markdown)")
    args = ap.parse_args(argv)
    exe = shutil.which("geomgen", path=str(Path(sys.executable).parent)) or shutil.which("geomgen")
    if exe is None:
        raise SystemExit("startup.py: the geomgen command is not installed next to this Python")
    py = sys.executable
    commands = {
        "python -c 'import torch'": [py, "-c", "import torch"],
        "geomgen conformers CCO -n 1 -o out.sdf": [exe, "conformers", "CCO", "-n", "1", "-o", "out.sdf"],
        "python -c 'import torch_geometric'": [py, "-c", "import torch_geometric"],
        "python -c 'import lightning'": [py, "-c", "import lightning"],
    }
    times = {k: [] for k in commands}
    with tempfile.TemporaryDirectory() as cwd:
        for cmd in commands.values():  # warm the file cache once
            _time(cmd, cwd)
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(_time(cmd, cwd))
    base = statistics.median(times["python -c 'import torch'"])
    lines = [
        "# Start-up of `geomgen conformers`",
        "",
        f"`python -m evaluation.conformers.startup --runs {args.runs}`: median wall time of {args.runs} interleaved runs "
        f"each, on {os.cpu_count()} cores; ratios to `import torch`.",
        "",
        "| command | median (s) | ratio to `import torch` |",
        "|---|---|---|",
    ]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"| `{name}` | {med:.2f} | {med / base:.2f}x |")
    ratio = statistics.median(times["geomgen conformers CCO -n 1 -o out.sdf"]) / base
    lines += ["", f"Ratio of the command to `import torch`: **{ratio:.2f}x** (target: at most 1.5x).", ""]
    from geomgen.tables import publish

    publish(args.out, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
