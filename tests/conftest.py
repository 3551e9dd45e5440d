"""Shared fixtures: a local Ray cluster, the tiny config, and its curated data."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "jobs" / "configs"
os.environ.setdefault("SKUTUNE_NO_BARS", "1")


@pytest.fixture(scope="session")
def ray_local():
    import ray

    from skutune.cluster import init_ray

    init_ray(cpus_needed=2)
    yield ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


def tiny_config(out_dir: Path, **overrides):
    from skutune.config import load_config

    return load_config(CONFIGS / "tiny.yaml", {"run.output_dir": str(out_dir), **overrides})


@pytest.fixture(scope="session")
def tiny_model_dir():
    from skutune.config import load_config
    from skutune.model_import import resolve_model_dir

    return resolve_model_dir(load_config(CONFIGS / "tiny.yaml").model)


@pytest.fixture(scope="session")
def tiny_curated(tmp_path_factory, ray_local, tiny_model_dir):
    """The tiny config curated once into a temp run dir: (config, manifest)."""
    from skutune.curate import run_curate

    cfg = tiny_config(tmp_path_factory.mktemp("tiny-run"))
    return cfg, run_curate(cfg, tiny_model_dir)


def python_exe() -> str:
    return sys.executable
