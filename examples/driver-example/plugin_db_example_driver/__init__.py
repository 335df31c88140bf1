"""An example plugin-db driver, registered through the ``plugin_db.providers`` entry point."""
