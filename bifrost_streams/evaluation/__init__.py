"""Benchmarks of the analysis itself: `python -m bifrost_streams.evaluation.analysis`."""
