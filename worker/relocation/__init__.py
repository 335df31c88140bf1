"""Relocation: moving a plugin's storage, with its data, to another target or mode."""
