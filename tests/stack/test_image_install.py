"""The image's install steps, run here (no Docker on this machine): exactly what the Dockerfile
copies, `pip install .` into a fresh venv, bytecode compiled, and the entrypoint able to start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_dockerfile_install_steps_give_a_working_entrypoint(tmp_path: Path) -> None:
    steps = (REPO / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md ./" in steps and "COPY operator ./operator" in steps
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "operator", source / "operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "-q", "."], cwd=source, env=env,
                   check=True, timeout=900)
    subprocess.run([venv / "bin" / "python", "-m", "compileall", "-q", str(venv)], check=True,
                   timeout=600)
    usage = subprocess.run([venv / "bin" / "shardcast", "run", "--help"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, check=True, timeout=120)
    assert "--standalone" in usage.stdout
    handlers = subprocess.run([venv / "bin" / "python", "-c", "import shardcast.handlers"],
                              capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=120)
    assert handlers.returncode == 0, handlers.stderr
