"""The live curve's sender (tracking.StepLogger): a training step only queues its entry; a thread
sends them in order to MLflow and TensorBoard, and close() sends what is still queued."""

import threading

from helpers import tiny_config
from skutune.runtime.tracking import StepLogger, Tracker, mlflow_client, tracking_uri


def test_steps_are_queued_by_the_step_and_all_sent_by_close(tmp_path):
    cfg = tiny_config(tmp_path, **{"tracking.tensorboard": False})
    with Tracker(cfg, "train-search") as track:
        logger = StepLogger(cfg, **track.live())
        gate = threading.Event()
        send = logger.client.log_batch
        logger.client.log_batch = lambda *a, **k: (gate.wait(60), send(*a, **k))  # a slow tracking server
        for step in range(1, 51):
            logger({"step": step, "epoch": 0, "loss": 10.0 - step / 10, "lr": 1e-3, "tokens": 100})
        assert logger.thread.is_alive()  # 50 steps queued while the first send still waits: none blocked
        gate.set()
        logger.close()
        history = mlflow_client(tracking_uri(cfg)).get_metric_history(track.live()["run_id"], "train/loss")
    assert [m.step for m in history] == list(range(1, 51)) and not logger.thread.is_alive()


def test_tensorboard_keeps_the_curve_when_mlflow_refuses_it(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config(tmp_path)
    with Tracker(cfg, "train-search") as track:
        logger = StepLogger(cfg, track.live()["job"], run_id="no-such-run")  # MLflow refuses every batch
        for step in range(1, 6):
            logger({"step": step, "epoch": 0, "loss": 10.0 - step, "lr": 1e-3, "tokens": 100})
        logger.close()
    events = EventAccumulator(str(cfg.output_dir() / "tensorboard" / "train-search"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4, 5]
    assert "not logged by _to_mlflow" in capsys.readouterr().out
