"""Operator tooling: ``plugin-db doctor`` (health, limits, drift, orphans) and ``retry``."""
