"""Sphinx configuration of the geomgen documentation (built with ``-W``: warnings are errors)."""

from __future__ import annotations

import sys
from pathlib import Path

# The package is installed (editable) in the build environment; this also covers a plain checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geomgen  # noqa: E402

project = "geomgen"
author = "geomgen contributors"
copyright = "geomgen contributors"
version = release = geomgen.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

# No network at build time: no intersphinx, and MathJax is loaded by the reader's browser only.
templates_path: list[str] = []
exclude_patterns = ["_build"]
root_doc = "index"

autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "description"
# Overridden Lightning hooks would inherit Lightning's own docstrings (with roles of its docs site).
autodoc_inherit_docstrings = False
autodoc_class_signature = "mixed"

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "Attributes:" as :ivar: fields: a NamedTuple's fields are also autodoc members (no duplicates).
napoleon_use_ivar = True
# the reference sampler's Move documents its "Class attributes:" like an Attributes section
napoleon_custom_sections = [("Class attributes", "Attributes")]

html_theme = "alabaster"
html_title = f"geomgen {release}"
html_static_path: list[str] = []
