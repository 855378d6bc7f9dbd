"""Metric benchmarks: ``python -m evaluation.metrics.<script>`` from the repository root."""
