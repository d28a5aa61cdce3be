"""Examples: the demo deployment target and example pipelines (not part of the package)."""
