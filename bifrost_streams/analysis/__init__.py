"""The analysis core with no Faust in it: analyzer.py (one request in, one result out), the
protocols of the stores and services it is given (ports.py), and in-memory ones for tests and
benchmarks (memory.py)."""
