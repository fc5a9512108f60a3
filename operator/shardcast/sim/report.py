"""How a comparison is shown: one table per run set, and a plot of node utilization."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shardcast.plotting import pyplot
from shardcast.sim.compare import Compared


def table(title: str, runs: dict[str, Compared]) -> str:
    reactive = runs["reactive"].score.overload_node_minutes if "reactive" in runs else 0.0
    oracle = runs["oracle"].score.overload_node_minutes if "oracle" in runs else 0.0
    lines = [title, f"  {'policy':20} {'overload':>9} {'>thresh':>8} {'p99':>6} {'moves':>6} "
                    f"{'GiB':>8} {'flaps':>6} {'vs reactive':>12} {'vs oracle':>10}"]
    for name, run in runs.items():
        s = run.score
        lines.append(
            f"  {name:20} {s.overload_node_minutes:9.0f} {s.above_threshold_node_minutes:8.0f} "
            f"{s.p99_utilization:6.3f} {s.moves:6d} {s.moved_bytes / 2**30:8.0f} {s.flaps:6d} "
            f"{_ratio(s.overload_node_minutes, reactive):>12} "
            f"{_ratio(s.overload_node_minutes, oracle):>10}")
    lines.append("  (overload / >thresh: node-minutes above 100% / above the threshold)")
    return "\n".join(lines)


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "-"


def plot(runs: dict[str, Compared], threshold: float, path: Path) -> None:
    """Node utilization over time, one panel per policy, moves marked where they start."""
    plt = pyplot()
    figure, axes = plt.subplots(len(runs), 1, figsize=(12, 2.2 * len(runs)), sharex=True,
                                squeeze=False)
    for ax, (name, run) in zip(axes[:, 0], runs.items(), strict=True):
        result = run.result
        hours = np.arange(result.utilization.shape[1]) * result.step_seconds / 3600
        for node in result.utilization:
            ax.plot(hours, node * 100, linewidth=0.5)
        ax.axhline(threshold * 100, color="tab:orange", linestyle="--", linewidth=0.8)
        ax.axhline(100, color="tab:red", linewidth=0.8)
        starts = [(m.start_step - result.first_step) * result.step_seconds / 3600
                  for m in result.moves]
        ax.plot(starts, [5] * len(starts), "|", color="black", markersize=6)
        ax.set_ylabel("%")
        ax.set_title(f"{name}: {run.score.overload_node_minutes:.0f} node-min over 100%, "
                     f"{run.score.moves} moves", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("hours (scored period); | = a move starts")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)

