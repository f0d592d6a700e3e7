"""cadencia speed benchmarks: `python -m benchmarks.run`."""
