"""Benchmarks of the vault core against bare loops: ``python -m bench``."""
