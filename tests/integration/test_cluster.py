"""Several raylets on one machine (`ray.cluster_utils.Cluster`): curation spreads over the nodes,
training places its workers on two nodes, and a run survives a killed worker process (resuming
mid-epoch from a step checkpoint) and a removed node (from an epoch's checkpoint), finishing with
the optimizer steps of an uninterrupted run and every example seen once per epoch. Runs in a second pytest process (`-m "jobsubmit or cluster"`): it starts its own Ray."""

import collections
import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from helpers import tiny_config
from skutune.train.trainer import (
    LOG_FILE,
    POSITION_FILE,
    build_trainer,
    fingerprint,
    load_ledgers,
    storage_path,
    training_dataset,
)

pytestmark = pytest.mark.cluster
WORKER = "RayTrainWorker"
EPOCHS = 2


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    # a 1-CPU head (the driver, Ray Train's controller) and two 1-CPU worker nodes; the dashboard
    # serves the state API that shows where tasks ran
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": True})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    from skutune.runtime.cluster import configure_data

    configure_data()  # as init_ray does for a job
    ray.init(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def curated(cluster, tmp_path_factory, tiny_model_dir):
    from skutune.data.curate import run_curate

    cfg = tiny_config(tmp_path_factory.mktemp("cluster-run"))
    return cfg, run_curate(cfg, tiny_model_dir)


def test_curate_spreads_over_nodes_and_loses_no_row(cluster, curated):
    from ray.util.state import list_tasks

    cfg, manifest = curated
    for part in ("catalog", "examples"):
        counts = manifest[part]
        assert counts["rows_in"] == counts["rows_out"] + sum(counts["quarantined"].values()) + sum(
            counts["removed"].values()
        )
    tasks = list_tasks(
        address="http://" + cluster.head_node.address_info["webui_url"],
        limit=10_000,
        detail=True,
        raise_on_missing_output=False,
    )
    data_nodes = {t.node_id for t in tasks if t.type == "NORMAL_TASK" and t.node_id}
    assert len(data_nodes) >= 2, collections.Counter((t.name, t.node_id) for t in tasks)


def _config(cfg, name, **overrides):
    # batch 2: enough steps per epoch for a fault to land inside the run; STRICT_SPREAD: one worker per node
    return tiny_config(
        cfg.output_dir(),
        **{
            "train.epochs": EPOCHS,
            "train.batch_size": 2,
            "train.max_failures": 2,
            "train.placement_strategy": "STRICT_SPREAD",
            "train.threads_per_worker": 1,
            "train.storage": str(cfg.output_dir() / "ray" / name),
            **overrides,
        },
    )


def _registered(run: Path) -> bool:
    """Ray Train has registered a checkpoint of the run (its directory alone may be half-written)."""
    for snapshot in run.glob("*/checkpoint_manager_snapshot.json"):
        try:
            return bool(json.loads(snapshot.read_text()).get("latest_checkpoint_result"))
        except ValueError:  # being rewritten
            return False
    return False


def _fit_with_fault(cfg, model_dir, fault=None):
    """Fit; with `fault`, call it once the run's first checkpoint is registered (mid-run)."""
    run = Path(storage_path(cfg))
    done, result = threading.Event(), {}

    def fit():
        try:
            result["result"] = build_trainer(cfg, model_dir, training_dataset(cfg)).fit()
        finally:
            done.set()

    thread = threading.Thread(target=fit)
    thread.start()
    if fault:
        while not done.is_set() and not _registered(run):
            time.sleep(0.05)
        assert not done.is_set(), "the run ended before the fault could be injected"
        fault()
    thread.join(timeout=900)
    assert "result" in result
    with result["result"].checkpoint.as_directory() as d:
        return (
            json.loads((Path(d) / POSITION_FILE).read_text()),
            [json.loads(line) for line in (Path(d) / LOG_FILE).read_text().splitlines()],
            load_ledgers(Path(d)),
        )


def _worker_processes(root: psutil.Process) -> list[psutil.Process]:
    return [p for p in root.children(recursive=True) if WORKER in " ".join(p.cmdline())]


def _check_examples(ledgers, dataset: list[str], world: int):
    """Per epoch, over all ranks: no row twice (beyond the data's own duplicates) and none skipped
    (Ray's equal split may leave out fewer rows than there are workers)."""
    for epoch in range(EPOCHS):
        seen = [fp for rank in ledgers.values() for fp in rank[str(epoch)]["rows"]]
        assert not collections.Counter(seen) - collections.Counter(dataset), f"epoch {epoch}: rows repeated"
        assert len(seen) > len(dataset) - world, f"epoch {epoch}: {len(dataset) - len(seen)} rows skipped"


@pytest.fixture(scope="module")
def uninterrupted(cluster, curated, tiny_model_dir):
    cfg, _ = curated
    return _fit_with_fault(_config(cfg, "uninterrupted"), tiny_model_dir)


@pytest.fixture(scope="module")
def dataset(curated, tiny_model_dir):
    from transformers import AutoTokenizer

    pad = AutoTokenizer.from_pretrained(tiny_model_dir).pad_token_id
    return [fingerprint(row["input_ids"], pad) for row in training_dataset(curated[0]).take_all()]


def test_training_places_workers_on_two_nodes(uninterrupted, dataset):
    pos, history, ledgers = uninterrupted
    assert len(ledgers) == 2 and pos["epoch"] == EPOCHS
    for epoch in range(EPOCHS):
        assert len({ledgers[rank][str(epoch)]["node"] for rank in ledgers}) == 2
    _check_examples(ledgers, dataset, 2)
    assert not any("resumed_at" in h for h in history)


def test_killed_worker_resumes_from_checkpoint(cluster, curated, uninterrupted, dataset, tiny_model_dir):
    cfg, _ = curated
    killed = []

    def kill_a_worker():
        victim = _worker_processes(psutil.Process(cluster.head_node.all_processes["raylet"][0].process.pid))
        victim = victim or [
            p
            for node in cluster.worker_nodes
            for p in _worker_processes(psutil.Process(node.all_processes["raylet"][0].process.pid))
        ]
        os.kill(victim[0].pid, signal.SIGKILL)
        killed.append(victim[0].pid)

    # step checkpoints: the fault lands once the first is registered, inside the first epoch
    killed_cfg = _config(cfg, "killed", **{"train.checkpoint_every_steps": 3})
    pos, history, ledgers = _fit_with_fault(killed_cfg, tiny_model_dir, kill_a_worker)
    assert killed
    _assert_recovered(pos, history, ledgers, uninterrupted, dataset)
    resumed = next(h for h in history if "resumed_at" in h)
    cut = history[resumed["resumed_at"] - 1]  # the checkpoint's last step, which was not redone
    assert cut["step"] % 3 == 0 and cut["epoch"] == resumed["epoch"], "resumed mid-epoch, from a step checkpoint"


def test_removed_node_resumes_from_checkpoint(cluster, curated, uninterrupted, dataset, tiny_model_dir):
    cfg, _ = curated
    removed = []

    def remove_a_node():
        node = next(
            n
            for n in cluster.worker_nodes
            if _worker_processes(psutil.Process(n.all_processes["raylet"][0].process.pid))
        )
        cluster.remove_node(node, allow_graceful=False)
        removed.append(node.node_id)
        cluster.add_node(num_cpus=1)  # what the autoscaler does for a preempted node

    pos, history, ledgers = _fit_with_fault(_config(cfg, "removed"), tiny_model_dir, remove_a_node)
    assert removed
    _assert_recovered(pos, history, ledgers, uninterrupted, dataset)
    nodes = {rank[str(EPOCHS - 1)]["node"] for rank in ledgers.values()}
    assert removed[0] not in nodes  # the last epoch ran on the nodes that were left


def _assert_recovered(pos, history, ledgers, uninterrupted, dataset):
    base_pos, base_history, _ = uninterrupted
    resumed = [h for h in history if "resumed_at" in h]
    assert len(resumed) == 1, "the run should restart once, from a checkpoint"
    assert resumed[0]["resumed_at"] > 0  # from a checkpoint, not from scratch
    assert pos["step"] == base_pos["step"] and [h["step"] for h in history] == [h["step"] for h in base_history]
    assert [h["epoch"] for h in history] == [h["epoch"] for h in base_history]
    _check_examples(ledgers, dataset, 2)
    seen = [sum(len(rank[str(e)]["rows"]) for rank in ledgers.values()) for e in range(EPOCHS)]
    print(
        f"\nresumed after step {resumed[0]['resumed_at']}; {pos['step']} steps as uninterrupted; "
        f"rows per epoch {seen} of {len(dataset)}"
    )
