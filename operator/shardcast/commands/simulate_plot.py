"""`shardcast simulate --plot`: node utilization over time, one panel per policy, moves marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shardcast.commands.plotting import pyplot
from shardcast.sim.compare import Compared


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

