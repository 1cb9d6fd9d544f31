"""Benchmarks: `python -m bench SUITE --json PATH [--quick]` prints a table and writes JSON."""
