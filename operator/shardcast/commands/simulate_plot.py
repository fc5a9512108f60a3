"""`shardcast simulate --plot`: which policy kept the cluster out of overload, at what cost in
bytes moved, and when it made the difference.

Top: cumulative node-minutes over 100% (solid, left axis) and GiB moved (dotted, right axis)
per policy, one colour each; the greedy reference rules are in the table only (their lines
would dwarf the rest). Bottom: the hours where predictive and reactive part ways most, as the
hottest node's utilization under each, with their moves marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shardcast.commands.plotting import pyplot
from shardcast.sim.compare import Compared
from shardcast.sim.timeline import Timeline, timeline, widest_gap

LEAD = ("no-op", "reactive", "predictive", "predictive+adaptive", "oracle")
COLOURS = {"no-op": "tab:gray", "reactive": "tab:red", "predictive": "tab:blue",
           "predictive+adaptive": "tab:purple", "oracle": "tab:green"}
ZOOM_HOURS = 12


def plot(runs: dict[str, Compared], threshold: float, sizes_bytes: np.ndarray,
         path: Path) -> None:
    plt = pyplot()
    lines = {name: timeline(run.result, sizes_bytes) for name, run in runs.items()
             if name in LEAD}
    zoom = "reactive" in runs and "predictive" in runs
    figure, axes = plt.subplots(2 if zoom else 1, 1, figsize=(12, 8 if zoom else 4.5),
                                squeeze=False)
    _cumulative(axes[0, 0], runs, lines)
    if zoom:
        hours = _zoom(axes[1, 0], runs, lines, threshold)
        axes[0, 0].axvspan(hours[0], hours[-1], color="gold", alpha=0.25, linewidth=0)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _cumulative(ax: Any, runs: dict[str, Compared], lines: dict[str, Timeline]) -> None:
    moved = ax.twinx()
    for name, line in lines.items():
        score, colour = runs[name].score, COLOURS.get(name)
        ax.plot(line.hours, line.overload_node_minutes, color=colour, linewidth=1.6,
                label=f"{name}: {score.overload_node_minutes:.0f} node-min, "
                      f"{score.moved_bytes / 2**30:,.0f} GiB")
        moved.plot(line.hours, line.moved_gib, color=colour, linewidth=1.0, linestyle=":")
    ax.set_ylabel("node-minutes over 100%, so far (solid)")
    moved.set_ylabel("GiB moved, so far (dotted)")
    ax.set_xlabel("hours (scored period)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(_headline(runs), fontsize=10, loc="left")


def _headline(runs: dict[str, Compared]) -> str:
    if not {"reactive", "predictive"} <= runs.keys():
        return "overload and bytes moved over time"
    reactive, predictive = runs["reactive"].score, runs["predictive"].score
    ratio = (f"{predictive.overload_node_minutes / reactive.overload_node_minutes:.2f}x"
             if reactive.overload_node_minutes else "n/a")
    return (f"predictive: {ratio} reactive's overload, "
            f"{predictive.moved_bytes / max(reactive.moved_bytes, 1):.2f}x its bytes moved")


def _zoom(ax: Any, runs: dict[str, Compared], lines: dict[str, Timeline],
          threshold: float) -> np.ndarray:
    """Draws the widest gap; returns its hours (shaded in the top chart)."""
    first = runs["reactive"].result
    window = widest_gap(lines["predictive"], lines["reactive"],
                        ZOOM_HOURS * 3600 // first.step_seconds)
    hours = lines["reactive"].hours[window]
    for name in ("reactive", "predictive"):
        result = runs[name].result
        hottest = result.utilization[:, window].max(axis=0) * 100
        ax.plot(hours, hottest, color=COLOURS[name], linewidth=1.4,
                label=f"{name}: hottest node")
        starts = [(m.start_step - result.first_step) * result.step_seconds / 3600
                  for m in result.moves if window.start <= m.start_step - result.first_step
                  < window.stop]
        ax.plot(starts, [0.03 if name == "reactive" else 0.08] * len(starts), "|",
                color=COLOURS[name], markersize=9, transform=ax.get_xaxis_transform())
    ax.axhline(threshold * 100, color="tab:orange", linestyle="--", linewidth=0.8,
               label=f"threshold {threshold:.0%}")
    ax.axhline(100, color="black", linewidth=0.8)
    gained = (lines["reactive"].overload_node_minutes - lines["predictive"]
              .overload_node_minutes)
    before = gained[window.start - 1] if window.start else 0.0
    ax.set_title(f"the {ZOOM_HOURS} h where they differ most (shaded above): predictive "
                 f"{'saved' if gained[window.stop - 1] >= before else 'lost'} "
                 f"{abs(gained[window.stop - 1] - before):.0f} node-minutes over 100% against "
                 "reactive (| = a move starts)", fontsize=10, loc="left")
    ax.set_ylabel("hottest node, % of capacity")
    ax.set_xlabel("hours (scored period)")
    ax.legend(loc="upper right", fontsize=8)
    return np.asarray(hours)
