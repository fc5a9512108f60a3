"""Where the stack keeps built binaries (kept across runs) and its runtime state (per stack)."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """Built binaries live outside any checkout so every clone and CI run reuses them."""
    return Path(os.environ.get("SHARDCAST_CACHE", Path.home() / ".cache" / "shardcast"))


def state_dir() -> Path:
    """Certificates, data directories, logs and pid files of the running stack."""
    return Path(os.environ.get("SHARDCAST_STATE", cache_dir() / "stack"))
