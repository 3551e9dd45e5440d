"""The example stream's Ray Data stages, as plain batch functions over pandas frames.

Every row carries `drop`: "" while it is kept, "<stage>: <reason>" once a stage removes it,
with `detail` saying why in particular (the row it duplicates, the eval n-gram it shares).
Dropped rows travel to the end, so one pass yields both the curated data and the report,
and rows in = rows kept + rows dropped holds by construction.
"""

import functools
import hashlib
import json
import re
import uuid

import numpy as np
import pandas as pd
from pydantic import ValidationError

from skutune.data.chat import from_chat
from skutune.data.dedup import live, normalised
from skutune.data.filters import FilterSet
from skutune.data.grader import SKU_TOKEN, Grader
from skutune.data.records import ExampleRow
from skutune.prompts import answer_text
from skutune.runtime.paths import ROW_ERRORS, json_row, load_jsonl
from skutune.store import StoreProfile

COLUMNS = {
    "id": "",
    "split": "",
    "region": "",
    "query": "",
    "key": "",
    "text": "",
    "answer": "",
    "row_json": "",
    "source": "",
    "drop": "",
    "detail": "",
    "changes": "",
    "score": np.nan,
    "candidates": 0,
    "accepted": 0,
    "candidate_scores": "",
}  # distillation: every candidate's grader score, comma-separated
NO_TARGET = '"target": {}'  # how a row with no target (a zero-click log query) reads in its row_json
NESTED = ("prices", "attributes", "faq", "regions", "tags", "target", "relevant", "constraints", "parse")


def renamed(row: dict, columns: dict[str, str]) -> dict:
    """A user's columns under skutune's names. Text columns mapped to `description` (About,
    Details, Description) are joined with " | "; otherwise a mapped column wins over a same-named one."""
    out = {}
    for key, value in row.items():
        name = columns.get(key, key)
        if name == "description" and isinstance(out.get(name), str) and isinstance(value, str):
            out[name] = " | ".join(x for x in (out[name], value) if x.strip())
        elif name not in out or key in columns:
            out[name] = value
    return out


def parse_row(row_json: str, columns: dict[str, str]) -> dict:
    obj = json_row(row_json)
    if not isinstance(obj, dict):
        raise ValueError("row is not a JSON object")
    obj = renamed(obj, columns)
    for key in NESTED:
        if isinstance(obj.get(key), str) and obj[key].lstrip()[:1] in (
            "{",
            "[",
        ):  # CSV cells hold nested fields as JSON text
            obj[key] = json_row(obj[key])
    return obj


def reason_of(err: Exception) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        return f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}"
    if isinstance(err, json.JSONDecodeError):
        return "not valid JSON"
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return str(err)


def generic(reason: str) -> str:
    """A reason without the SKU and the value it names, so reasons can be counted."""
    return re.sub(r" \([^)]*\)$", "", SKU_TOKEN.sub("<sku>", reason))


SOURCE_RANK = {"examples": 0, "log": 1}  # of two duplicates, the labelled example wins over the log's


def describe(ex: dict, source: str, raw: str) -> dict:
    """A kept example as a stream row. Dedup keeps the smallest id, and the id sorts by source,
    then the example's own id, so which duplicate is kept does not depend on block order."""
    answer = answer_text(ex["target"]) if ex["target"] else ""
    query = normalised(ex["query"])
    return {
        **COLUMNS,
        "id": f"{SOURCE_RANK[source]}|{ex['id']}|{hashlib.sha1(raw.encode()).hexdigest()[:10]}|{uuid.uuid4().hex[:8]}",
        "split": ex["split"],
        "region": ex["region"],
        "query": ex["query"],
        "key": f"{ex['split']}|{ex['region']}|{query}",
        "text": f"{query} {answer}",
        "answer": hashlib.sha1(answer.encode()).hexdigest()[:12],
        "row_json": json.dumps(ex, ensure_ascii=False),
        "source": source,
    }


def ingest(
    batch: pd.DataFrame, source: str, columns: dict, known_skus: set[str], curate_cfg, store: StoreProfile, chat=None
) -> pd.DataFrame:
    """map_batches: raw JSON rows (chats, with `chat`: data.chat) -> validated (or quarantined) and
    filtered stream rows."""
    filters, out = FilterSet(curate_cfg, store), []
    for raw in batch["row_json"]:
        try:
            row = parse_row(raw, columns)
            if chat is not None and chat.format != "examples":
                row = from_chat(row, chat)
            rec = ExampleRow.model_validate(row, context={"store": store})
            problem = rec.check(known_skus) if rec.target else None  # no target: a zero-click query for distillation
            if problem:
                raise ValueError(problem)
        except ROW_ERRORS as err:
            out.append(
                {
                    **COLUMNS,
                    "id": f"~bad|{uuid.uuid4().hex}",
                    "row_json": raw,
                    "source": source,
                    "drop": f"quarantine: {generic(reason_of(err))}",
                    "detail": reason_of(err),
                }
            )
            continue
        ex = rec.model_dump()
        reason, changes = filters(ex)
        row = describe(ex, source, raw)
        row["changes"] = "; ".join(changes)
        if reason:
            row["drop"] = f"filter: {reason}"
        out.append(row)
    return pd.DataFrame(out, columns=list(COLUMNS))


def eval_grams(queries: list[str], n: int) -> tuple[set[str], set[int]]:
    """Every eval query's word n-grams, plus whole queries shorter than n; and those lengths."""
    grams, short = set(), set()
    for q in queries:
        words = normalised(q).split()
        if len(words) < n:
            grams.add(" ".join(words))
            short.add(len(words))
        else:
            grams.update(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams, short


def shared_gram(query: str, grams: set[str], short: set[int], n: int) -> str | None:
    words = normalised(query).split()
    for k in sorted(short | {n}):
        for i in range(len(words) - k + 1):
            gram = " ".join(words[i : i + k])
            if gram in grams:
                return gram
    return None


@functools.lru_cache(maxsize=4)
def _grader(catalog_path: str, store_json: str) -> Grader:
    return Grader(load_jsonl(catalog_path), StoreProfile.model_validate_json(store_json))  # once per worker process


def contamination(ex: dict, held: dict, n: int) -> str | None:
    """What `ex` shares with the held-out sets (curate._held_out): a test template, else a query n-gram."""
    template = ex.get("template", "")
    if held["templates"] and template:
        if template in held["templates"]:
            return template
        return shared_gram(ex["query"], *held["eval_paths"], n)
    return shared_gram(ex["query"], *held["queries"], n)


def check(df: pd.DataFrame, catalog_path: str, held: dict, cfg, store_json: str) -> pd.DataFrame:
    """map_batches: decontamination against the eval sets, then the grader on each training
    row's own target (a click-derived target that names a SKU not sold in the region fails)."""
    df = df.copy()
    grader = _grader(catalog_path, store_json) if cfg.grade_targets else None
    for i in df.index[live(df)]:
        ex = json.loads(df.at[i, "row_json"])
        gram = contamination(ex, held, cfg.decontam.ngram) if cfg.decontam.enabled else None
        if gram:
            df.at[i, "drop"], df.at[i, "detail"] = "decontam: shares an n-gram with an eval set", gram
        elif grader and ex["target"]:
            grade = grader.grade(answer_text(ex["target"]), ex)
            df.at[i, "score"] = grade.score
            if not grade.passed:
                df.at[i, "drop"], df.at[i, "detail"] = "grade: " + generic(grade.reasons[0]), "; ".join(grade.reasons)
    return df


def no_target(df: pd.DataFrame) -> pd.DataFrame:
    """Rows still without a target after distillation cannot be trained on."""
    empty = [
        d == "" and not json.loads(r)["target"] for d, r in zip(df["drop"], df["row_json"])
    ]  # quarantined rows are raw text
    df.loc[empty, "drop"] = "no target: zero-click query not distilled"
    return df
