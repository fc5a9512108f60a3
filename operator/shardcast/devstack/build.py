"""Build the stack's Go binaries from the module proxy, once, into a cache outside the repository.

k8s.io/kubernetes cannot be `go install`ed: its go.mod requires every staging module at v0.0.0 and
replaces it with a path inside the repository. A small wrapper module requires k8s.io/kubernetes and
replaces each staging module with its published v0.<minor>.<patch> instead.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shardcast.devstack import versions
from shardcast.devstack.paths import cache_dir

LogFn = Callable[[str], None]

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


class BuildError(RuntimeError):
    """A Go build failed; the message carries the tail of its output."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    helm: Path


def binary_paths() -> Binaries:
    """Where each pinned binary lives in the cache (whether or not it is built yet)."""
    bin_dir = cache_dir() / "bin"
    apiserver, controller_manager, scheduler = (
        bin_dir / f"{name}-v{versions.KUBERNETES}" for name in KUBE_COMMANDS)
    return Binaries(apiserver, controller_manager, scheduler,
                    kwok=bin_dir / f"kwok-v{versions.KWOK}",
                    helm=bin_dir / f"helm-v{versions.HELM}")


def ensure_binaries(log: LogFn = print) -> Binaries:
    """Return the cached binaries, building whichever are missing."""
    paths = binary_paths()
    kube = dict(zip(KUBE_COMMANDS, (paths.kube_apiserver, paths.kube_controller_manager,
                                    paths.kube_scheduler), strict=True))
    if not all(path.exists() for path in kube.values()):
        _build_kubernetes(kube, log)
    if not paths.kwok.exists():
        _go_install_module("sigs.k8s.io/kwok", versions.KWOK, "cmd/kwok", paths.kwok, log)
    if not paths.helm.exists():
        ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version=v{versions.HELM}"
        _go_install_module("helm.sh/helm/v3", versions.HELM, "cmd/helm", paths.helm, log,
                           ldflags)
    return paths


def _build_kubernetes(targets: dict[str, Path], log: LogFn) -> None:
    version = versions.KUBERNETES
    work = cache_dir() / "build" / f"kubernetes-v{version}"
    work.mkdir(parents=True, exist_ok=True)
    log(f"building kube-apiserver, kube-controller-manager, kube-scheduler v{version} "
        "from the Go module proxy (a cold build takes several minutes)")
    _write_kubernetes_wrapper(work, version)
    minor = version.split(".")[1]
    build_date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamps = []
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        stamps += [f"-X {pkg}.gitVersion=v{version}", f"-X {pkg}.gitMajor=1",
                   f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean",
                   f"-X {pkg}.buildDate={build_date}"]
    out = work / "bin"
    _go(["build", "-p", "2", "-trimpath", "-tags=selinux,notest,grpcnotrace",
         f"-ldflags=-s -w {' '.join(stamps)}", "-o", f"{out}/",
         *(f"k8s.io/kubernetes/cmd/{name}" for name in targets)], work)
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        (out / name).replace(target)


def _write_kubernetes_wrapper(work: Path, version: str) -> None:
    upstream_mod = _download_go_mod("k8s.io/kubernetes", f"v{version}", work)
    staging = re.findall(r"^\s*(k8s\.io/[a-z0-9-]+) => \./staging/", upstream_mod, re.M)
    godebug = re.findall(r"^godebug .*$", upstream_mod, re.M)
    replaces = "\n".join(f"\t{m} => {m} v0.{version.split('.', 1)[1]}" for m in staging)
    (work / "go.mod").write_text(
        "module local/shardcast-kubernetes\n\ngo 1.24.0\n\n" + "\n".join(godebug) +
        f"\n\nrequire k8s.io/kubernetes v{version}\n\nreplace (\n{replaces}\n)\n")
    imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{name}"' for name in KUBE_COMMANDS)
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
    _go(["mod", "tidy"], work)


def _download_go_mod(module: str, version: str, work: Path) -> str:
    result = _go(["mod", "download", "-json", f"{module}@{version}"], work)
    return Path(json.loads(result)["GoMod"]).read_text()


def _go_install_module(module: str, version: str, command: str, target: Path, log: LogFn,
                       ldflags: str = "-s -w") -> None:
    """`go install` into a private GOBIN so the pinned version never lands on the user's PATH."""
    log(f"building {module}/{command} v{version} from the Go module proxy")
    gobin = cache_dir() / "build" / "gobin"
    gobin.mkdir(parents=True, exist_ok=True)
    _go(["install", "-trimpath", f"-ldflags={ldflags}", f"{module}/{command}@v{version}"],
        gobin, extra_env={"GOBIN": str(gobin)})
    target.parent.mkdir(parents=True, exist_ok=True)
    (gobin / Path(command).name).replace(target)


def _go(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> str:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", **(extra_env or {})}
    proc = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise BuildError(f"go {' '.join(args[:2])} failed in {cwd}:\n{tail}")
    return proc.stdout
