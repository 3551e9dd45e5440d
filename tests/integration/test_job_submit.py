"""`ray job submit --working-dir .` against a real local head node, as users run it.

A pytest process of its own (`-m "jobsubmit or cluster"`, see the Makefile), beside the rest of
the suite: the head runs in a process group of its own and is stopped by signalling it, never by
`ray stop` (which would stop every Ray on the machine)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from helpers import REPO, ray_head

pytestmark = pytest.mark.jobsubmit

RAY = str(Path(sys.executable).parent / "ray")
DASHBOARD = 8275


@pytest.fixture(scope="module")
def head():
    # Token auth is on by default in Ray 2.60; this throwaway loopback cluster turns it off.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    args = ["--port=6390", f"--dashboard-port={DASHBOARD}", "--num-cpus=3", "--include-dashboard=true"]
    with ray_head([*args, "--disable-usage-stats"], env, DASHBOARD):
        yield env


def test_submit_curate_index_and_train_tiny(head, tmp_path):
    out = tmp_path / "run"
    sub = f"skutune-test-{uuid.uuid4().hex[:6]}"
    cfg = f"--config jobs/configs/tiny.yaml --set run.output_dir={out} --set train.epochs=1"
    entry = " && ".join(f"{sys.executable} jobs/{job}.py {cfg}" for job in ("curate", "index", "train"))
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
    assert (out / "adapters" / "search" / "adapter_model.safetensors").exists()
    assert (out / "index" / "CURRENT").read_text() == "v0001"
    _assert_tracked(out, proc.stdout)


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
