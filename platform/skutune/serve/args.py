"""The Serve app's arguments (`args` of build_app and serve/config.yaml) and request bodies.

Kept apart from the app so the Gateway reads the same defaults without importing the replica."""

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _field(default, description: str, **kw):
    return Field(default, description=description, **kw)


# where each of the app's paths lies in a run directory
IN_RUN = {
    "adapters_dir": "adapters",
    "catalog": "data/catalog.jsonl",
    "index": "index",
    "store": "store.yaml",
    "parse_cache": "parse_cache",
}
REMOTE = ("run_dir", "index", "adapters_dir", "parse_cache")  # may be pyarrow URIs (runtime/storage.py)
REMOTE_FILES = ("catalog", "store")  # may be URIs too: fetched when a replica starts, not followed
BATCH_WAIT_S = 0.02  # where batches decode together (a GPU): a pass waits this long for company


class AppArgs(BaseModel):
    """`args` of build_app / serve/config.yaml. A run directory (`skutune train`'s output) gives
    the catalog, index, adapters and store profile; each can be set on its own instead.
    Relative paths are taken from the working dir. The run directory, index, registry and parse
    cache may be in object storage (s3://, gs://, ...): a replica downloads them when it starts
    and then follows them (`remote_poll_s`). The catalog and store profile may be too: a replica
    fetches them when it starts (a new catalog comes with a new index and a redeploy)."""

    model_config = ConfigDict(extra="forbid")
    run_dir: str | None = _field(None, "a run directory: its data/catalog.jsonl, index/, adapters/ and store.yaml")
    model: str = _field("embedded", '"embedded" or a local HF model directory')
    served_model_name: str = _field(
        "smollm2-135m", 'OpenAI `model` (before ":adapter")', pattern=r"^[A-Za-z0-9_.-]{1,64}$"
    )
    adapters_dir: str | None = _field(None, "the registry root (registry.py); default <run_dir>/adapters")
    catalog: str | None = _field(None, "catalog JSONL (a path or URI); default <run_dir>/data/catalog.jsonl")
    index: str | None = _field(None, "grounded mode's catalog index (skutune index); default <run_dir>/index")
    store: str | None = _field(
        None, "the store profile YAML (regions, currencies, prompts; a path or URI); default <run_dir>/store.yaml"
    )
    parse_cache: str | None = _field(
        None, "head queries answered ahead of time (skutune parse-cache); default <run_dir>/parse_cache"
    )
    draft_answers: list[str] | None = _field(
        None,
        "chat JSONL files whose assistant turns seed the drafts of a request decoded alone "
        "(speculative.py; the first 5,000 rows); default the run's data/messages/train_*.jsonl, [] for none",
        max_length=16,
    )
    default_adapter: str = _field("search", "requests without an adapter, outside any campaign")
    understand_adapter: str = _field("understand", "grounded mode's default adapter")
    max_loaded_adapters: int = _field(8, "adapters loaded per replica (LRU)", ge=1)
    max_loaded_gib: float = _field(
        4.0, "memory adapters may hold per replica beyond the base (LRU); a non-LoRA artefact is a model copy", gt=0
    )
    constrained: bool = _field(
        True, "hold answers to the task's schema and the region's SKUs unless a request says otherwise"
    )
    threads: int | None = _field(None, "torch threads per replica; default: the replica's num_cpus", ge=1)
    max_new_tokens: int = _field(64, "answer budget in tokens", ge=1, le=512)
    parse_max_new_tokens: int = _field(128, "grounded parse budget in tokens", ge=1, le=512)
    max_tokens_limit: int = _field(256, "a request asking for more tokens gets 422", ge=1)
    # well inside SmolLM2's 8,192-token context: a batch pads every row to its longest prompt
    max_prompt_tokens: int = _field(2048, "a chat prompt longer than this, in tokens, gets 413", ge=64)
    max_body_bytes: int = _field(65536, "larger bodies get 413", ge=1024)
    request_timeout_s: float = _field(120, "generation past this gets 504", gt=0)
    max_streams: int = _field(4, "streaming answers open at once per replica; more get 503", ge=1, le=256)
    max_batch_size: int = _field(8, "@serve.batch: requests gathered into one forward pass", ge=1)
    one_by_one: int | None = _field(
        None,
        "a gathered batch of up to this many requests on one model decodes them a request at a time on the "
        "speculative path (speculative.py); a larger one decodes as one batched generate. None: 8 on a CPU, where "
        "one by one served 16 clients 2.9x faster (README), and 1 on a GPU, where a batched step costs about one row's",
        ge=1,
        le=256,
    )
    merged_adapters: int = _field(
        2,
        "the first LoRA adapters decoded alone that get a merged copy of the base (its size each: 270 MB for "
        "SmolLM2-135M in bf16), kept until the adapter unloads: a lone request decodes about 2x faster on CPU; "
        "others take peft's per-row path; 0: none",
        ge=0,
        le=8,
    )
    batch_wait_timeout_s: float | None = _field(
        None,
        "@serve.batch: how long a pass waits to fill. None: 0 where a gathered batch decodes one by one (a CPU: "
        "waiting would only delay the first request, 20 ms of a lone miss), else 0.02 s",
        ge=0,
    )
    auth_token_env: str = _field(
        "SKUTUNE_API_TOKEN", "the environment variable holding the bearer token (read in the replica)"
    )
    auth_token_file: str | None = _field(None, "or a file holding it (wins over the variable)")
    admin_token_env: str = _field(
        "SKUTUNE_ADMIN_TOKEN",
        "the environment variable holding the admin token: POST and DELETE /v1/adapters need it, "
        "and are refused while none is set",
    )
    admin_token_file: str | None = _field(None, "or a file holding it (wins over the variable)")
    register_sources: list[str] = _field(
        ["runs"],
        "where POST /v1/adapters may copy from: local directories (relative ones from the working dir) "
        "and s3:// or gs:// prefixes; anything else is refused",
        max_length=64,
    )
    register_endpoint: str | None = _field(
        None, "host:port of an S3-compatible store for s3:// sources; never taken from a request"
    )
    register_max_files: int = _field(64, "files one registration may copy", ge=1, le=10_000)
    register_max_bytes: int = _field(2 << 30, "bytes one registration may copy", ge=1)
    register_timeout_s: float = _field(60, "a registration past this gets 504; remote reads time out too", gt=0)
    remote_poll_s: float = _field(
        30,
        "with the index, parse cache or registry in object storage: how often a replica looks there for "
        "a new index or parse-cache version and new or changed adapters",
        gt=0,
    )
    retry_after_s: int = _field(
        2, "Retry-After of a 503: a request whose replica is lost (gateway.py), or one stream too many", ge=1
    )

    @model_validator(mode="after")
    def _paths_known(self):
        missing = [
            k for k in ("adapters_dir", "catalog", "index", "store") if getattr(self, k) is None and not self.run_dir
        ]
        if missing:
            raise ValueError(f"set run_dir, or each of {missing}")
        return self

    @field_validator(*REMOTE, *REMOTE_FILES)
    @classmethod
    def _uri_without_secrets(cls, v):
        from skutune.runtime.storage import uri_checked

        return uri_checked(v)

    def path(self, key: str) -> Path:
        """`key`'s path: as set, else its place in the run directory."""
        value = getattr(self, key)
        return Path(value) if value is not None else Path(self.run_dir) / IN_RUN[key]

    def remote(self) -> dict[str, str]:
        """The index's, parse cache's and registry's URIs where they are in object storage (set as
        URIs, or in a run_dir that is): what a replica follows."""
        from skutune.runtime.storage import is_uri

        out = {}
        for key in REMOTE[1:]:
            value = getattr(self, key)
            if value is not None and is_uri(value):
                out[key] = value
            elif value is None and self.run_dir and is_uri(self.run_dir):
                out[key] = f"{self.run_dir}/{IN_RUN[key]}"
        return out

    def localised(self) -> "AppArgs":
        """These args with each directory in object storage brought into its mirror on this
        machine (the run directory first: it may hold the others; only files the mirror lacks or
        holds older) and named by that mirror."""
        from skutune.runtime.paths import mirror_of
        from skutune.runtime.storage import download, get, is_uri

        local = {}
        for key in REMOTE + REMOTE_FILES:
            uri = getattr(self, key)
            if uri and is_uri(uri):
                if key in REMOTE:
                    download(uri, mirror_of(uri), changed_only=True)
                else:
                    get(uri, mirror_of(uri))
                local[key] = str(mirror_of(uri))
        return self.model_copy(update=local)

    def parse_cache_dir(self) -> Path | None:
        """The parse cache's root: `parse_cache`, else <run_dir>/parse_cache; None without either."""
        return self.path("parse_cache") if self.parse_cache or self.run_dir else None

    def answers(self, limit: int = 5_000) -> list[str]:
        """The assistant turns of `draft_answers` (default: the run's curated training chats)."""
        import json

        if self.draft_answers is not None:
            files = [Path(f) for f in self.draft_answers]
        else:
            files = sorted((Path(self.run_dir) / "data" / "messages").glob("train_*.jsonl")) if self.run_dir else []
        answers, rows = [], 0
        for path in files:
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    rows += 1
                    if rows > limit:
                        return answers
                    answers += [m["content"] for m in json.loads(line)["messages"] if m.get("role") == "assistant"]
        return answers

    def store_profile(self):
        """The store profile `store` names (its regions, prompts, currencies)."""
        import yaml

        from skutune.store import StoreProfile

        return StoreProfile.model_validate(yaml.safe_load(self.path("store").read_text()))

    def source_policy(self):
        from skutune.serve.sources import SourcePolicy

        return SourcePolicy(
            tuple(self.register_sources),
            self.register_endpoint,
            self.register_max_files,
            self.register_max_bytes,
            self.register_timeout_s,
        )

    def batch_wait(self, one_by_one: int) -> float:
        """`batch_wait_timeout_s`, or its default for an engine that decodes batches of up to
        `one_by_one` requests one at a time."""
        if self.batch_wait_timeout_s is not None:
            return self.batch_wait_timeout_s
        return 0.0 if one_by_one >= self.max_batch_size else BATCH_WAIT_S

    def default_for(self, grounded: bool) -> str:
        return self.understand_adapter if grounded else self.default_adapter


def run_app_args(cfg, followed: bool = False) -> dict:
    """The app's args for one run served on this machine (`skutune serve`, the demo): one local
    replica, so every core. `followed`: the directories in object storage are named by their URIs,
    for the replica to download and follow, not by this machine's mirrors (what a stage wrote)."""
    from skutune.runtime.model_import import resolve_model_dir
    from skutune.runtime.storage import is_uri

    remote = followed and cfg.remote_dir()

    def where(setting: str | None, local: Path) -> str | None:
        if followed and setting and is_uri(setting):
            return setting
        return None if remote and not setting else str(local)  # None: its place in the run_dir's bucket

    rd = cfg.run_dir()
    return {  # a random-init model (tests, smoke runs) is served as the directory it was written to
        "model": str(resolve_model_dir(cfg.model)) if cfg.model.random_init else cfg.model.path,
        "run_dir": remote or str(rd.root),
        "index": where(cfg.index.dir, rd.index),
        "adapters_dir": where(cfg.serve.adapters_dir, rd.adapters),
        "max_new_tokens": cfg.serve.max_new_tokens,
        "threads": cfg.serve.threads or os.cpu_count(),
    }


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500)
    mode: Literal["closed_book", "grounded"] = "closed_book"
    adapter: str | None = Field(
        None,
        max_length=64,
        description='adapter id ("name" or "name@3"), or "base"; default: the '
        "campaign active for the date and region, else the app's default (grounded: understand)",
    )
    region: str | None = Field(None, max_length=3, description="a region of the store profile; default its first")
    date: dt.date | None = None
    k: int = Field(5, ge=1, le=20, description="grounded: results to return")
    rerank: bool = Field(False, description="grounded: let the model reorder the top k candidates")
    constrained: bool | None = Field(
        None, description="closed_book: decode only schema-valid JSON naming the region's SKUs"
    )


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=48)
    source: str = Field(min_length=1, max_length=1024, description="a local absolute directory or a pyarrow URI")
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    regions: list[str] = Field(default_factory=list, max_length=64, description="regions of the store profile")
