"""The read-only fleet console at ``/console``: server-rendered pages over the tracking tables."""
