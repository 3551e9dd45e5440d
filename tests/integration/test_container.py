"""The Dockerfile builds, and its image runs skutune (the CPU build). Needs a Docker daemon: skipped,
with the reason, where there is none (as on the machine this project is built on)."""

import shutil
import subprocess

import pytest

from helpers import REPO


def docker_ready() -> str | None:
    """None when a daemon answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker command"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    return None if info.returncode == 0 else f"no Docker daemon: {info.stderr.strip().splitlines()[-1:]}"


def test_image_builds_and_runs_skutune():
    reason = docker_ready()
    if reason:
        pytest.skip(reason)
    subprocess.run(["docker", "build", "-t", "skutune:test", str(REPO)], check=True, timeout=3600)
    out = subprocess.run(["docker", "run", "--rm", "skutune:test", "skutune", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "curate" in out.stdout
    user = subprocess.run(["docker", "run", "--rm", "skutune:test", "id", "-u"], capture_output=True, text=True)
    assert user.stdout.strip() == "1000"  # never root at run time
