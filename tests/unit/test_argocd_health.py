"""The Argo CD health checks in docs/argocd, run by a real Lua interpreter on typical objects."""

from pathlib import Path
from typing import Any

import lupa
import pytest

ARGOCD = Path(__file__).resolve().parents[2] / "docs" / "argocd"


def health(kind: str, obj: dict[str, Any]) -> str:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    return str(lua.execute((ARGOCD / f"{kind}.lua").read_text()).status)


def ready(status: str, reason: str, phase: str | None = None) -> dict[str, Any]:
    return {"metadata": {"generation": 2},
            "status": {"observedGeneration": 2, **({"phase": phase} if phase else {}),
                       "conditions": [{"type": "Ready", "status": status, "reason": reason,
                                       "message": reason}]}}


@pytest.mark.parametrize(("obj", "expected"), [
    (ready("True", "Placed", "Placed"), "Healthy"),
    (ready("True", "Migrating", "Migrating"), "Progressing"),
    (ready("False", "WorkloadNotFound", "Pending"), "Degraded"),
    ({"metadata": {"generation": 3}, **{k: v for k, v in ready("True", "Placed").items()
                                        if k == "status"}}, "Progressing"),
    ({"metadata": {}}, "Progressing"),
])
def test_shard_health(obj: dict[str, Any], expected: str) -> None:
    assert health("shard", obj) == expected


@pytest.mark.parametrize(("obj", "expected"), [
    (ready("True", "Evaluated"), "Healthy"),
    (ready("False", "ForecastFailed"), "Degraded"),
    ({"metadata": {}}, "Progressing"),
])
def test_policy_health(obj: dict[str, Any], expected: str) -> None:
    assert health("migrationpolicy", obj) == expected


@pytest.mark.parametrize(("phase", "reason", "expected"), [
    ("Active", "Active", "Healthy"),
    ("RolledBack", "KpiRegression", "Degraded"),
    ("Failed", "SourceMismatch", "Degraded"),
    ("Pending", "AwaitingApproval", "Suspended"),
    ("Redirecting", "Redirecting", "Progressing"),
])
def test_migration_health(phase: str, reason: str, expected: str) -> None:
    assert health("shardmigration", ready("False", reason, phase)) == expected
