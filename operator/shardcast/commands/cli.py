"""`shardcast`: run the operator, or manage the local stack it is developed and tested against."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from shardcast.devstack.process import StackError


@click.group()
def main() -> None:
    """shardcast moves data shards before predicted load arrives."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--namespace", "-n", multiple=True,
              help="Namespace (glob) to serve; repeat for several. Default: all namespaces.")
@click.option("--standalone", is_flag=True, help="Run without peering (single replica only).")
@click.option("--liveness", default="http://0.0.0.0:8080/healthz", show_default=True,
              help="Liveness endpoint for the kubelet's probe.")
@click.option("--verbose", is_flag=True)
def run(namespace: tuple[str, ...], standalone: bool, liveness: str, verbose: bool) -> None:
    """Run the operator against the current kubeconfig (or in-cluster service account)."""
    from shardcast.config import SettingsError

    try:
        from shardcast.handlers.main import run_operator
    except SettingsError as error:  # the timers' intervals are read as the handlers load
        raise click.ClickException(str(error)) from error

    run_operator(namespaces=list(namespace), standalone=standalone, liveness=liveness,
                 verbose=verbose)


@main.command()
@click.option("--seconds", default=180.0, show_default=True,
              help="How long to wait at most for the operator's moves to end.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("shardcast-demo.png"), show_default=True,
              help="Where to write the plot of node load, projections and moves.")
@click.option("--dataplane", type=click.Choice(["shardkv", "postgres"]), default="shardkv",
              show_default=True, help="Move shards of the reference shardkv, or schemas on "
              "local PostgreSQL 15 servers (docs/dataplane-postgres.md).")
def demo(seconds: float, plot_path: Path, dataplane: str) -> None:
    """The local stack, shards loaded by real traces, the operator forecasting and moving them
    on a data plane under writes."""
    from shardcast.commands.demo import run_demo

    _or_exit(lambda: run_demo(seconds, plot_path, dataplane))


@main.command()
@click.option("--trace", help="A bundled real trace, e.g. nab/Twitter_volume_AMZN.")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CSV: timestamp,value or rows 300 s apart.")
@click.option("--shard", help="A Shard in the cluster; its history comes from Prometheus.")
@click.option("--namespace", "-n", default="default", show_default=True)
@click.option("--policy", help="MigrationPolicy whose forecast settings apply (with --shard).")
@click.option("--prometheus", envvar="SHARDCAST_PROMETHEUS_URL",
              default="http://127.0.0.1:19090", show_default=True)
@click.option("--model", default="auto", show_default=True,
              type=click.Choice(["auto", "seasonal-naive", "holt-winters", "ets", "sarimax",
                                 "persistence", "cycle-naive"]))
@click.option("--horizon", default="1h", show_default=True)
@click.option("--history", "history_window", default="168h", show_default=True)
@click.option("--level", default=0.9, show_default=True, help="Prediction interval coverage.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw history, forecast and interval to this PNG.")
def forecast(trace: str | None, csv_path: Path | None, shard: str | None, namespace: str,
             policy: str | None, prometheus: str, model: str, horizon: str,
             history_window: str, level: float, plot: Path | None) -> None:
    """Forecast one series and explain the model choice (give --trace, --csv or --shard)."""
    from shardcast.api.durations import seconds
    from shardcast.api.policy_spec import ForecastSpec
    from shardcast.commands import forecast_report as report

    if sum(x is not None for x in (trace, csv_path, shard)) != 1:
        raise click.UsageError("give exactly one of --trace, --csv or --shard")
    settings = ForecastSpec(model=model, horizon=horizon, interval_level=level,
                            history_window_seconds=int(seconds(history_window)))
    try:
        if shard is not None:
            history, settings = report.from_shard(namespace, shard, policy, prometheus, settings)
        elif csv_path is not None:
            history = report.from_csv(csv_path)
        else:
            history = report.from_trace(str(trace))
        chosen, predicted, context = report.run(history, settings)
        pick = report.operator_pick(history, settings)
    except (ValueError, RuntimeError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(report.describe(history, chosen, predicted, context, pick))
    if plot is not None:
        report.plot(history, predicted, context, plot)
        click.echo(f"plot     {plot}")


@main.command()
@click.option("--traces", "traces_dir", type=click.Path(exists=True, file_okay=False,
                                                         path_type=Path),
              help="Directory of CSV traces (default: the bundled real traces).")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False,
                                                         path_type=Path),
              help="A MigrationPolicy YAML whose threshold, limits and costs to replay.")
@click.option("--nodes", default=8, show_default=True)
@click.option("--shards", default=60, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--spike", is_flag=True, help="Add an announced event: a fifth of the shards "
              "at 2.5x for three hours.")
@click.option("--days", default=14, show_default=True, help="Days replayed (4 are warm-up).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw node utilization over time per policy, moves marked, to this PNG.")
def simulate(traces_dir: Path | None, policy_file: Path | None, nodes: int, shards: int,
             seed: int, spike: bool, days: int, plot: Path | None) -> None:
    """Replay real traces on a simulated cluster under no-op, reactive, predictive and oracle
    policies and two greedy reference rules; print what each achieved."""
    from shardcast.commands.simulate import run as replay

    replay(traces_dir, policy_file, nodes, shards, seed, spike, days, plot)


@main.group()
def dataplane() -> None:
    """Data planes' Job entrypoints, run by a MigrationPolicy's Job templates."""


@dataplane.group()
def postgres() -> None:
    """PostgreSQL: a shard is a schema, moved by logical replication (docs/dataplane-postgres.md).

    Environment: the operator's SHARDCAST_* variables and SHARDCAST_PG_NODES
    (node=dsn,...)."""


@postgres.command("sync")
def postgres_sync() -> None:
    """Copy the shard's schema to the target and stream its rows until it has caught up."""
    from shardcast.dataplane.jobs import run_job
    from shardcast.dataplane.postgres.sync import sync

    sys.exit(run_job(sync))


@postgres.command("cutover")
def postgres_cutover() -> None:
    """Fence the source, let the target apply the rest, carry sequences over."""
    from shardcast.dataplane.jobs import run_job
    from shardcast.dataplane.postgres.cutover import cutover

    sys.exit(run_job(cutover))


@postgres.command("janitor")
@click.option("--sweep-seconds", default=60.0, show_default=True)
def postgres_janitor(sweep_seconds: float) -> None:
    """Clean up after moves that ended (rollback of abandoned ones), for SHARDCAST_NAMESPACE."""
    from shardcast.dataplane.jobs import JobFailed
    from shardcast.dataplane.postgres.cleanup import run_janitor

    try:
        run_janitor(os.environ, sweep_seconds)
    except JobFailed as error:
        raise click.ClickException(str(error)) from error


@postgres.command("local")
@click.argument("nodes", nargs=-1)
def postgres_local(nodes: tuple[str, ...]) -> None:
    """Start local PostgreSQL 15 servers for NODES (default node-a..node-c) and print
    SHARDCAST_PG_NODES for them."""
    from shardcast.devstack.postgres import ensure_servers

    servers = ensure_servers(nodes or ("node-a", "node-b", "node-c"),
                             log=lambda line: click.echo(line, err=True))
    click.echo("SHARDCAST_PG_NODES=" + ",".join(f"{s.node}={s.dsn}" for s in servers))


@main.group()
def devstack() -> None:
    """The local stack: kube-apiserver, controller-manager, scheduler, kwok, etcd, Prometheus."""


@devstack.command()
def up() -> None:
    """Build (once, cached) and start every part; reuses parts already running."""
    from shardcast.devstack import stack

    _or_exit(stack.up)


@devstack.command()
@click.option("--wipe", is_flag=True, help="Also delete all data, certificates and logs.")
def down(wipe: bool) -> None:
    """Stop every part of the stack."""
    from shardcast.devstack import stack

    _or_exit(lambda: stack.down(wipe=wipe))


@devstack.command()
def status() -> None:
    """Print each part and its pid (null when stopped); exit 1 unless all run."""
    from shardcast.devstack import stack

    pids = stack.status()
    click.echo(json.dumps(pids, indent=2))
    sys.exit(0 if all(pids.values()) else 1)


def _or_exit(action: Callable[[], object]) -> None:
    try:
        action()
    except StackError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
