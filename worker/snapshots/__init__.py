"""Snapshots: consistent copies of a plugin's storage, compressed, encrypted and checksummed."""
