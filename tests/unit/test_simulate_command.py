"""`shardcast simulate` as a user runs it, on the bundled traces and a policy file."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from shardcast.commands.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_simulate_prints_every_policy_and_draws_the_plot(tmp_path: Path) -> None:
    plot = tmp_path / "sim.png"
    result = CliRunner().invoke(main, [
        "simulate", "--policy", str(EXAMPLES / "policy-diurnal-web.yaml"), "--nodes", "4",
        "--shards", "20", "--days", "5", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    for policy in ("no-op", "reactive", "predictive", "oracle", "greedy-reactive",
                   "greedy-oracle"):
        assert f"  {policy} " in result.output
    assert "1 scored days" in result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_file_that_is_not_a_policy_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "shard.yaml"
    bogus.write_text("kind: Shard\nspec: {}\n")
    result = CliRunner().invoke(main, ["simulate", "--policy", str(bogus)])
    assert result.exit_code == 1
    assert "holds 0 MigrationPolicy manifests" in result.output


def test_the_policy_is_found_among_a_manifests_other_objects(tmp_path: Path) -> None:
    manifest = tmp_path / "policy.yaml"
    manifest.write_text("kind: Secret\n---\nkind: MigrationPolicy\n"
                        "spec: {threshold: {utilization: 70}}\n---\nkind: Shard\nspec: {}\n")
    result = CliRunner().invoke(main, ["simulate", "--policy", str(manifest), "--nodes", "4",
                                       "--shards", "20", "--days", "5"])
    assert result.exit_code == 0, result.output
