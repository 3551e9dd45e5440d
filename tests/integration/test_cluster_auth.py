"""cluster.yaml's head, started the way it ships: a job submitted without the token is refused.

Runs with the jobsubmit marker, beside the rest of the suite (see the Makefile): the head is
stopped by signalling its own process group (helpers.ray_head), never by `ray stop`."""

import os
import secrets
import shlex
import sys
from pathlib import Path

import pytest
import requests
import yaml

from helpers import REPO, ray_head

pytestmark = pytest.mark.jobsubmit

DASHBOARD = 8276


def shipped_head(home: Path) -> tuple[dict, list[str]]:
    """(environment, arguments) of cluster.yaml's `ray start --head` on a fresh node whose home
    is `home`: the command's own assignments, and a token only if file_mounts bring one."""
    cluster = yaml.safe_load((REPO / "cluster.yaml").read_text())
    (command,) = [c for c in cluster["head_start_ray_commands"] if " start --head" in c]
    words = shlex.split(command)
    env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    if "/home/ubuntu/.ray/auth_token" in cluster["file_mounts"]:
        (home / ".ray").mkdir()
        (home / ".ray" / "auth_token").write_text(secrets.token_hex(16))
    return {**env, "HOME": str(home)}, words[len(env) :]


def test_shipped_head_refuses_a_job_without_the_token(tmp_path):
    env, args = shipped_head(tmp_path)
    assert args[0].endswith(".venv/bin/ray") and "--dashboard-host=127.0.0.1" in args
    token = tmp_path / ".ray" / "auth_token"
    # `make test` sets RAY_AUTH_MODE=disabled for its own clusters: only what cluster.yaml sets counts
    run_env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"} | env
    run_env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    flags = ["--port=6391", f"--dashboard-port={DASHBOARD}", "--num-cpus=1", "--include-dashboard=true"]
    with ray_head([*flags, "--disable-usage-stats", "--dashboard-host=127.0.0.1"], run_env, DASHBOARD):
        jobs = f"http://127.0.0.1:{DASHBOARD}/api/jobs/"
        body = {"entrypoint": "touch /tmp/skutune-unauthenticated-job-ran"}
        refused = requests.post(jobs, json=body, timeout=30)
        assert refused.status_code in (401, 403), refused.text
        wrong = requests.post(jobs, json=body, headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code in (401, 403), wrong.text
        listed = requests.get(jobs, headers={"Authorization": f"Bearer {token.read_text()}"}, timeout=30)
        assert listed.status_code == 200 and listed.json() == []  # the token opens it; nothing ran
