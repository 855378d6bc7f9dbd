"""Singular-measure studies: ``python -m evaluation.singular.<script>`` from the repository root."""
