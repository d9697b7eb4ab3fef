"""ptyrax's benchmarks: `python -m benchmarks.run` (see benchmarks/run.py and README.md)."""
