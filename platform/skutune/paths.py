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


# How a JSONL line whose bytes are not UTF-8 reaches validation (curate.JsonLines): this prefix,
# the offset of the first bad byte, then the line with its bad bytes escaped. It is quarantined.
NOT_UTF8 = "\x00not UTF-8\x00"


def json_row(raw: str):
    """One JSONL line parsed, or a ValueError that says why not (bad encoding, bad JSON)."""
    if raw.startswith(NOT_UTF8):
        raise ValueError(f"not valid UTF-8 (byte {raw[len(NOT_UTF8):].split(':', 1)[0]})")
    return json.loads(raw)


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
