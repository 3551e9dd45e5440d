"""Train: the config's method (LoRA by default) and strategy on the curated Parquet with Ray Train's TorchTrainer.

    python jobs/train.py --config jobs/configs/demo.yaml
    ray job submit --working-dir . -- python jobs/train.py --config jobs/configs/demo.yaml

Rerunning with the same run name resumes from the run's latest checkpoint; a lost worker or node
restarts the run from it too (train.max_failures). Params, per-step metrics, the loss curve
(runs/<name>/loss_curve_<task>.png) and the adapter's metadata go to MLflow and TensorBoard (tracking.py).
"""

from skutune.cli import run_stage

run_stage("train", __doc__)  # skutune.pipeline.train, as `skutune train` runs it
