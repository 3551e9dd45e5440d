"""`ray job submit --working-dir .` against a real local head node, as users run it, with the run
in object storage: a local S3-compatible server (moto, on 127.0.0.1, started here) holds it, the
credentials are only in the head's environment, and each stage starts from an empty local mirror,
as if on another machine; the index and the adapter registry lie in places of their own. Then
`skutune serve` answers with the adapter the bucket holds, and takes up one written there later.

A pytest process of its own (`-m "jobsubmit or cluster"`, see the Makefile), beside the rest of
the suite: the head runs in a process group of its own and is stopped by signalling it, never by
`ray stop` (which would stop every Ray on the machine)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import requests

from helpers import ADMIN_TOKEN, REPO, TOKEN, ray_head

pytestmark = pytest.mark.jobsubmit

RAY = str(Path(sys.executable).parent / "ray")
SKUTUNE = str(Path(sys.executable).parent / "skutune")
DASHBOARD = 8275
SECRET = "skutune-test-secret-7f3a9c"
RUN = "s3://skutune/runs/tiny"
# the index and the adapter registry in places of their own, as a team sharing them across runs keeps them
PLACES = ("--set", f"run.output_dir={RUN}", "--set", "index.dir=s3://skutune/indexes/tiny")
PLACES += ("--set", "serve.adapters_dir=s3://skutune/registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on loopback with a bucket, and the environment that reaches it."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ACCESS_KEY_ID": "skutune-test",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "SKUTUNE_RUNS": str(tmp_path_factory.mktemp("runs")),
    }
    try:
        deadline = time.time() + 30
        while True:
            try:
                requests.put(f"{env['AWS_ENDPOINT_URL']}/skutune", timeout=2).raise_for_status()  # the bucket
                break
            except requests.ConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def head(s3):
    # Token auth is on by default in Ray 2.60; this throwaway loopback cluster turns it off.
    env = {
        **os.environ,
        **s3,
        "RAY_AUTH_MODE": "disabled",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    args = ["--port=6390", f"--dashboard-port={DASHBOARD}", "--num-cpus=3", "--include-dashboard=true"]
    with ray_head([*args, "--disable-usage-stats"], env, DASHBOARD):
        yield env


def test_submit_curate_index_and_train_with_the_run_in_object_storage(head, tmp_path):
    mirror = Path(head["SKUTUNE_RUNS"]) / "remote" / "s3" / "skutune" / "runs" / "tiny"
    sub = f"skutune-test-{uuid.uuid4().hex[:6]}"
    cfg = f"--config jobs/configs/tiny.yaml {' '.join(PLACES)} --set train.epochs=1"
    another_machine = f"rm -rf {mirror}"
    entry = f" && {another_machine} && ".join(
        f"{sys.executable} jobs/{job}.py {cfg}" for job in ("curate", "index", "train")
    )
    address = f"http://127.0.0.1:{DASHBOARD}"
    proc = subprocess.run(
        [
            RAY,
            "job",
            "submit",
            "--address",
            address,
            "--submission-id",
            sub,
            "--working-dir",
            ".",
            "--",
            "bash",
            "-c",
            entry,
        ],
        cwd=REPO,
        env=head,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from ray.job_submission import JobStatus, JobSubmissionClient

    status = JobSubmissionClient(address).get_job_status(sub)  # `ray job submit` waits for the end
    assert proc.returncode == 0 and status == JobStatus.SUCCEEDED, proc.stdout[-3000:] + proc.stderr[-3000:]
    bucket = pafs.S3FileSystem(
        access_key="skutune-test", secret_key=SECRET, region="us-east-1", endpoint_override=head["AWS_ENDPOINT_URL"]
    )
    stored = {i.path for i in bucket.get_file_info(pafs.FileSelector("skutune", recursive=True))}
    for part in ("runs/tiny/data/manifest.json", "registry/search/adapter_model.safetensors", "runs/tiny/mlruns"):
        assert any(p.startswith(f"skutune/{part}") for p in stored), (part, sorted(stored)[:20])
    assert any(p.startswith("skutune/runs/tiny/tensorboard") for p in stored)
    assert any(p.startswith("skutune/runs/tiny/ray/train-search-") for p in stored)  # Ray Train's checkpoints
    # curate's Ray Data scratch went to the bucket (a cluster's nodes share no disk) and was cleared
    assert "scratch checkpoints under s3://skutune/runs/tiny/curate" in proc.stdout + proc.stderr
    assert not any(p.startswith("skutune/runs/tiny/curate/") for p in stored)
    assert any(p.startswith("skutune/runs/tiny/data/train/answer/") for p in stored)  # read by train from there
    assert not any(p.startswith(("skutune/runs/tiny/index", "skutune/runs/tiny/adapters")) for p in stored)
    with bucket.open_input_stream("skutune/indexes/tiny/CURRENT") as f:
        assert f.read() == b"v0001"
    _assert_tracked(mirror, proc.stdout)  # the train job's mirror: what it downloaded and wrote

    served = _serve_one_query(head, bucket)
    # the secret reached the jobs only through the environment: no log or run file holds it
    assert not any(SECRET in log for log in (proc.stdout, proc.stderr, served))
    assert not any(SECRET in p.read_text(errors="ignore") for p in mirror.rglob("*") if p.is_file())


def _serve_one_query(env, bucket) -> str:
    """`skutune serve` from an empty mirror answers with the bucket's adapter (the replica downloads
    the run, index and registry), takes up an adapter written to the bucket while it serves, and
    refuses HTTP registration into a registry it cannot publish to atomically; returns its log."""
    subprocess.run(["rm", "-rf", env["SKUTUNE_RUNS"]], check=True)
    port = _free_port()
    server = subprocess.Popen(
        [SKUTUNE, "serve", "--config", "tiny", *PLACES, "--set", f"serve.port={port}"],
        env={**env, "SKUTUNE_API_TOKEN": TOKEN, "SKUTUNE_ADMIN_TOKEN": ADMIN_TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)
    reader.start()
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN}"}

    def search(adapter: str) -> requests.Response:
        body = {"query": "samsung fridge", "region": "IN", "adapter": adapter}
        return requests.post(f"{url}/v1/search", json=body, headers=auth, timeout=120)

    try:
        deadline = time.time() + 300
        while not any("serving http://" in line for line in lines):  # printed once the app is deployed
            assert server.poll() is None and time.time() < deadline, "".join(lines)[-3000:]
            time.sleep(0.5)
        answer = search("search")
        assert answer.status_code == 200, answer.text + "".join(lines)[-3000:]
        assert answer.json()["adapter"] == "search" and isinstance(answer.json()["results"], list)
        assert search("promo").status_code == 404
        registered = requests.post(
            f"{url}/v1/adapters",
            json={"name": "promo", "source": "s3://skutune/registry/search"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        )
        assert registered.status_code == 409 and "object storage" in registered.json()["detail"], registered.text
        # another job writes an adapter into the registry: replicas take it up (remote_poll_s, 30 s)
        files = bucket.get_file_info(pafs.FileSelector("skutune/registry/search"))
        for f in sorted(files, key=lambda f: f.base_name == "skutune.json"):  # its metadata last, as uploads do
            bucket.copy_file(f.path, f"skutune/registry/promo/{f.base_name}")
        deadline = time.time() + 120
        while (answer := search("promo")).status_code == 404 and time.time() < deadline:
            time.sleep(2)
        assert answer.status_code == 200 and answer.json()["adapter"] == "promo", answer.text
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        reader.join(timeout=10)
    return "".join(lines)


def _assert_tracked(out: Path, log: str):
    """curate and train logged params, metrics and artefacts to MLflow's file store under the run,
    TensorBoard events, and the loss curve."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from skutune.runtime.tracking import mlflow_client

    assert (out / "loss_curve_search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "loss curve:" in log
    client = mlflow_client((out / "mlruns").as_uri())
    runs = {
        r.data.tags["skutune.job"]: r for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    }
    assert {"curate", "train-search"} <= set(runs)
    train = runs["train-search"]
    assert (
        train.info.status == "FINISHED"
        and train.data.params["method.name"] == "lora"
        and train.data.params["train.epochs"] == "1"
    )
    losses = client.get_metric_history(train.info.run_id, "train/loss")
    assert len(losses) >= 2 and [m.step for m in losses] == sorted(m.step for m in losses)
    assert "final/tokens_per_s" in train.data.metrics
    assert {a.path for a in client.list_artifacts(train.info.run_id)} >= {
        "loss_curve_search.png",
        "skutune.json",
        "train_log.jsonl",
    }
    curate = runs["curate"]
    assert curate.data.metrics["examples/rows_in"] > 0 and "curation.md" in {
        a.path for a in client.list_artifacts(curate.info.run_id)
    }
    events = EventAccumulator(str(out / "tensorboard" / "train-search"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [m.step for m in losses]
