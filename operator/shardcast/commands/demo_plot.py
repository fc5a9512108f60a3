"""The demo's picture: each node's load, what the operator projected, and when it moved what."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shardcast.api.conditions import parse_rfc3339
from shardcast.commands.plotting import pyplot


def _hours_from(now: float, stamp: str) -> float:
    moment = parse_rfc3339(stamp).timestamp()
    return (moment - now) / 3600


def plot_demo(path: Path, now: float, step_seconds: int,
              node_load: Mapping[str, np.ndarray], threshold: float,
              projected: Sequence[Mapping[str, Any]],
              migrations: Sequence[Mapping[str, Any]]) -> None:
    """`node_load`: percent per node over the past, one value per step ending now; `projected`:
    the policy's status.nodes after the moves; `migrations`: the ShardMigration objects."""
    plt = pyplot()
    figure, (load, phases) = plt.subplots(2, 1, figsize=(11, 6.5),
                                          gridspec_kw={"height_ratios": [3, 1]})
    for node, values in node_load.items():
        hours = (np.arange(len(values)) - len(values) + 1) * step_seconds / 3600
        line = load.plot(hours, values, linewidth=1, label=node)[0]
        after = next((n for n in projected if n["name"] == node), None)
        if after:
            peak_at = _hours_from(now, after["peakTime"])
            load.plot([0, peak_at], [values[-1], after["predictedPeak"]], linestyle=":",
                      color=line.get_color())
    for move in migrations:
        reason, spec = move["spec"].get("reason") or {}, move["spec"]
        if "predictedPeak" in reason:
            peak_at = _hours_from(now, reason["peakTime"])
            load.plot([peak_at], [reason["predictedPeak"]], "v", color="tab:red")
            load.annotate(f"{spec['source']} projected {reason['predictedPeak']:.0f}%: "
                          f"{spec['shard']} moved to {spec['target']}",
                          (peak_at, reason["predictedPeak"]), fontsize=8,
                          textcoords="offset points", xytext=(-220, 8))
    load.axhline(threshold, color="tab:orange", linestyle="--", linewidth=0.8)
    load.axvline(0, color="0.5", linewidth=0.8)
    load.set_ylabel("node CPU, % of 8 cores")
    load.set_xlabel("hours from now (dotted: projected peak after the moves; "
                    "▼ the projection that triggered a move)")
    load.legend(fontsize=8, loc="upper left")
    _phase_bars(phases, migrations)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _phase_bars(axes: Any, migrations: Sequence[Mapping[str, Any]]) -> None:
    """One row per move, one bar per phase, in seconds since it started."""
    for row, move in enumerate(migrations):
        times = move.get("status", {}).get("phaseTimes", [])
        if not times:
            continue
        start = parse_rfc3339(times[0]["startedAt"])
        for i, step in enumerate(times):
            began = parse_rfc3339(step["startedAt"])
            ended = parse_rfc3339(step.get("finishedAt") or step["startedAt"])
            left, width = (began - start).total_seconds(), (ended - began).total_seconds()
            axes.barh(row, max(width, 0.2), left=left, height=0.5)
            axes.text(left, row + (0.3 if i % 2 else -0.4), step["phase"], fontsize=7)
    axes.set_yticks(range(len(migrations)), [m["metadata"]["name"] for m in migrations],
                    fontsize=8)
    axes.set_xlabel("seconds since the move was created")
