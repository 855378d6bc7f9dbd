"""The layout's import rules (docs/architecture.rst), checked two ways.

* Statically, on every ``import`` statement of every module (function-local imports included):
  the shared layer (``geomgen.distributions``, ``geomgen.metrics``, and the helpers at the
  package root) imports neither Lightning nor any capability; no capability imports another.
* At run time, in a fresh interpreter: importing a capability with all its public names and
  submodules loads no other capability; the conformer generation path (``geomgen conformers``
  and ``ConformerGenerator.from_checkpoint().generate``) loads neither Lightning, nor
  torch_geometric, nor training or reference-sampling code.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "geomgen"
CAPABILITIES = ("conformers", "pointclouds", "singular")
SHARED = ("distributions", "metrics", "_lazy", "assets", "atomic", "grid", "profiling", "signals", "state_dicts", "tables")

#: modules the conformer generation path must not load
GENERATION_FORBIDDEN = (
    "lightning",
    "pytorch_lightning",
    "torch_geometric",
    "geomgen.conformers.reference",
    "geomgen.conformers.dataset",
    "geomgen.conformers.datamodule",
    "geomgen.conformers.system",
    "geomgen.pointclouds",
    "geomgen.singular",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import statement in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            found.append((node.lineno, mod))
            found += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    # lazy re-exports: lazy_exports(__name__, {"Name": ".module"}) imports those modules later
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports" and len(node.args) == 2:
            for v in getattr(node.args[1], "values", []):
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    target = (package + v.value) if v.value.startswith(".") else v.value
                    found.append((node.lineno, target))
    return found


def violations(files, forbidden) -> list[str]:
    out = []
    for f in files:
        for line, mod in imported_modules(f):
            for bad in forbidden:
                if mod == bad or mod.startswith(bad + "."):
                    out.append(f"{f.relative_to(ROOT)}:{line} imports {mod}")
    return out


def _files(name: str) -> list[Path]:
    p = PACKAGE / name
    return sorted(p.rglob("*.py")) if p.is_dir() else [p.with_suffix(".py")]


@pytest.mark.parametrize("shared", SHARED)
def test_shared_layer_imports_no_lightning_and_no_capability(shared):
    forbidden = ["lightning", "pytorch_lightning"] + [f"geomgen.{c}" for c in CAPABILITIES]
    assert violations(_files(shared), forbidden) == []


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_no_capability_imports_another(capability):
    others = [f"geomgen.{c}" for c in CAPABILITIES if c != capability]
    assert violations(_files(capability), others) == []


def test_static_check_catches_a_forbidden_import(tmp_path):
    """The checker itself: a module-level, a function-local and a relative forbidden import are found."""
    pkg = ROOT / "geomgen" / "metrics"
    probe = pkg / "_probe_forbidden.py"
    probe.write_text("import lightning\n\ndef f():\n    from geomgen.conformers import embed_seed\n    from ..singular import fit\n")
    try:
        found = violations([probe], ["lightning", "geomgen.conformers", "geomgen.singular"])
    finally:
        probe.unlink()
    assert len(found) >= 3 and any("lightning" in v for v in found) and any("geomgen.singular" in v for v in found)


def _loaded_after(code: str, cwd: Path) -> list[str]:
    """Module names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = code + "\nimport json, sys\nprint('\\nMODULES=' + json.dumps(sorted(sys.modules)))\n"
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.rsplit("MODULES=", 1)[1])


def _hits(modules, forbidden) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("shared", ["distributions", "metrics"])
def test_shared_layer_runtime(shared, tmp_path):
    code = f"import geomgen.{shared} as p\nfor n in p.__all__: getattr(p, n)\n"
    loaded = _loaded_after(code, tmp_path)
    assert _hits(loaded, ["lightning"] + [f"geomgen.{c}" for c in CAPABILITIES]) == []


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_capability_runtime_loads_no_other(capability, tmp_path):
    """Every submodule and every public name of one capability, and no module of another."""
    code = (
        "import importlib, pkgutil\n"
        f"import geomgen.{capability} as p\n"
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "for n in p.__all__: getattr(p, n)\n"
    )
    loaded = _loaded_after(code, tmp_path)
    assert _hits(loaded, [f"geomgen.{c}" for c in CAPABILITIES if c != capability]) == []


def test_lazy_exports_resolve_to_objects_not_modules(tmp_path):
    """A public name never resolves to a submodule of the same name (the import system sets the
    package attribute when a submodule is imported)."""
    code = (
        "import importlib, pkgutil, types\n"
        "import geomgen\n"
        "bad = []\n"
        "pkgs = [m.name for m in pkgutil.walk_packages(geomgen.__path__, 'geomgen.') if m.ispkg]\n"
        "for name in pkgs:\n"
        "    importlib.import_module(name)\n"
        "for m in pkgutil.walk_packages(geomgen.__path__, 'geomgen.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "for name in pkgs:\n"
        "    p = importlib.import_module(name)\n"
        "    for n in getattr(p, '__all__', []):\n"
        "        if isinstance(getattr(p, n), types.ModuleType): bad.append(name + '.' + n)\n"
        "assert not bad, bad\n"
    )
    _loaded_after(code, tmp_path)


def test_generation_cli_path_is_lean(tmp_path):
    code = (
        "from geomgen.cli import main\n"
        "assert main(['conformers', 'CC(C)Cc1ccc(cc1)C(C)C(=O)O', '-n', '3', '-o', 'out.sdf']) == 0\n"
    )
    loaded = _loaded_after(code, tmp_path)
    assert (tmp_path / "out.sdf").stat().st_size > 0
    assert _hits(loaded, GENERATION_FORBIDDEN) == []


def test_generation_api_path_is_lean(tmp_path):
    code = (
        "from geomgen.conformers import ConformerGenerator\n"
        "mol = ConformerGenerator.from_checkpoint().generate('CCOc1ccccc1C(=O)N', n=4, relax=True)\n"
        "assert mol.GetNumConformers() == 4\n"
    )
    assert _hits(_loaded_after(code, tmp_path), GENERATION_FORBIDDEN) == []


#: Boltzmann mode runs the reference sampler itself: its module and the move and convergence
#: modules it uses, never the reference sets' storage, build or the training stack
BOLTZMANN_ALLOWED = {"geomgen.conformers.reference", *(f"geomgen.conformers.reference.{m}" for m in
                                                       ("sampler", "barrier", "convergence", "diagnostics", "ring_flip",
                                                        "options", "config", "ladder", "moves"))}
BOLTZMANN_ALLOWED |= {f"geomgen.conformers.reference.moves.{m}" for m in
                      ("base", "schedule", "symmetry", "rigid_torsion", "ring_flip", "nitrogen_inversion", "ring_nitrogen_inversion",
                       "amide_flip", "torsion_pair", "darting", "law_proposal",
                       "ncmc", "mala")}


def test_boltzmann_path_loads_only_the_sampler(tmp_path):
    code = (
        "from geomgen.conformers import ConformerGenerator\n"
        "mol = ConformerGenerator.from_checkpoint().generate('CCOc1ccccc1C(=O)N', n=4, boltzmann=True)\n"
        "assert mol.GetNumConformers() == 4\n"
    )
    hits = _hits(_loaded_after(code, tmp_path), GENERATION_FORBIDDEN)
    assert "geomgen.conformers.reference.sampler" in hits
    assert [h for h in hits if h not in BOLTZMANN_ALLOWED] == []
