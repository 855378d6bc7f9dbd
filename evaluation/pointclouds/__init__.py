"""Point-cloud benchmarks: ``python -m evaluation.pointclouds.<script>`` from the repository root."""
