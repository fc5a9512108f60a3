"""Tests of the reference data plane in examples/dataplane, importable as `shardkv` from here on
(it is an example, not part of the shardcast package)."""

import sys
from pathlib import Path

DATAPLANE = Path(__file__).resolve().parents[2] / "examples" / "dataplane"
if str(DATAPLANE) not in sys.path:
    sys.path.insert(0, str(DATAPLANE))
