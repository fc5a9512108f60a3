"""`shardcast simulate`: the comparison on any traces, with progress, a table and a plot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml

from shardcast.api.simulation import SimulatedPolicy, from_policy
from shardcast.commands.simulate_plot import plot as draw
from shardcast.sim.compare import compare, standard_policies
from shardcast.sim.report import table
from shardcast.sim.scenario import build
from shardcast.traces import default_traces_dir, discover, load_trace


def run(traces_dir: Path | None, policy_file: Path | None, nodes: int, shards: int, seed: int,
        spike: bool, days: int, plot: Path | None) -> None:
    directory = traces_dir or default_traces_dir()
    traces = [load_trace(spec, directory).values for spec in discover(directory)]
    if not traces:
        raise click.ClickException(f"no CSV traces under {directory}")
    policy = _policy(policy_file)
    scenario = build(f"{nodes} nodes / {shards} shards, seed {seed}", traces, nodes, shards,
                     seed, days=days, spike=spike)
    chosen = standard_policies(scenario, policy.settings, policy.weights, policy.trigger,
                               policy.adaptive)
    scored = scenario.steps - scenario.warmup_steps
    bar: Any = click.progressbar(length=scored * len(chosen), label="replaying",
                                 file=sys.stderr)
    with bar:
        runs = compare(scenario, policy.settings, chosen, lambda _: bar.update(1))
    click.echo(table(f"{scenario.name}: {len(traces)} traces from {directory}, "
                     f"{days - 4} scored days, threshold {policy.settings.threshold:.0%}", runs))
    if plot is not None:
        draw(runs, policy.settings.threshold, scenario.sizes_bytes, plot)
        click.echo(f"plot: {plot}")


def _policy(path: Path | None) -> SimulatedPolicy:
    if path is None:
        return from_policy({})
    """The file's MigrationPolicy; a manifest may carry its Secret and Shards beside it."""
    policies = [doc for doc in yaml.safe_load_all(path.read_text())
                if isinstance(doc, dict) and doc.get("kind") == "MigrationPolicy"]
    if len(policies) != 1:
        raise click.ClickException(f"{path} holds {len(policies)} MigrationPolicy manifests; "
                                   "simulate needs exactly one")
    return from_policy(policies[0].get("spec") or {})
