"""Declarative plugin schemas (``ExtensionDatabaseSchema``): validation, conflicts, DDL, exports."""
