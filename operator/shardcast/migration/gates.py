"""KPI gates of a traffic shift: a step may proceed only while every gated KPI is in its limit."""

from __future__ import annotations

from shardcast.migration.model import KpiLimits, Kpis


def regression(before: Kpis | None, now: Kpis, limits: KpiLimits) -> str | None:
    """Why `now` breaks the policy's limits (compared with `before` where limits are relative),
    or None when it does not."""
    problems = []
    if now.latency_seconds is not None:
        if limits.latency_max_seconds is not None and \
                now.latency_seconds > limits.latency_max_seconds:
            problems.append(f"latency {now.latency_seconds:.3g}s > {limits.latency_max_seconds}s")
        base = before.latency_seconds if before else None
        if limits.latency_max_increase_percent is not None and base:
            increase = 100 * (now.latency_seconds - base) / base
            if increase > limits.latency_max_increase_percent:
                problems.append(f"latency up {increase:.0f}% (limit "
                                f"{limits.latency_max_increase_percent:g}%)")
    if now.error_rate is not None and limits.error_rate_max is not None and \
            now.error_rate > limits.error_rate_max:
        problems.append(f"error rate {now.error_rate:.3g} > {limits.error_rate_max}")
    base = before.throughput if before else None
    if now.throughput is not None and limits.throughput_min_ratio is not None and base:
        ratio = now.throughput / base
        if ratio < limits.throughput_min_ratio:
            problems.append(f"throughput at {ratio:.2f}x of before "
                            f"(minimum {limits.throughput_min_ratio:g}x)")
    return "; ".join(problems) or None
