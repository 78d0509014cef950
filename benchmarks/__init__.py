"""Measurement scripts (run from the repository root as ``python -m benchmarks.<name>``); they print ratios, they are not tests."""
