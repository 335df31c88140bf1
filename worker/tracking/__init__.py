"""The tracking database: models, engine, Alembic migrations."""
