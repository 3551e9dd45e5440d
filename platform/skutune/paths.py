"""Where skutune keeps generated things. Everything here is git-ignored."""

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """Model cache; override with SKUTUNE_CACHE (for example a shared disk on a cluster)."""
    return Path(os.environ.get("SKUTUNE_CACHE", REPO_ROOT / ".cache" / "skutune")).resolve()


def runs_dir() -> Path:
    """Run outputs (datasets, checkpoints, adapters, reports); override with SKUTUNE_RUNS."""
    return Path(os.environ.get("SKUTUNE_RUNS", REPO_ROOT / "runs")).resolve()


def load_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_jsonl(path, rows) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        n = 0
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n
