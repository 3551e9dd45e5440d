"""Experiment tracking for every job: MLflow (a file store under the run folder by default, any
tracking URI by config: `tracking.mlflow_uri`), TensorBoard event files, and a loss-curve PNG.

    with Tracker(cfg, "train-search") as track:
        trainer = build_trainer(cfg, model_dir, ds, live=track.live())  # rank 0 logs each step live
        track.metrics({"hit@1": 0.8})         # one-off values
        track.artifact(run_dir / "eval.md")

    mlflow ui --backend-store-uri runs/demo/mlruns     tensorboard --logdir runs/demo/tensorboard

Curate and eval log from the driver after the work. Training logs each step from rank 0 as it
ends (StepLogger), so a job that dies keeps its curve; steps redone after a lost worker are
logged again at the same step numbers, as they ran.
"""

import math
import os
import queue
import re
import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skutune.config import JobConfig  # noqa: E402

# MLflow 3 refuses its file store unless told: it is the default that needs no server or database.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
STEP_KEYS = ("loss", "val_loss", "lr", "tokens", "grad_norm", "seconds")
MAX_PARAM_CHARS = 500


def tracking_uri(cfg: JobConfig) -> str:
    return cfg.tracking.mlflow_uri or (cfg.output_dir() / "mlruns").as_uri()


def mlflow_client(uri: str):
    """An MlflowClient for a tracking URI (the file store is allowed: see MLFLOW_ALLOW_FILE_STORE above)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def flat_params(data: dict, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: dotted keys, values as short strings."""
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = str(value)[:MAX_PARAM_CHARS]
    return out


def _numbers(values: dict, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested dict, keyed by their path ("examples/removed/filter: toxic"),
    with the characters MLflow refuses in a metric name replaced."""
    out = {}
    for key, value in values.items():
        name = re.sub(r"[^\w\-. :/]", "_", f"{prefix}{key}")
        if isinstance(value, dict):
            out.update(_numbers(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


class Tracker:
    """One MLflow run (named <run>-<job>) and one TensorBoard writer per job."""

    def __init__(self, cfg: JobConfig, job: str):
        import mlflow

        self.cfg, self.job = cfg, job
        cfg.output_dir().mkdir(parents=True, exist_ok=True)
        self.client = mlflow_client(tracking_uri(cfg))
        experiment = cfg.tracking.experiment or cfg.run.name
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(
            experiment_id, run_name=f"{cfg.run.name}-{job}", tags={"skutune.job": job, "skutune.run": cfg.run.name}
        ).info.run_id
        params = flat_params(cfg.model_dump(mode="json"))
        items = [mlflow.entities.Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i : i + 100])
        self.tb = None
        if cfg.tracking.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(cfg.output_dir() / "tensorboard" / job))

    def metrics(self, values: dict, step: int = 0, prefix: str = "") -> None:
        import mlflow

        numbers = {f"{prefix}{k}": v for k, v in _numbers(values).items()}
        self._log([mlflow.entities.Metric(k, v, 0, step) for k, v in numbers.items()])
        if self.tb:
            for key, value in numbers.items():
                self.tb.add_scalar(key, value, step)

    def _log(self, metrics: list) -> None:
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def artifact(self, path: Path) -> None:
        if Path(path).exists():
            self.client.log_artifact(self.run_id, str(path))

    def live(self) -> dict:
        """What a training worker needs to log this run's curve as it trains (StepLogger)."""
        return {"job": self.job, "run_id": self.run_id}

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb) -> None:
        if self.tb:
            self.tb.close()
        self.client.set_terminated(self.run_id, "FAILED" if err else "FINISHED")
        print(
            f"tracking: MLflow run {self.run_id} at {tracking_uri(self.cfg)}"
            + (f"; TensorBoard events in {self.cfg.output_dir() / 'tensorboard' / self.job}" if self.tb else ""),
            flush=True,
        )


def loss_curve(history: list[dict], path: Path, title: str = "") -> Path:
    """Training loss per optimizer step with its running mean, validation loss where measured;
    epoch starts dashed, restarts from a checkpoint (a lost worker or node) dotted red."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    steps, losses = [h["step"] for h in history], [h["loss"] for h in history]
    ax.plot(steps, losses, color="#9ab", linewidth=1, label="loss per step")
    window = max(1, len(losses) // 20)
    if window > 1:  # a running mean once there are enough steps for one to say something
        ax.plot(
            steps[window - 1 :],
            [sum(losses[i - window + 1 : i + 1]) / window for i in range(window - 1, len(losses))],
            color="#135",
            linewidth=2,
            label=f"mean of {window}",
        )
    validated = [(h["step"], h["val_loss"]) for h in history if "val_loss" in h]
    if validated:
        ax.plot(*zip(*validated), "o-", color="#d62", linewidth=1.5, label="validation loss")
    for prev, row in zip(history, history[1:]):
        if row["epoch"] != prev["epoch"]:
            ax.axvline(row["step"] - 0.5, color="#888", linestyle="--", linewidth=0.8)
    for step in sorted({h["resumed_at"] for h in history if h.get("resumed_at")}):
        ax.axvline(step + 0.5, color="#c33", linestyle=":", linewidth=1.5, label=f"resumed after step {step}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (per target token)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class StepLogger:
    """Rank 0's training curve, live: each optimizer step's loss, validation loss, lr, grad norm,
    tokens and seconds go to the job's MLflow run (`train/<key>`) and TensorBoard as the step ends,
    so a job that dies keeps the curve up to its last steps. On a cluster, point
    `tracking.mlflow_uri` at a server: a file store is local to whichever node rank 0 runs on.

    The training step only queues its entry: a thread sends what has queued in one MLflow batch
    and one TensorBoard flush, so a slow tracking server never holds a step. `close()` sends the
    rest when the loop ends."""

    def __init__(self, cfg: JobConfig, job: str, run_id: str):
        self.client, self.run_id, self.tb = mlflow_client(tracking_uri(cfg)), run_id, None
        if cfg.tracking.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(cfg.output_dir() / "tensorboard" / job))
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._send_until_closed, name="skutune-step-logger", daemon=True)
        self.thread.start()

    def __call__(self, entry: dict) -> None:
        self.queue.put(entry)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=120)

    def _send_until_closed(self) -> None:
        import mlflow

        while True:
            entries = [self.queue.get()]
            while not self.queue.empty():
                entries.append(self.queue.get_nowait())
            metrics = [
                mlflow.entities.Metric(k, v, 0, e["step"])
                for e in entries
                if e is not None
                for k, v in _numbers({f"train/{k}": e[k] for k in STEP_KEYS if k in e}).items()
            ]
            # TensorBoard's local file first: a step MLflow shows is then on disk too, even if the
            # worker dies right after, and a tracking server that is down cannot cost the local curve
            for send in (self._to_tensorboard, self._to_mlflow):
                try:
                    send(metrics)
                except Exception as err:  # training goes on without this curve
                    print(f"live tracking: {len(metrics)} values not logged by {send.__name__}: {err}", flush=True)
            if entries[-1] is None:
                return

    def _to_tensorboard(self, metrics: list) -> None:
        if self.tb:
            for m in metrics:
                self.tb.add_scalar(m.key, m.value, m.step)
            self.tb.flush()

    def _to_mlflow(self, metrics: list) -> None:
        for i in range(0, len(metrics), 1000):  # MLflow's limit per batch
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])
