"""Ray Train with 2 CPU workers on a tiny random model (real tokenizer): loss falls, the
adapter is exported with metadata, and a rerun under the same name resumes."""

import json
import os
from pathlib import Path

from safetensors import safe_open

from helpers import tiny_config
from skutune.train.trainer import (
    LOG_FILE,
    POSITION_FILE,
    build_trainer,
    publish_checkpoint,
    storage_path,
    training_dataset,
)


def _fit(cfg, model_dir, ray):
    return build_trainer(cfg, model_dir, training_dataset(cfg)).fit()


def token_losses(model, rows) -> tuple[float, float]:
    """Mean next-token loss on (answer tokens, prompt tokens) of tokenized training rows."""
    import torch

    sums, counts = [0.0, 0.0], [0, 0]
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]])
            losses = torch.nn.functional.cross_entropy(
                model(input_ids=ids).logits[0, :-1], ids[0, 1:], reduction="none"
            )
            answer = torch.tensor(row["labels"][1:]) != -100
            for i, mask in enumerate((answer, ~answer)):
                sums[i] += losses[mask].sum().item()
                counts[i] += int(mask.sum())
    return sums[0] / counts[0], sums[1] / counts[1]


def test_two_workers_loss_falls_and_rerun_resumes(tiny_curated, tiny_model_dir, ray_local, tmp_path):
    cfg, manifest = tiny_curated
    cfg = tiny_config(cfg.output_dir(), **{"train.epochs": 3, "train.lr": 0.03})
    assert cfg.train.num_workers == 2
    result = _fit(cfg, tiny_model_dir, ray_local)
    with result.checkpoint.as_directory() as d:
        history = [json.loads(line) for line in open(f"{d}/{LOG_FILE}")]
        adapter = publish_checkpoint(
            Path(d),
            tmp_path / "adapter",
            cfg,
            tiny_model_dir,
            {"base_model": str(tiny_model_dir), "data_manifest_hash": manifest["hash"]},
        )
    steps = [h["step"] for h in history]
    assert steps == list(range(1, len(steps) + 1))
    first, last = history[:3], history[-3:]
    assert sum(h["loss"] for h in last) / 3 < sum(h["loss"] for h in first) / 3 - 0.5, history
    assert {h["epoch"] for h in history} == {0, 1, 2}

    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as f:
        meta = f.metadata()
        assert meta["data_manifest_hash"] == manifest["hash"] and json.loads(meta["method"])["name"] == "lora"
        assert any("lora_A" in k for k in f.keys())
    assert json.loads((adapter / "skutune.json").read_text())["base_model"] == str(tiny_model_dir)

    # The control: the loss fell where the labels are (the answer), not on the prompt tokens, which
    # carry none. Labels on the wrong tokens would make the repeated system prompt's loss fall most.
    import pyarrow.parquet as pq
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    rows = pq.read_table(cfg.output_dir() / "data" / "train" / cfg.train.target).slice(0, 16).to_pylist()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    answer_before, prompt_before = token_losses(base, rows)
    answer_after, prompt_after = token_losses(PeftModel.from_pretrained(base, adapter).eval(), rows)
    print(
        f"answer-token loss {answer_before:.2f} -> {answer_after:.2f}, prompt {prompt_before:.2f} -> {prompt_after:.2f}"
    )
    assert answer_before - answer_after > 1.0 and prompt_before - prompt_after < (answer_before - answer_after) / 2

    # A checkpoint cut off while being written (a newer directory, truncated weights, a position far
    # ahead) is never resumed from: Ray Train resumes only checkpoints it registered.
    half = Path(storage_path(cfg)) / "train-search-lora-ddp" / "checkpoint_2099-01-01_00-00-00.000000"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes((adapter / "adapter_model.safetensors").read_bytes()[:100])
    (half / POSITION_FILE).write_text(json.dumps({"epoch": 99, "step": 9999}))

    # Same run name, one more epoch: picks up the latest checkpoint instead of starting over.
    more = tiny_config(cfg.output_dir(), **{"train.epochs": 4, "train.lr": 0.03})
    resumed = _fit(more, tiny_model_dir, ray_local)
    with resumed.checkpoint.as_directory() as d:
        history2 = [json.loads(line) for line in open(f"{d}/{LOG_FILE}")]
    assert history2[: len(history)] == history  # the first three epochs were not redone
    assert [h["epoch"] for h in history2[len(history) :]] == [3] * (len(history2) - len(history)) and len(
        history2
    ) > len(history)


def test_a_ray_without_the_dashboard_fits_without_the_placement_group_cleaner(tiny_curated, tiny_model_dir, ray_local):
    """The cleaner asks the dashboard's state API whether the controller lives; without the
    dashboard it can free nothing, and each fit waited 15 s for it to stop."""
    from skutune.runtime.cluster import has_dashboard

    cfg, _ = tiny_curated
    callbacks = {
        type(c).__name__ for c in build_trainer(cfg, tiny_model_dir, training_dataset(cfg))._create_default_callbacks()
    }
    assert not has_dashboard()  # the test session's Ray, started as jobs start a local one
    assert "BackendSetupCallback" in callbacks and "PlacementGroupCleanerCallback" not in callbacks, callbacks


def test_task_adapter_slices_select_only_their_rows(tiny_curated, ray_local):
    cfg, _ = tiny_curated
    everything = training_dataset(cfg).take_all()

    def sliced(**slice_):
        return training_dataset(tiny_config(cfg.output_dir(), **{"train.slice": slice_})).take_all()

    typo = sliced(kinds=["typo"])
    assert typo and {r["kind"] for r in typo} == {"typo"} and len(typo) == sum(r["kind"] == "typo" for r in everything)
    assert sum(len(sliced(regions=[r])) for r in ("IN", "EU", "US")) == len(everything)
    seasonal = [r for r in everything if r["kind"] == "seasonal"]
    for campaign in {r["campaign"] for r in seasonal}:
        rows = sliced(kinds=["seasonal"], campaigns=[campaign])
        assert {r["campaign"] for r in rows} == {campaign} and len(rows) == sum(
            r["campaign"] == campaign for r in seasonal
        )


def test_live_tracking_keeps_the_curve_of_a_killed_job(tiny_curated, ray_local, tmp_path):
    """`skutune train` logs each step from rank 0 as it ends: a job whose worker is killed
    mid-run (no restarts allowed) fails, and MLflow and TensorBoard still hold its curve. It
    trains with train.speed auto, resolved on the run's data before the workers start."""
    import signal
    import threading
    import time

    import psutil
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from skutune.pipeline import train
    from skutune.runtime.tracking import mlflow_client

    base, _ = tiny_curated
    uri = (tmp_path / "mlruns").as_uri()
    cfg = tiny_config(
        base.output_dir(),
        **{
            "train.epochs": 20,  # far more steps than it gets to run
            "train.batch_size": 24,  # 80 steps planned: speed auto packs, and leaves them uncompiled
            "train.speed": "auto",
            "train.max_failures": 0,
            "train.storage": str(tmp_path / "ray"),  # its own checkpoints: other tests resume theirs
            "tracking.mlflow_uri": uri,
            "tracking.experiment": "live",
        },
    )
    failed = []
    job = threading.Thread(target=lambda: failed.append(_raises(train, cfg)))
    job.start()
    client = mlflow_client(uri)

    def logged() -> list:
        exp = client.get_experiment_by_name("live")
        runs = client.search_runs([exp.experiment_id]) if exp else []
        return client.get_metric_history(runs[0].info.run_id, "train/loss") if runs else []

    deadline = time.time() + 300
    while len(logged()) < 3 and job.is_alive() and time.time() < deadline:
        time.sleep(0.5)
    # this test's Ray runs below this process: the cluster tests' workers, beside it, are not ours to kill
    mine = psutil.Process().children(recursive=True)
    workers = [p for p in mine if "RayTrainWorker" in " ".join(p.cmdline())]
    assert workers and len(logged()) >= 3
    os.kill(workers[0].pid, signal.SIGKILL)
    job.join(timeout=300)
    assert failed == [True]

    run = client.search_runs([client.get_experiment_by_name("live").experiment_id])[0]
    steps = [m.step for m in logged()]
    assert run.info.status == "FAILED" and steps == list(range(1, len(steps) + 1)) and len(steps) >= 3
    params = run.data.params  # what train.speed auto chose is what trained
    assert (params["train.speed"], params["train.packing"], params["train.compile"]) == ("as_set", "True", "False")
    events = EventAccumulator(str(cfg.output_dir() / "tensorboard" / "train-search"))
    events.Reload()
    assert {e.step for e in events.Scalars("train/loss")} >= set(steps)


def _raises(fn, *args) -> bool:
    try:
        fn(*args)
    except Exception:  # the killed worker: Ray Train gives up, max_failures 0
        return True
    return False
