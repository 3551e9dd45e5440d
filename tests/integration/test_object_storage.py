"""Object storage end to end: a run whose run.output_dir is s3:// on a local S3-compatible server
(moto, on 127.0.0.1, started here). curate and train run as separate `skutune` commands, each
from an empty local mirror (as if on another machine), with the credentials only in the
environment; then `skutune serve` answers with the adapter the bucket holds.
Runs in the second pytest process (-m beside): each command starts a Ray of its own."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import requests

from helpers import TOKEN

pytestmark = pytest.mark.beside
SKUTUNE = str(Path(sys.executable).with_name("skutune"))
SECRET = "skutune-test-secret-7f3a9c"
RUN = "s3://skutune/runs/tiny"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_env(tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "skutune-test",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "SKUTUNE_RUNS": str(tmp_path / "runs"),
        "SKUTUNE_API_TOKEN": TOKEN,
    }
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(env["AWS_ENDPOINT_URL"], timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        requests.put(f"{env['AWS_ENDPOINT_URL']}/skutune", timeout=10).raise_for_status()  # the bucket
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)


def _skutune(env, stage: str, *sets: str) -> str:
    args = ["--config", "tiny", "--set", f"run.output_dir={RUN}", "--set", "train.num_workers=1"]
    for item in ("train.epochs=1", *sets):
        args += ["--set", item]
    done = subprocess.run([SKUTUNE, stage, *args], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout + done.stderr


def _bucket(env) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key="skutune-test",
        secret_key=SECRET,
        region="us-east-1",
        endpoint_override=env["AWS_ENDPOINT_URL"],
    )


def test_object_storage_curate_train_register_serve(s3_env, tmp_path):
    mirror = tmp_path / "runs" / "remote" / "s3" / "skutune" / "runs" / "tiny"
    logs = []
    for stage in ("curate", "train"):
        logs.append(_skutune(s3_env, stage))
        assert mirror.exists()
        subprocess.run(["rm", "-rf", str(tmp_path / "runs")], check=True)  # the next stage: another machine

    bucket = _bucket(s3_env)
    stored = {i.path for i in bucket.get_file_info(pafs.FileSelector("skutune/runs/tiny", recursive=True))}
    for part in ("data/manifest.json", "data/catalog.jsonl", "adapters/search/skutune.json"):
        assert f"skutune/runs/tiny/{part}" in stored, sorted(stored)[:20]
    assert any(p.startswith("skutune/runs/tiny/ray/train-search-") for p in stored)  # Ray Train's checkpoints
    assert not any("/work/" in p for p in stored)  # curate's scratch stays local

    port = _free_port()
    server = subprocess.Popen(
        [SKUTUNE, "serve", "--config", "tiny", "--set", f"run.output_dir={RUN}", "--set", f"serve.port={port}"],
        env=s3_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline, answer = time.time() + 300, None
        while time.time() < deadline and server.poll() is None:
            try:
                answer = requests.post(
                    f"http://127.0.0.1:{port}/v1/search",
                    json={"query": "samsung fridge", "region": "IN"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=120,
                )
                if answer.status_code != 503:  # 503: the app is still starting
                    break
            except requests.ConnectionError:
                pass
            time.sleep(1)
        assert answer is not None and answer.status_code == 200, answer and answer.text
        body = answer.json()
        assert body["adapter"] == "search" and isinstance(body["results"], list), body
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            out, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            out, _ = server.communicate()
        logs.append(out)
    # the secret reached the commands only through the environment: no log or run file holds it
    assert not any(SECRET in log for log in logs)
    assert not any(SECRET in p.read_text(errors="ignore") for p in mirror.rglob("*") if p.is_file())
