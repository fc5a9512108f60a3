"""How a comparison is shown: one table per run set (the plot is in `commands/simulate_plot.py`,
with the optional matplotlib)."""

from __future__ import annotations

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
