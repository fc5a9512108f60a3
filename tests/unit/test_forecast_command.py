"""`shardcast forecast` on real traces, as a user runs it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from shardcast.commands.cli import main
from shardcast.traces import default_traces_dir


def test_forecast_from_a_csv_explains_the_choice_and_draws_the_plot(tmp_path: Path) -> None:
    csv = default_traces_dir() / "nab" / "ec2_cpu_utilization_825cc2.csv"
    plot = tmp_path / "forecast.png"
    result = CliRunner().invoke(main, ["forecast", "--csv", str(csv), "--horizon", "30m",
                                       "--model", "holt-winters", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "model    holt-winters" in result.output or "model    seasonal-naive" in result.output
    assert "30m" in result.output and "peak" in result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forecast_needs_exactly_one_source() -> None:
    result = CliRunner().invoke(main, ["forecast"])
    assert result.exit_code == 2
    assert "exactly one of --trace, --csv or --shard" in result.output


def test_an_unknown_trace_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["forecast", "--trace", "nab/nope"])
    assert result.exit_code == 1
    assert "unknown trace 'nab/nope'" in result.output
