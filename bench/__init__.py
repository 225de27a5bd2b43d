"""Benchmarks: `python -m bench.run` compares the devhost durable engine with its peers (see README.md)."""
