"""Benchmarks: each prints our speed against a baseline run in the same process."""
