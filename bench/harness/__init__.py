"""The benchmark harness behind `make bench` (bench/run.py): one module per concern."""
