"""Typed job configuration: one pydantic model per concern, validated at load.

Unknown or mistyped keys are errors that name the key and the file, raised before Ray
starts, so a typo never silently falls back to a default.
"""

from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from skutune.runtime.paths import RunDir, runs_dir
from skutune.store import StoreProfile, load_store_data


class ConfigError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class RunConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    output_dir: str | None = None  # default: runs/<name>


class RandomInit(_Strict):
    """A small randomly initialised model of the base's architecture (tests, smoke runs)."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    # Wider than the usual 0.02: with tied embeddings of a 64-wide model, 0.02 caps the
    # logits near zero and the loss can barely move, which hides whether training works.
    initializer_range: float = 0.02


class ModelConfig(_Strict):
    path: str = "embedded"  # "embedded" (SmolLM2-135M-Instruct from its wheel) or a local HF model directory
    random_init: RandomInit | None = None


class DataConfig(_Strict):
    # files: your catalog (and examples); generated: a plugin module's `write_raw(cfg, raw_dir)` writes them
    source: Literal["files", "generated"] = "files"
    generator: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*$"
    )  # source=generated: the plugin module, e.g. a demo's
    catalog_path: str | None = None  # JSONL, CSV or Parquet
    examples_path: str | None = None
    catalog_columns: dict[str, str] = {}  # your column name -> skutune column name
    example_columns: dict[str, str] = {}
    train_per_kind: int = Field(120, ge=1)
    test_per_kind: int = Field(10, ge=1)
    max_length: int = Field(256, ge=16)
    seed: int = 13

    @model_validator(mode="after")
    def _source_complete(self):
        if self.source == "files" and not self.catalog_path:
            raise ValueError("source 'files' needs catalog_path (or source: generated with a generator module)")
        if self.source == "generated" and not self.generator:
            raise ValueError(
                "source 'generated' needs generator: the module whose write_raw(cfg, raw_dir) writes the data"
            )
        return self


LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class FullMethod(_Strict):
    """Every weight trains; shard it with train.strategy fsdp2, zero2 or zero3."""

    name: Literal["full"]


class LoraMethod(_Strict):
    """LoRA; DoRA adds a trained magnitude per output; QLoRA puts the frozen base in 4-bit NF4."""

    name: Literal["lora", "dora", "qlora"] = "lora"
    r: int = Field(16, ge=1)
    alpha: int = 32
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = LINEAR
    compute_dtype: Literal["bfloat16", "float32"] = "bfloat16"  # qlora: dtype the 4-bit weights are computed in


class IA3Method(_Strict):
    """Learned rescaling vectors on keys, values and the MLP's input to down_proj."""

    name: Literal["ia3"]
    target_modules: list[str] = ["k_proj", "v_proj", "down_proj"]
    feedforward_modules: list[str] = ["down_proj"]


class PromptLearningMethod(_Strict):
    """prefix: trained key/value vectors in every layer; prompt: trained input embeddings."""

    name: Literal["prefix", "prompt"]
    num_virtual_tokens: int = Field(16, ge=1)
    # prompt: start the soft prompt as this text's embeddings; prefix: as the keys and values the
    # base computes for it in every layer (recommended: random prefixes swamp a small model)
    init_text: str | None = None


class BottleneckMethod(_Strict):
    name: Literal["bottleneck"]
    size: int = Field(32, ge=1)  # the bottleneck width
    placement: Literal["houlsby", "pfeiffer"] = "houlsby"  # after attention and MLP, or after the MLP only


class BitFitMethod(_Strict):
    name: Literal["bitfit"]
    modules: list[str] = LINEAR  # linear layers that get a (zero-initialised) trainable bias


class HybridMethod(_Strict):
    name: Literal["hybrid"]
    r: int = Field(16, ge=1)
    alpha: int = 32
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = LINEAR
    num_virtual_tokens: int = Field(16, ge=1)
    init_text: str | None = None  # the prefix starts as this text's keys and values (see PromptLearningMethod)
    train: Literal["both", "lora", "prefix"] = "both"  # which part trains; the other stays frozen


MethodConfig = Annotated[
    Union[FullMethod, LoraMethod, IA3Method, PromptLearningMethod, BottleneckMethod, BitFitMethod, HybridMethod],
    Field(discriminator="name"),
]
METHOD_CONFIG = TypeAdapter(MethodConfig)
SHARDED = ("fsdp2", "zero2", "zero3")
PROMPT_LEARNING = ("prefix", "prompt", "hybrid")  # methods whose virtual tokens are per row


class SliceConfig(_Strict):
    """The part of the data a task adapter is for; an empty list selects everything."""

    kinds: list[str] = []  # query kinds of the store profile, e.g. [typo]
    regions: list[str] = []  # regions of the store profile
    campaigns: list[str] = []  # campaign ids of the store profile, e.g. [diwali]

    def unknown(self, store: StoreProfile) -> list[str]:
        """'key: value' for every value the store profile does not have."""
        known = {
            "kinds": store.query_kinds,
            "regions": list(store.regions),
            "campaigns": [c.id for c in store.campaigns],
        }
        return [
            f"{key}: unknown {key[:-1]} {v!r}; the store has {known[key]}"
            for key in known
            for v in getattr(self, key)
            if v not in known[key]
        ]

    def selects(self, row: dict) -> bool:
        return (
            (not self.kinds or row["kind"] in self.kinds)
            and (not self.regions or row["region"] in self.regions)
            and (
                not self.campaigns
                or (row.get("campaign") or row.get("constraints", {}).get("campaign")) in self.campaigns
            )
        )


class TrainConfig(_Strict):
    num_workers: int = Field(1, ge=1)
    use_gpu: bool | Literal["auto"] = "auto"
    # ddp: replicate the model; fsdp2 / zero2 / zero3: shard a full fine-tune across workers
    strategy: Literal["ddp", "fsdp2", "zero2", "zero3"] = "ddp"
    cpus_per_worker: float = Field(1, gt=0)
    # how workers are laid out over nodes: PACK keeps them together (NVLink, one node's network);
    # SPREAD / STRICT_SPREAD put them on different nodes, so one lost node takes fewer of them
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"
    threads_per_worker: int | None = None  # torch threads on CPU; default: machine cores / workers
    epochs: int = Field(1, ge=1)
    max_steps: int | None = None  # stop early (optimizer steps per run, across epochs)
    batch_size: int = Field(16, ge=1)  # rows per micro-batch per worker: examples, or packed rows with packing
    grad_accum: int = Field(1, ge=1)  # micro-batches per optimizer step; the loss is normalised by target tokens
    # padding-free packing: examples best-fit into rows of pack_length tokens; attention stays inside each example
    packing: bool = False
    pack_length: int = Field(1024, ge=16)
    lr: float = Field(2e-3, gt=0)
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    log_every: int = Field(10, ge=1)
    mixed_precision: Literal["bf16", "no"] = (
        "bf16"  # bf16 autocast where the device has it; on CPU it is ~2x faster here
    )
    gradient_checkpointing: bool = False  # recompute layer activations in backward: less memory, more compute
    compile: bool = False  # torch.compile each decoder layer; every batch is padded to one shape (batches.collate_for)
    liger: bool = False  # Liger's fused RMSNorm / SwiGLU / RoPE kernels (CUDA only: pip install '.[gpu]')
    # attention kernel; auto: flash_attention_2 (varlen over packed rows) on CUDA when flash_attn is
    # installed, else sdpa (a block-diagonal mask over packed rows)
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"
    checkpoints_to_keep: int = Field(2, ge=1)
    # a lost worker or node restarts the run from its latest checkpoint, up to this many times (-1: always)
    max_failures: int = Field(3, ge=-1)
    # where Ray Train writes checkpoints: a local path or any pyarrow filesystem URI (s3://, gs://,
    # hdfs://, file://); default <run>/ray. On a multi-node cluster it must be storage every node reaches.
    storage: str | None = None
    task: str = "search"  # the adapter's name in the serve registry
    # what the adapter learns: "answer" = closed-book SKUs; "parse" = query understanding,
    # which grounded search executes against the catalog index
    target: Literal["answer", "parse"] = "answer"
    slice: SliceConfig = SliceConfig()  # train (and evaluate) on this part of the data only


class IndexConfig(_Strict):
    """The catalog index grounded search retrieves from (jobs/index.py)."""

    dir: str | None = None  # default: <run>/index
    catalog: str | None = None  # JSONL of catalog rows; default: the curated <run>/data/catalog.jsonl
    actors: int = Field(1, ge=1)  # MiniLM encoders in the Ray Data actor pool
    ann_min_rows: int = Field(20000, ge=1)  # below this, dense search is exact; from it, faiss IVF
    nprobe: int = Field(32, ge=1)  # IVF lists visited per query: recall against latency


class EvalConfig(_Strict):
    # closed_book: the model answers with SKUs from memory; grounded: the model parses, the index answers
    systems: list[Literal["base", "closed_book", "grounded", "grounded_rerank", "bm25", "dense"]] = [
        "base",
        "closed_book",
        "grounded",
        "bm25",
        "dense",
    ]
    closed_book_adapter: str = "search"  # adapter names under <run>/adapters
    understand_adapter: str = "understand"
    batch_size: int = Field(16, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    parse_max_new_tokens: int = Field(128, ge=1)
    fresh_skus: int = Field(1000, ge=1)  # jobs/fresh_skus.py: SKUs added after training


class ServeConfig(_Strict):
    adapters_dir: str | None = None  # default: <run>/adapters
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int | None = None
    max_new_tokens: int = 64


class NearDedupConfig(_Strict):
    enabled: bool = True
    threshold: float = Field(0.85, gt=0, le=1)  # estimated Jaccard similarity of character shingles of query + answer
    num_perm: int = Field(64, ge=8)  # MinHash permutations
    bands: int = Field(8, ge=1)  # LSH bands: rows sharing one band's hash are compared
    shingle: int = Field(4, ge=1)  # characters per shingle

    @model_validator(mode="after")
    def _bands_divide(self):
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        return self


class SemanticDedupConfig(_Strict):
    enabled: bool = True
    threshold: float = Field(0.95, gt=0, le=1)  # MiniLM cosine similarity of two queries with the same answer
    actors: int = Field(1, ge=1)  # MiniLM encoders in the Ray Data actor pool


class DecontamConfig(_Strict):
    enabled: bool = True
    ngram: int = Field(8, ge=1)  # word n-grams; an eval query shorter than this must appear whole
    eval_paths: list[str] = []  # more eval sets (JSONL with a "query" field) besides the curated test split


class DistillConfig(_Strict):
    """A teacher answers rows that have no target (zero-click log queries); the grader keeps the best."""

    enabled: bool = False
    teacher: str = "embedded"  # "embedded", a local model directory, or an OpenAI-compatible base URL (http://host/v1)
    api_model: str = "teacher"  # the "model" an OpenAI-compatible server is asked for
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding its key (never the key itself)
    candidates: int = Field(4, ge=1)  # N candidates per prompt (rejection sampling)
    temperature: float = Field(0.8, gt=0)
    max_new_tokens: int = Field(48, ge=1)
    max_prompts: int = Field(32, ge=1)  # rows answered; other rows without a target are dropped, counted
    actors: int = Field(1, ge=1)
    batch_size: int = Field(4, ge=1)
    seed: int = 0
    timeout_s: float = Field(60, gt=0)


class CurateConfig(_Strict):
    log_path: str | None = (
        None  # query log: JSONL, CSV or Parquet with query, sku, clicks, impressions, timestamp, region
    )
    log_columns: dict[str, str] = {}  # your column name -> skutune column name
    synthetic_log_rows: int = Field(0, ge=0)  # data.source=bundled: add this many rows of a messy synthetic query log
    min_query_chars: int = Field(2, ge=1)
    max_query_chars: int = Field(200, ge=2)
    languages: list[str] = ["en"]  # scripts kept (filters.language): en, hi, ja, ko, ...
    off_domain: Literal["drop", "policy"] = "drop"  # policy: keep the query as a refusal example
    toxic_words_path: str | None = None  # more words for the toxicity list, one per line
    near_dedup: NearDedupConfig = NearDedupConfig()
    semantic_dedup: SemanticDedupConfig = SemanticDedupConfig()
    decontam: DecontamConfig = DecontamConfig()
    grade_targets: bool = True  # drop training rows whose own target fails the catalog-grounded grader
    distill: DistillConfig = DistillConfig()
    partitions: int = Field(8, ge=1)  # blocks in each hash shuffle (dedup, log aggregation)


class TrackingConfig(_Strict):
    """Where every job logs its params, metrics and artefacts (tracking.py)."""

    mlflow_uri: str | None = None  # any MLflow tracking URI; default: a file store at <run>/mlruns
    experiment: str | None = None  # default: the run's name
    tensorboard: bool = True  # event files under <run>/tensorboard/<job>


class JobConfig(_Strict):
    run: RunConfig
    store: StoreProfile  # a mapping, or a profile YAML's path / shipped name (jobs/configs/stores/), resolved at load
    model: ModelConfig = ModelConfig()
    data: DataConfig  # where the catalog and examples come from: no default, so no store's data is used by accident
    curate: CurateConfig = CurateConfig()
    method: MethodConfig = LoraMethod()
    train: TrainConfig = TrainConfig()
    index: IndexConfig = IndexConfig()
    eval: EvalConfig = EvalConfig()
    serve: ServeConfig = ServeConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="before")
    @classmethod
    def _method_defaults_to_lora(cls, data):
        if isinstance(data, dict) and isinstance(data.get("method"), dict) and "name" not in data["method"]:
            data = {**data, "method": {"name": "lora", **data["method"]}}
        return data

    @model_validator(mode="after")
    def _method_fits_strategy(self):
        if self.train.strategy in SHARDED and self.method.name != "full":
            why = (
                "its 4-bit bitsandbytes weights cannot be flattened into shards"
                if self.method.name == "qlora"
                else "sharding is for full fine-tunes; a PEFT method's trainable state is small and replicated with ddp"
            )
            raise ValueError(f"method '{self.method.name}' cannot train with strategy '{self.train.strategy}': {why}")
        if self.train.packing and self.method.name in PROMPT_LEARNING:
            raise ValueError(
                f"method '{self.method.name}' cannot train with train.packing: its virtual tokens belong to one "
                "example per row; set train.packing: false"
            )
        unknown = self.train.slice.unknown(self.store)
        if unknown:
            raise ValueError(f"train.slice.{unknown[0]}")
        if self.train.packing and self.train.pack_length < self.data.max_length:
            raise ValueError(
                f"train.pack_length ({self.train.pack_length}) must hold the longest example "
                f"(data.max_length {self.data.max_length})"
            )
        return self

    def output_dir(self) -> Path:
        return Path(self.run.output_dir).resolve() if self.run.output_dir else runs_dir() / self.run.name

    def run_dir(self) -> RunDir:
        """Every path of this run (curated data, catalog, index, adapters, reports)."""
        return RunDir(self.output_dir(), Path(self.index.dir).resolve() if self.index.dir else None)

    def index_dir(self) -> Path:
        return self.run_dir().index

    def adapter_dir(self, name: str) -> Path:
        return self.run_dir().adapter(name)


def _describe(err: ValidationError, path) -> str:
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        if loc[:1] == ["method"] and len(loc) > 2:  # drop the union's tag: method.lora.r -> method.r
            del loc[1]
        key = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key '{key}'")
        else:
            lines.append(f"{path}: {key + ': ' if key else ''}{e['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def parse_config(data: dict, path="<dict>", base: Path | None = None) -> JobConfig:
    """`data` validated; a `store` given as a path or name is read first (relative to `base`)."""
    if isinstance(data, dict) and "store" in data:
        try:
            data = {**data, "store": load_store_data(data["store"], base)}
        except (ValueError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: store: {err}") from None
    try:
        return JobConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, path)) from None


def load_config(path, overrides: dict | None = None) -> JobConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a YAML mapping, got {type(data).__name__}")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return parse_config(data, path, path.parent)


class Variant(_Strict):
    """One row of the method comparison: a method and the train settings it differs in."""

    label: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    method: MethodConfig
    train: dict = {}  # keys of the train block (strategy, num_workers, lr, ...), validated when merged


class CompareConfig(_Strict):
    """jobs/compare_methods.py: every variant trains on the job's data with the job's budget."""

    job: dict  # a job config shared by every variant
    variants: list[Variant] = Field(min_length=1)

    def jobs(self, path="<compare>") -> dict[str, JobConfig]:
        """label -> the variant's full job config, each validated (and named in errors)."""
        out = {}
        for v in self.variants:
            data = {
                **self.job,
                "method": v.method.model_dump(),
                "train": {**self.job.get("train", {}), **v.train, "task": v.label},
                "eval": {**self.job.get("eval", {}), "closed_book_adapter": v.label},
            }
            out[v.label] = parse_config(data, f"{path} variant {v.label}", Path(str(path)).parent)
        if len(out) != len(self.variants):
            raise ConfigError(f"{path}: variant labels must be unique")
        return out


def load_yaml_as(model: type[BaseModel], path):
    """A YAML file validated as `model`; errors name the file and the key."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        return model.model_validate(yaml.safe_load(path.read_text()) or {})
    except ValidationError as err:
        raise ConfigError(_describe(err, path)) from None


def load_compare_config(path) -> tuple[CompareConfig, dict[str, JobConfig]]:
    compare = load_yaml_as(CompareConfig, path)
    return compare, compare.jobs(path)
