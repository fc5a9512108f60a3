"""Typed views of the three shardcast kinds, parsed from and rendered to plain dicts. No I/O."""
