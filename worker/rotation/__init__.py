"""Rotation that retires the old login: pending retirements, triggers, the retire step."""
