"""Curation on Ray Data, one streaming pass per stage with a Parquet checkpoint after each
shuffle:

    catalog:  read -> typed validation (quarantine) -> one row per SKU
    log:      read -> validate, scrub PII (quarantine) -> aggregate clicks per query -> examples
    examples: read -> validate (quarantine) -> filters -> exact dedup -> near dedup (MinHash LSH)
              -> semantic dedup (MiniLM) -> decontamination -> grade targets -> distillation with
              rejection sampling -> tokenize (labels only on assistant tokens) -> Parquet

Rows travel as JSON strings (`row_json`) until they are typed: scraped catalogs have ragged
nested fields Arrow cannot unify, and a broken line must be quarantined, not crash the read.
Invariant, checked before the manifest is written: rows in = rows out + quarantined + removed.
`report.py` writes runs/<name>/curation.md from what each stage counted.
"""

import contextlib
import functools
import hashlib
import importlib
import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray

from skutune.config import JobConfig
from skutune.data import dedup, report
from skutune.data.coldstart import synth_queries
from skutune.data.filters import with_catalog_words
from skutune.data.querylog import aggregate_groups, validate_log
from skutune.data.readers import read_rows
from skutune.data.records import CatalogRow
from skutune.data.scraped import ground_catalog
from skutune.data.stages import (
    COLUMNS,
    NO_TARGET,
    check,
    eval_grams,
    generic,
    ingest,
    no_target,
    parse_row,
    reason_of,
)
from skutune.data.teacher import Distill, source_and_key
from skutune.prompts import training_messages
from skutune.runtime.paths import ROW_ERRORS, write_jsonl
from skutune.runtime.storage import filesystem, remove
from skutune.store import StoreProfile

log = logging.getLogger(__name__)
TARGETS = ("answer", "parse")  # closed-book answers; query understanding (grounded search)
SAMPLES = 3  # rows shown per removal reason in the report
BATCH = 1024  # rows per map_batches call: bounds each task's memory whatever the file sizes


def checkpoint(ds: ray.data.Dataset, path: Path) -> ray.data.Dataset:
    """Write a stage's output and read it back: later stages stream from disk instead of
    recomputing the lineage, and memory stays bounded whatever the data size."""
    ds.write_parquet(str(path), mode="overwrite")
    return ray.data.read_parquet(str(path))


def where(ds: ray.data.Dataset, **equal) -> ray.data.Dataset:
    """Rows whose columns equal the given values, filtered a batch at a time in Arrow (a
    per-row Python filter holds whole blocks as Python objects)."""

    def keep(t):
        mask = functools.reduce(pc.and_, [pc.equal(t[k], v) for k, v in equal.items()])
        return t.filter(mask)

    return ds.map_batches(keep, batch_format="pyarrow")


def validate_catalog(row, columns, store):
    try:
        rec = CatalogRow.model_validate(parse_row(row["row_json"], columns), context={"store": store})
        return {"key": rec.sku, "row_json": rec.model_dump_json(), "error": ""}
    except ROW_ERRORS as err:
        return {"key": "", "row_json": row["row_json"], "error": reason_of(err)}


class Tokenize:
    """Chat template -> input_ids, with labels = -100 everywhere but the assistant answer
    (its tokens and the closing end-of-turn token). `target`: "answer" (closed-book SKUs)
    or "parse" (query understanding for grounded search)."""

    def __init__(self, model_dir: str, max_length: int, store, target: str = "answer"):
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.max_length, self.store, self.target = max_length, store, target

    def encode(self, example: dict) -> tuple[list[int], list[int]]:
        messages = training_messages(example, self.store, self.target)
        prompt = self.tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        full = self.tok.apply_chat_template(messages, tokenize=False)
        if not full.startswith(prompt):
            raise ValueError("chat template does not extend the prompt with the answer")
        end = full.index(self.tok.eos_token, len(prompt)) + len(self.tok.eos_token)
        p_ids = self.tok(prompt, add_special_tokens=False)["input_ids"]
        a_ids = self.tok(full[len(prompt) : end], add_special_tokens=False)["input_ids"]
        ids = (p_ids + a_ids)[: self.max_length]
        labels = ([-100] * len(p_ids) + a_ids)[: self.max_length]
        return ids, labels

    def __call__(self, batch):
        out = {"input_ids": [], "labels": [], "kind": [], "id": [], "region": [], "campaign": []}
        for row_json in batch["row_json"]:
            ex = json.loads(row_json)
            ids, labels = self.encode(ex)
            out["input_ids"].append(ids)
            out["labels"].append(labels)
            for key in ("kind", "id", "region"):  # what a task adapter's slice selects on
                out[key].append(ex[key])
            out["campaign"].append(ex.get("constraints", {}).get("campaign", ""))
        # Arrow list columns, not numpy tensors: rows have different lengths.
        ints = pa.list_(pa.int32())
        return pa.table(
            {k: pa.array(v, type=ints if k in ("input_ids", "labels") else pa.string()) for k, v in out.items()}
        )


@functools.lru_cache(maxsize=4)
def _tokenizer(model_dir: str, max_length: int, store_json: str, target: str) -> Tokenize:
    return Tokenize(model_dir, max_length, StoreProfile.model_validate_json(store_json), target)


def tokenize(batch, model_dir: str, max_length: int, store_json: str, target: str):
    """map_batches as plain tasks, one tokenizer per worker process: tasks spread over every CPU
    and, unlike an actor, never hold a CPU that upstream reads wait for."""
    return _tokenizer(model_dir, max_length, store_json, target)(batch)


def _catalog(cfg, catalog_path, quarantine) -> tuple[list[dict], dict]:
    checked = (
        read_rows(catalog_path)
        .map(validate_catalog, fn_kwargs={"columns": cfg.data.catalog_columns, "store": cfg.store})
        .materialize()
    )
    bad = checked.filter(lambda r: r["error"] != "").take_all()  # a catalog is small next to a query log
    with quarantine.open("a") as f:
        for r in bad:
            f.write(
                json.dumps({"source": "catalog", "reason": r["error"], "raw": r["row_json"]}, ensure_ascii=False) + "\n"
            )
    good = [json.loads(r["row_json"]) for r in checked.filter(lambda r: r["error"] == "").take_all()]
    catalog = sorted({r["sku"]: r for r in reversed(good)}.values(), key=lambda r: r["sku"])  # first row of each SKU
    catalog = ground_catalog(catalog)  # category levels and inferred brands: choices of the whole catalog
    return catalog, {
        "rows_in": checked.count(),
        "rows_out": len(catalog),
        "quarantined": dict(Counter(r["error"] for r in bad)),
        "removed": {"duplicate sku": len(good) - len(catalog)},
    }


def _curate_log(cfg, log_path, known, work: str, quarantine: Path, seconds: dict) -> tuple[ray.data.Dataset, dict]:
    """Log rows -> one example per (region, query) with SKUs ranked by clicks."""
    c = cfg.curate
    log.info("curate: query log %s -> validate, scrub PII, aggregate clicks", log_path)
    start = time.time()
    checked = checkpoint(
        read_rows(log_path).map_batches(
            validate_log,
            fn_kwargs={"columns": c.log_columns, "known_skus": known, "regions": list(cfg.store.regions)},
            batch_size=BATCH,
            batch_format="pandas",
        ),
        f"{work}/log",
    )
    seconds["log: validate + scrub"], start = round(time.time() - start, 1), time.time()
    reasons, n_in, pii = Counter(), 0, 0
    with quarantine.open("a") as f:  # one streamed pass: counts, and bad rows to quarantine (a large log may have many)
        for b in checked.select_columns(["error", "raw", "pii"]).iter_batches(batch_size=65536, batch_format="pyarrow"):
            bad = b.filter(pc.not_equal(b["error"], "")).to_pydict()
            reasons.update(map(generic, bad["error"]))  # counted without the SKU or value; the file keeps them
            n_in, pii = n_in + b.num_rows, pii + (pc.sum(b["pii"]).as_py() or 0)
            f.writelines(
                json.dumps({"source": "log", "reason": e, "raw": r}, ensure_ascii=False) + "\n"
                for e, r in zip(bad["error"], bad["raw"])
            )
    seconds["log: count + quarantine"], start = round(time.time() - start, 1), time.time()
    examples = checkpoint(
        where(checked, error="")
        .repartition(c.partitions, keys=["group"])
        .map_batches(aggregate_groups, batch_size=None, batch_format="pandas"),
        f"{work}/log_examples",
    )
    seconds["log: aggregate clicks"] = round(time.time() - start, 1)
    counts = [
        (len(b), int(b["rows"].sum()), int(b["example"].str.contains(NO_TARGET, regex=False).sum()))
        for b in examples.iter_batches(batch_size=65536, batch_format="pandas")
    ]
    n_out, n_merged_in, zero_click = (sum(x) for x in zip(*counts)) if counts else (0, 0, 0)
    stats = {
        "rows_in": n_in,
        "quarantined": dict(reasons),
        "pii_scrubbed": pii,
        "examples_out": n_out,
        "merged_into_examples": n_merged_in - n_out,
        "zero_click_examples": zero_click,
    }
    if n_in != n_merged_in + sum(reasons.values()):
        raise RuntimeError(f"curate lost log rows: {stats}")
    return examples.map_batches(lambda b: {"row_json": b["example"]}, batch_format="numpy"), stats


def _marked(ds, pairs, reason: str, partitions: int):
    """Rows whose id is in `pairs` (id, detail) get `drop` = reason: a shuffle on id."""
    rows = ds.map_batches(lambda df: df.assign(role="row"), batch_format="pandas")
    marks = pairs.map_batches(
        lambda df: pd.DataFrame(
            {
                **{k: [v] * len(df) for k, v in COLUMNS.items()},
                "id": df["id"].to_numpy(),
                "detail": df["detail"].to_numpy(),
                "role": "mark",
            }
        ),
        batch_format="pandas",
    )
    return (
        rows.union(marks)
        .repartition(partitions, keys=["id"])
        .map_batches(dedup.apply_marks, fn_kwargs={"reason": reason}, batch_size=None, batch_format="pandas")
    )


def _dedup(cfg, stream, work: str, seconds: dict):
    c, n, start = cfg.curate, cfg.curate.partitions, time.time()
    log.info("curate: examples -> validate, filter, exact dedup")
    stream = checkpoint(
        stream.repartition(n, keys=["key"]).map_batches(dedup.exact, batch_size=None, batch_format="pandas"),
        f"{work}/exact",
    )
    n_in = stream.count()  # every row read, good or bad: later stages mark rows, they never delete them
    seconds["examples + exact dedup"], start = round(time.time() - start, 1), time.time()
    if c.near_dedup.enabled:
        log.info("curate: near dedup (MinHash LSH) over %d rows", n_in)
        nd = c.near_dedup
        bands = stream.map_batches(
            dedup.band_rows,
            fn_kwargs={"num_perm": nd.num_perm, "bands": nd.bands, "shingle": nd.shingle},
            batch_size=BATCH,
            batch_format="pandas",
        )
        pairs = bands.repartition(n, keys=["bucket"]).map_batches(
            dedup.near_pairs, fn_kwargs={"threshold": nd.threshold}, batch_size=None, batch_format="pandas"
        )
        stream = checkpoint(_marked(stream, pairs, "near dedup: near duplicate", n), f"{work}/near")
        seconds["near dedup"], start = round(time.time() - start, 1), time.time()
    if c.semantic_dedup.enabled:
        log.info("curate: semantic dedup (MiniLM, %d actor(s))", c.semantic_dedup.actors)
        sd = c.semantic_dedup
        emb = stream.map_batches(
            dedup.Embed,
            batch_size=256,
            compute=ray.data.ActorPoolStrategy(size=sd.actors),
            num_cpus=1,
            batch_format="pandas",
        )
        pairs = emb.repartition(n, keys=["bucket"]).map_batches(
            dedup.semantic_pairs, fn_kwargs={"threshold": sd.threshold}, batch_size=None, batch_format="pandas"
        )
        stream = checkpoint(
            _marked(stream, pairs, "semantic dedup: paraphrase with the same answer", n), f"{work}/semantic"
        )
        seconds["semantic dedup"] = round(time.time() - start, 1)
    return stream, n_in


def _held_out(cfg, stream, by_template: bool) -> dict:
    """What a training row must not share: the test split's templates (by_template) or query
    n-grams, and the n-grams of every query in decontam.eval_paths."""
    c = cfg.curate.decontam
    tests = where(stream.select_columns(["split", "drop", "query", "row_json"]), split="test", drop="").take_all()
    extra = [
        json.loads(line)["query"] for p in c.eval_paths for line in Path(p).read_text().splitlines() if line.strip()
    ]
    templates = {json.loads(r["row_json"]).get("template", "") for r in tests} - {""} if by_template else set()
    queries = [r["query"] for r in tests if json.loads(r["row_json"]).get("template", "") not in templates]
    log.info(
        "curate: decontaminate against %d test templates and %d eval queries",
        len(templates),
        len(queries) + len(extra),
    )
    return {
        "templates": templates,
        "queries": eval_grams(queries + extra, c.ngram),  # for rows compared on their query
        "eval_paths": eval_grams(extra, c.ngram),  # for rows compared on their template
    }


def _check_and_distill(cfg, stream, catalog_path: str, work: str, by_template: bool):
    c = cfg.curate
    stream = stream.map_batches(
        check,
        fn_kwargs={
            "catalog_path": str(catalog_path),
            "held": _held_out(cfg, stream, by_template),
            "cfg": c,
            "store_json": cfg.store.model_dump_json(),
        },
        batch_size=BATCH,
        batch_format="pandas",
    )
    if c.distill.enabled:
        stream = checkpoint(stream, f"{work}/checked")
        needs = stream.filter(lambda r: r["drop"] == "" and r["split"] == "train" and NO_TARGET in r["row_json"])
        # At most max_prompts rows, held here and fed from memory: the actor pool then waits on no
        # read task (on a 1-CPU Ray an actor holding the CPU starves the reads feeding it).
        chosen = needs.limit(c.distill.max_prompts).to_pandas()
        if len(chosen):
            log.info(
                "curate: distill %d zero-click queries with %s, %d candidates each",
                len(chosen),
                c.distill.teacher,
                c.distill.candidates,
            )
            source, key = source_and_key(c.distill)
            answered = ray.data.from_pandas(chosen).map_batches(
                Distill,
                fn_constructor_args=(c.distill, source, str(catalog_path), key, cfg.store),
                compute=ray.data.ActorPoolStrategy(size=c.distill.actors),
                batch_size=c.distill.batch_size,
                num_cpus=1,
                batch_format="pandas",
            )
            ids = set(chosen["id"])
            stream = stream.filter(lambda r: r["id"] not in ids).union(answered)
    return checkpoint(stream.map_batches(no_target, batch_format="pandas"), f"{work}/final")


def _tokenize(cfg, kept_train, train_dir: str, model_dir: Path) -> tuple[int, dict, np.ndarray]:
    """One tokenized set per training target (jobs/train.py picks one), under `train_dir` (a path
    or a URI): (rows, tokens per target, the answer set's row lengths)."""
    log.info("curate: tokenize the kept training rows")
    fs, root = filesystem(train_dir)
    rows, n_tokens, answer_lengths = kept_train.select_columns(["row_json"]), {}, np.zeros(0, np.int64)
    for target in TARGETS:
        chosen = (
            rows if target == "answer" else rows.filter(lambda r: json.loads(r["row_json"]).get("parse") is not None)
        )
        chosen.map_batches(
            tokenize,
            fn_kwargs={
                "model_dir": str(model_dir),
                "max_length": cfg.data.max_length,
                "store_json": cfg.store.model_dump_json(),
                "target": target,
            },
            batch_size=256,
        ).write_parquet(f"{train_dir}/{target}", mode="overwrite")
        if fs.get_file_info(f"{root}/{target}").type == pafs.FileType.NotFound:  # no row has this target
            n_tokens[target] = 0
            continue
        table = pq.read_table(f"{root}/{target}", columns=["input_ids"], filesystem=fs)
        lengths = pc.list_value_length(table["input_ids"]).to_numpy()
        n_tokens[target] = int(lengths.sum())
        if target == "answer":
            answer_lengths = lengths
    return len(answer_lengths), n_tokens, answer_lengths


def _write_messages(cfg, kept_train, test_rows: list[dict]) -> dict:
    """The curated splits as chat `messages` JSONL, one file per split and target
    (data/messages/<split>_<target>.jsonl): the conversations the Parquet tokenizes, for trainers
    that read chats (TRL's SFTTrainer, axolotl). One pass over each split writes both targets.
    Returns rows per file."""
    rd, counts = cfg.run_dir(), {}
    splits = {
        "train": (json.loads(r["row_json"]) for r in kept_train.select_columns(["row_json"]).iter_rows()),
        "test": iter(test_rows),
    }
    for split, rows in splits.items():
        paths = {target: rd.messages(split, target) for target in TARGETS}
        paths["answer"].parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            files = {target: stack.enter_context(path.open("w", encoding="utf-8")) for target, path in paths.items()}
            counts |= {f"{split}_{target}": 0 for target in TARGETS}
            for ex in rows:
                for target in TARGETS:
                    if target == "parse" and ex.get("parse") is None:
                        continue
                    chat = {
                        "messages": training_messages(ex, cfg.store, target),
                        "id": ex["id"],
                        "kind": ex["kind"],
                        "split": split,
                        "relevant": ex.get("relevant", []),  # graded labels a chat cannot carry
                    }
                    if target == "answer" and ex.get("parse") is not None:
                        chat["parse"] = ex["parse"]  # read back (data/chat.py), it trains the parse target too
                    files[target].write(json.dumps(chat, ensure_ascii=False) + "\n")
                    counts[f"{split}_{target}"] += 1
    return counts


def _digest(train_dir: str, *files: Path) -> str:
    """The curated data's content hash: the tokenized Parquet (a path or a URI), then `files`."""
    fs, root = filesystem(train_dir)
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    h = hashlib.sha256()
    for path in sorted(i.path for i in found if i.type == pafs.FileType.File and i.path.endswith(".parquet")):
        with fs.open_input_stream(path) as f:
            h.update(f.read())
    for path in files:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def run_curate(cfg: JobConfig, model_dir: Path) -> dict:
    rd = cfg.run_dir()
    out, work = rd.data, cfg.shared(rd.work)  # Ray Data's scratch: in the bucket with a run that is
    remove(work)
    log.info("curate: Ray Data's scratch checkpoints under %s", work)
    # Ray Data splits each file read into blocks until a read has 200; that split stops the read
    # fusing with the map after it, and on 2 CPUs the split read then held one CPU while the
    # map ran one task at a time (validate: 18.5s on 2 CPUs vs 19.5s on 1). Files as they come.
    ray.data.DataContext.get_current().read_op_min_num_blocks = cfg.curate.partitions
    out.mkdir(parents=True, exist_ok=True)
    if cfg.data.source == "generated":  # a plugin (the demo) writes its data as files, read like a user's
        catalog_path, examples_path, log_path = importlib.import_module(cfg.data.generator).write_raw(cfg, rd.raw)
    else:
        catalog_path, log_path = cfg.data.catalog_path, None
        examples_path = cfg.data.examples_path or rd.raw / "coldstart.jsonl"
    log_path = cfg.curate.log_path or log_path
    quarantine = rd.quarantine
    quarantine.write_text("")

    seconds, start = {}, time.time()
    catalog, cat_stats = _catalog(cfg, cfg.readable(catalog_path), quarantine)
    seconds["catalog"] = round(time.time() - start, 1)
    write_jsonl(rd.catalog, catalog)
    cfg = cfg.model_copy(update={"store": with_catalog_words(cfg.store, catalog)})  # for the filters and grader
    shared_catalog = cfg.readable(rd.catalog)  # what the grader's tasks load
    known = {r["sku"] for r in catalog}
    cold_start = cfg.data.source == "files" and not cfg.data.examples_path  # queries generated from the catalog
    if cold_start:
        write_jsonl(examples_path, synth_queries(catalog, cfg.store, seed=cfg.data.seed))

    sources = [("examples", read_rows(cfg.readable(examples_path)), cfg.data.example_columns, cfg.data.chat)]
    log_stats = None
    if log_path:
        log_examples, log_stats = _curate_log(cfg, cfg.readable(log_path), known, work, quarantine, seconds)
        sources.append(("log", log_examples, {}, None))
    stream = None
    for name, ds, columns, chat in sources:
        rows = ds.map_batches(
            ingest,
            fn_kwargs={
                "source": name,
                "columns": columns,
                "known_skus": known,
                "curate_cfg": cfg.curate,
                "store": cfg.store,
                "chat": chat,
            },
            batch_size=BATCH,
            batch_format="pandas",
        )
        stream = rows if stream is None else stream.union(rows)
    stream, n_in = _dedup(cfg, stream, work, seconds)
    start = time.time()
    on = cfg.curate.decontam.on
    final = _check_and_distill(cfg, stream, shared_catalog, work, on == "template" or (on == "auto" and cold_start))
    seconds["decontam + grade + distill"], start = round(time.time() - start, 1), time.time()
    tally = report.Tally(SAMPLES).run(final, out, quarantine)
    seconds["tally + quarantine/removed files"], start = round(time.time() - start, 1), time.time()
    n_test = write_jsonl(rd.test, tally.test_rows)
    kept_train = where(final, drop="", split="train")
    train_dir = cfg.shared(out / "train")
    n_train, n_tokens, train_lengths = _tokenize(cfg, kept_train, train_dir, model_dir)
    seconds["tokenize"], start = round(time.time() - start, 1), time.time()
    n_messages = _write_messages(cfg, kept_train, tally.test_rows)
    seconds["messages jsonl"] = round(time.time() - start, 1)

    quarantined = {k.removeprefix("quarantine: "): v for k, v in tally.dropped.items() if k.startswith("quarantine: ")}
    removed = {k: v for k, v in tally.dropped.items() if not k.startswith("quarantine: ")}
    manifest = {
        "catalog": cat_stats,
        "examples": {
            "rows_in": n_in,
            "rows_out": n_train + n_test,
            "train": n_train,
            "test": n_test,
            "quarantined": quarantined,
            "removed": removed,
            "changed": dict(tally.changed),
            "train_tokens": n_tokens,
            "messages_jsonl": n_messages,
        },
        "log": log_stats,
        "seconds": seconds,
        "sources": {
            "catalog": str(catalog_path),
            "examples": str(examples_path),
            "log": str(log_path) if log_path else None,
        },
        "model_dir": str(model_dir),
    }
    for part in ("catalog", "examples"):
        m = manifest[part]
        lost = m["rows_in"] - m["rows_out"] - sum(m["quarantined"].values()) - sum(m["removed"].values())
        if lost:
            raise RuntimeError(f"curate lost {lost} {part} rows: {m}")
    manifest["hash"] = _digest(train_dir, rd.test, rd.catalog)
    rd.manifest.write_text(json.dumps(manifest, indent=2))
    report.write(cfg.output_dir(), manifest, tally, train_lengths)
    remove(work)
    return manifest
