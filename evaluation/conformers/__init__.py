"""Conformer benchmarks: ``python -m evaluation.conformers.<script>`` from the repository root."""
