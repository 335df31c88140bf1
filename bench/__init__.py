"""Benchmarks of plugin-db: ``python -m bench all --quick`` (see docs/benchmarks.md).

Every figure is measured against a baseline measured in the same run; nothing here asserts a
timing. Results go to ``bench/results/<name>.json`` (gitignored).
"""
