"""Benchmark and evaluation scripts, run from a checkout: ``python -m evaluation.<capability>.<script>``.

Not part of the installed ``geomgen`` distribution (setup.cfg includes only ``geomgen``).
"""
