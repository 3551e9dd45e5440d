"""Where skutune keeps generated things. Everything here is git-ignored."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """Model cache; override with SKUTUNE_CACHE (for example a shared disk on a cluster)."""
    return Path(os.environ.get("SKUTUNE_CACHE", REPO_ROOT / ".cache" / "skutune")).resolve()


def runs_dir() -> Path:
    """Run outputs (datasets, checkpoints, adapters, reports); override with SKUTUNE_RUNS."""
    return Path(os.environ.get("SKUTUNE_RUNS", REPO_ROOT / "runs")).resolve()
