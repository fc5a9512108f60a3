"""Which traces exist and how each file is laid out: data sets disagree on columns and clocks."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TraceSpec:
    """One column of one CSV file, as a load curve."""

    name: str
    path: str  # relative to the traces directory
    column: str
    timestamp_column: str | None  # None: rows are consecutive samples `step_seconds` apart
    step_seconds: int = 300


def default_traces_dir() -> Path:
    """`SHARDCAST_TRACES`, else the shared traces beside the checkout (they are never copied in)."""
    if env := os.environ.get("SHARDCAST_TRACES"):
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "traces"


def _nab(stem: str) -> TraceSpec:
    return TraceSpec(f"nab/{stem}", f"nab/{stem}.csv", "value", "timestamp")


TRACES: tuple[TraceSpec, ...] = (
    *(_nab(f"ec2_cpu_utilization_{s}") for s in
      ("24ae8d", "53ea38", "5f5533", "77c1ca", "825cc2", "fe7f93")),
    _nab("rds_cpu_utilization_cc0c53"),
    _nab("ec2_disk_write_bytes_1ef3de"),
    _nab("ec2_network_in_257a54"),
    _nab("elb_request_count_8c0756"),
    _nab("grok_asg_anomaly"),
    _nab("Twitter_volume_AAPL"),
    _nab("Twitter_volume_AMZN"),
    TraceSpec("alibaba2018/cpu",
              "datacenter/alibaba2018/machine_usage_days_1_to_8_grouped_300_seconds.csv",
              "cpu_util_percent", None),
    TraceSpec("azure_v2/cpu",
              "datacenter/azure_v2/vm_cpu_readings_month_aggregated_cpu_mem.csv",
              "cpu_usage", "timestamp"),
    TraceSpec("google2019/cpu",
              "datacenter/google2019/instance_usage_grouped_300_seconds_month.csv",
              "avg_cpu", None),
)


def discover(traces_dir: Path) -> tuple[TraceSpec, ...]:
    """The catalogued traces when `traces_dir` holds them, else every CSV below it: its `value`
    column (or first numeric one) over its `timestamp` column, or without one, rows 300 s apart."""
    known = tuple(spec for spec in TRACES if (traces_dir / spec.path).exists())
    if known:
        return known
    found = (csv_spec(path, traces_dir) for path in sorted(traces_dir.rglob("*.csv")))
    return tuple(spec for spec in found if spec is not None)


def csv_spec(path: Path, root: Path) -> TraceSpec | None:
    """How to read one CSV: its `value` column (or first numeric one) over its `timestamp`
    column, or without one, rows 300 s apart; None if no column is numeric."""
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header, first = next(rows, []), next(rows, [])
    clock = "timestamp" if "timestamp" in header else None
    numeric = [name for name, cell in zip(header, first, strict=False)
               if name != clock and _number(cell)]
    if not numeric:
        return None
    column = "value" if "value" in numeric else numeric[0]
    relative = str(path.relative_to(root))
    return TraceSpec(relative.removesuffix(".csv"), relative, column, clock)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
