"""`shardcast`: run the operator, or manage the local stack it is developed and tested against."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

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
    from shardcast.handlers.main import run_operator

    run_operator(namespaces=list(namespace), standalone=standalone, liveness=liveness,
                 verbose=verbose)


@main.command()
@click.option("--seconds", default=20.0, show_default=True,
              help="How long the operator runs before the demo reports.")
def demo(seconds: float) -> None:
    """Bring up the local stack and run the operator on shards loaded by real traces."""
    from shardcast.demo import run_demo

    _or_exit(lambda: run_demo(seconds))


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
