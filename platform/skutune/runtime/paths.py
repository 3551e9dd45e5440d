"""Where skutune keeps generated things. Everything here is git-ignored."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from skutune.runtime.storage import check_uri, read_text

REPO_ROOT = Path(__file__).resolve().parents[3]


def cache_dir() -> Path:
    """Model cache; override with SKUTUNE_CACHE (for example a shared disk on a cluster)."""
    return Path(os.environ.get("SKUTUNE_CACHE", REPO_ROOT / ".cache" / "skutune")).resolve()


def runs_dir() -> Path:
    """Run outputs (datasets, checkpoints, adapters, reports); override with SKUTUNE_RUNS."""
    return Path(os.environ.get("SKUTUNE_RUNS", REPO_ROOT / "runs")).resolve()


def mirror_of(uri: str) -> Path:
    """Where a run in object storage is worked on, on this machine: runs/remote/<scheme>/<bucket>/<path>."""
    parts = urlsplit(check_uri(uri))
    return runs_dir() / "remote" / parts.scheme / parts.netloc / parts.path.strip("/")


# How a row the reader could not make text of (a byte that is not UTF-8, an over-long line, a CSV
# row of the wrong width) reaches validation (data/readers.py): this prefix, the reason, then the
# row as far as it could be read. Validation quarantines it with that reason.
BAD_ROW = "\x00bad row\x00"


# what one bad row may raise in validation: each is quarantined, never fails the job (a value
# nested past Python's recursion limit raises RecursionError in json, pydantic or a reader)
ROW_ERRORS = (ValueError, TypeError, RecursionError)


def bad_row(reason: str, text: str) -> str:
    return f"{BAD_ROW}{reason}\x00{text[:4096]}"


def json_row(raw: str):
    """One row parsed, or a ValueError that says why not (marked bad by the reader, bad JSON,
    nested past Python's recursion limit)."""
    if raw.startswith(BAD_ROW):
        raise ValueError(raw[len(BAD_ROW) :].split("\x00", 1)[0])
    try:
        return json.loads(raw)
    except RecursionError as err:
        raise ValueError("JSON nested too deeply") from err


@dataclass(frozen=True)
class RunDir:
    """The layout of one run's directory: every stage reads and writes its files through here."""

    root: Path
    index_override: Path | None = None  # index.dir, when the index lives elsewhere
    adapters_override: Path | None = None  # serve.adapters_dir, when the registry does

    @property
    def data(self) -> Path:
        return self.root / "data"  # curated data (curate)

    @property
    def catalog(self) -> Path:
        return self.data / "catalog.jsonl"

    @property
    def test(self) -> Path:
        return self.data / "test.jsonl"

    @property
    def manifest(self) -> Path:
        return self.data / "manifest.json"

    @property
    def quarantine(self) -> Path:
        return self.data / "quarantine.jsonl"

    def train(self, target: str) -> Path:
        return self.data / "train" / target  # tokenized Parquet per training target

    def messages(self, split: str, target: str) -> Path:
        return self.data / "messages" / f"{split}_{target}.jsonl"  # chat JSONL for other trainers

    @property
    def raw(self) -> Path:
        return self.root / "raw"  # generated or cold-start inputs, read like a user's files

    @property
    def work(self) -> Path:
        return self.root / "curate"  # curate's stage checkpoints, removed at the end

    @property
    def index(self) -> Path:
        return self.index_override or self.root / "index"

    @property
    def adapters(self) -> Path:
        return self.adapters_override or self.root / "adapters"

    def adapter(self, name: str) -> Path:
        return self.adapters / name

    def export(self, name: str) -> Path:
        return self.root / "export" / name  # skutune export: merged/ and adapter/

    @property
    def ray(self) -> Path:
        return self.root / "ray"  # Ray Train's storage by default

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"  # the resolved config of the latest job

    @property
    def store(self) -> Path:
        return self.root / "store.yaml"  # the store profile, read by the Serve app

    def report(self, name: str) -> Path:
        return self.root / name  # curation.md, eval.md, summary.json, ...


def load_jsonl(path) -> list[dict]:
    """A JSONL file's rows; `path` may be a URI (what Ray tasks of a run in object storage read)."""
    return [json.loads(line) for line in read_text(path).splitlines() if line.strip()]


def write_jsonl(path, rows) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        n = 0
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n
