"""Curation on Ray Data: read -> typed validation -> quarantine -> exact dedup -> chat
messages -> tokenize (map_batches, labels only on assistant tokens) -> Parquet + manifest.

Rows travel as JSON strings (`row_json`) until they are typed: scraped catalogs have
ragged nested fields that Arrow cannot unify, and a broken line must be quarantined, not
crash the read. Invariant, checked before the manifest is written:
rows in = rows out + rows quarantined + rows removed.
"""

import hashlib
import json
import logging
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import ray
from pydantic import ValidationError

from skutune.catalog import build_catalog
from skutune.coldstart import synth_queries
from skutune.config import JobConfig
from skutune.examples import build_examples, sample_split
from skutune.paths import write_jsonl
from skutune.prompts import normalize_query, training_messages
from skutune.records import CatalogRow, ExampleRow

log = logging.getLogger(__name__)
TARGETS = ("answer", "parse")  # closed-book answers; query understanding (grounded search)


def write_bundled(cfg: JobConfig, raw_dir: Path) -> tuple[Path, Path]:
    """Materialise the bundled catalog and a per-kind sample of examples as JSONL files, so
    bundled data goes through exactly the same reading path as a user's files."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    catalog = build_catalog()
    rows = build_examples(seed=cfg.data.seed, catalog=catalog)
    picked = sample_split(rows, "train", cfg.data.train_per_kind, cfg.run.seed) + sample_split(rows, "test", cfg.data.test_per_kind, cfg.run.seed)
    random.Random(cfg.run.seed).shuffle(picked)
    paths = raw_dir / "catalog.jsonl", raw_dir / "examples.jsonl"
    for path, items in zip(paths, (catalog, picked)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items))
    return paths


def read_rows(path: str | Path, columns: dict[str, str]) -> ray.data.Dataset:
    """Any of JSONL/CSV/Parquet as a dataset of {"row_json"}; a column mapping renames a
    user's columns to skutune's. JSONL is read as text so a broken line stays a row."""
    path = str(path)
    if path.endswith((".jsonl", ".json")):
        ds = ray.data.read_text(path)
        return ds.map(lambda r: {"row_json": r["text"]})
    ds = ray.data.read_csv(path) if path.endswith(".csv") else ray.data.read_parquet(path)

    def to_json(row):
        row = {columns.get(k, k): v for k, v in row.items()}
        return {"row_json": json.dumps(row, ensure_ascii=False, default=str)}

    return ds.map(to_json)


def _parse(row_json: str, columns: dict[str, str]):
    obj = json.loads(row_json)
    if not isinstance(obj, dict):
        raise ValueError("row is not a JSON object")
    obj = {columns.get(k, k): v for k, v in obj.items()}
    for key in ("prices", "attributes", "faq", "regions", "tags", "target", "relevant", "constraints", "parse"):
        if isinstance(obj.get(key), str) and obj[key].lstrip()[:1] in ("{", "["):  # CSV cells hold nested fields as JSON text
            obj[key] = json.loads(obj[key])
    return obj


def _reason(err: Exception) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        return f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}"
    if isinstance(err, json.JSONDecodeError):
        return "not valid JSON"
    return str(err)


def validate_catalog(row, columns):
    try:
        rec = CatalogRow.model_validate(_parse(row["row_json"], columns))
        return {"key": rec.sku, "row_json": rec.model_dump_json(), "error": ""}
    except (ValueError, TypeError) as err:
        return {"key": "", "row_json": row["row_json"], "error": _reason(err)}


def validate_example(row, columns, known_skus):
    try:
        rec = ExampleRow.model_validate(_parse(row["row_json"], columns))
        problem = rec.check(known_skus)
        if problem:
            raise ValueError(problem)
        key = "|".join([rec.split, rec.region, normalize_query(rec.query)])
        return {"key": key, "row_json": rec.model_dump_json(), "error": ""}
    except (ValueError, TypeError) as err:
        return {"key": "", "row_json": row["row_json"], "error": _reason(err)}


def dedup_exact(ds: ray.data.Dataset) -> ray.data.Dataset:
    """Keep the first row of each normalised key. A shuffle-based groupby, so no driver-side
    set of keys: it scales with the cluster."""
    def first(group):
        order = np.argsort(group["row_json"])  # deterministic pick within a group
        return {k: v[order[:1]] for k, v in group.items()}

    return ds.groupby("key").map_groups(first, batch_format="numpy")


class Tokenize:
    """Chat template -> input_ids, with labels = -100 everywhere but the assistant answer
    (its tokens and the closing end-of-turn token). `target`: "answer" (closed-book SKUs)
    or "parse" (query understanding for grounded search)."""

    def __init__(self, model_dir: str, max_length: int, target: str = "answer"):
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.max_length = max_length
        self.target = target

    def encode(self, example: dict) -> tuple[list[int], list[int]]:
        messages = training_messages(example, self.target)
        prompt = self.tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        full = self.tok.apply_chat_template(messages, tokenize=False)
        if not full.startswith(prompt):
            raise ValueError("chat template does not extend the prompt with the answer")
        end = full.index(self.tok.eos_token, len(prompt)) + len(self.tok.eos_token)
        p_ids = self.tok(prompt, add_special_tokens=False)["input_ids"]
        a_ids = self.tok(full[len(prompt):end], add_special_tokens=False)["input_ids"]
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
        return pa.table({k: pa.array(v, type=ints if k in ("input_ids", "labels") else pa.string()) for k, v in out.items()})


def _split_by_error(validated: ray.data.Dataset, source: str, quarantine: Path):
    """(good rows dataset, counts of quarantined rows by reason); bad rows go to the file."""
    bad = validated.filter(lambda r: r["error"] != "").take_all()
    reasons = Counter(r["error"] for r in bad)
    with quarantine.open("a") as f:
        for r in bad:
            f.write(json.dumps({"source": source, "reason": r["error"], "raw": r["row_json"]}, ensure_ascii=False) + "\n")
    return validated.filter(lambda r: r["error"] == ""), reasons


def _digest(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def run_curate(cfg: JobConfig, model_dir: Path) -> dict:
    out = cfg.output_dir() / "data"
    out.mkdir(parents=True, exist_ok=True)
    if cfg.data.source == "bundled":
        catalog_path, examples_path = write_bundled(cfg, cfg.output_dir() / "raw")
    else:
        catalog_path = Path(cfg.data.catalog_path)
        examples_path = Path(cfg.data.examples_path) if cfg.data.examples_path else cfg.output_dir() / "raw" / "coldstart.jsonl"
    quarantine = out / "quarantine.jsonl"
    quarantine.write_text("")

    # catalog: validate, quarantine, one row per SKU
    cat_raw = read_rows(catalog_path, cfg.data.catalog_columns)
    cat_checked = cat_raw.map(validate_catalog, fn_kwargs={"columns": cfg.data.catalog_columns}).materialize()
    cat_in = cat_checked.count()
    cat_good, cat_bad = _split_by_error(cat_checked, "catalog", quarantine)
    catalog = [json.loads(r["row_json"]) for r in dedup_exact(cat_good).take_all()]
    catalog.sort(key=lambda r: r["sku"])
    cat_removed = {"duplicate sku": cat_good.count() - len(catalog)}
    write_jsonl(out / "catalog.jsonl", catalog)
    known = {r["sku"] for r in catalog}
    if cfg.data.source == "files" and not cfg.data.examples_path:  # cold start: queries generated from the catalog
        write_jsonl(examples_path, synth_queries(catalog, seed=cfg.data.seed))

    # examples: validate against the catalog, quarantine, dedup, then tokenize the train split
    ex_raw = read_rows(examples_path, cfg.data.example_columns)
    ex_checked = ex_raw.map(validate_example, fn_kwargs={"columns": cfg.data.example_columns, "known_skus": known}).materialize()
    ex_in = ex_checked.count()
    ex_good, ex_bad = _split_by_error(ex_checked, "examples", quarantine)
    unique = dedup_exact(ex_good).materialize()
    ex_removed = {"exact duplicate": ex_good.count() - unique.count()}
    train = unique.filter(lambda r: r["key"].startswith("train|"))
    test_rows = [json.loads(r["row_json"]) for r in unique.filter(lambda r: r["key"].startswith("test|")).take_all()]
    test_rows.sort(key=lambda r: r["id"])
    n_test = write_jsonl(out / "test.jsonl", test_rows)

    train_dir, n_tokens = out / "train", {}
    for target in TARGETS:  # one tokenized set per training target; jobs/train.py picks one
        rows = train if target == "answer" else train.filter(lambda r: json.loads(r["row_json"]).get("parse") is not None)
        tokenized = rows.map_batches(Tokenize, fn_constructor_args=(str(model_dir), cfg.data.max_length, target),
                                     batch_size=64, concurrency=1)
        tokenized.write_parquet(str(train_dir / target), mode="overwrite")
        lengths = ray.data.read_parquet(str(train_dir / target)).map_batches(
            lambda t: pa.table({"n": pa.compute.list_value_length(t["input_ids"])}), batch_format="pyarrow")
        n_tokens[target] = int(lengths.sum("n") or 0)
    n_train = train.count()

    manifest = {
        "catalog": {"rows_in": cat_in, "rows_out": len(catalog), "quarantined": dict(cat_bad), "removed": cat_removed},
        "examples": {"rows_in": ex_in, "rows_out": n_train + n_test, "train": n_train, "test": n_test,
                     "quarantined": dict(ex_bad), "removed": ex_removed, "train_tokens": n_tokens},
        "sources": {"catalog": str(catalog_path), "examples": str(examples_path)},
        "model_dir": str(model_dir),
    }
    for part in ("catalog", "examples"):
        m = manifest[part]
        lost = m["rows_in"] - m["rows_out"] - sum(m["quarantined"].values()) - sum(m["removed"].values())
        if lost:
            raise RuntimeError(f"curate lost {lost} {part} rows: {m}")
    manifest["hash"] = _digest([*train_dir.glob("*/*.parquet"), out / "test.jsonl", out / "catalog.jsonl"])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
