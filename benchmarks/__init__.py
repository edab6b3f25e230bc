"""Benchmark scripts: each prints figures at stated scales (never timed assertions in tests)."""
