"""Query logs -> ranked training targets.

A log row is one shopper's query and one SKU shown for it: query, sku, clicks, impressions,
timestamp, region. Rows are validated and PII-scrubbed in `map_batches`; then every
(region, normalised query) group is aggregated by a hash shuffle into one example whose
target is its SKUs ranked by clicks (click-through rate breaks ties). A group with no clicks
becomes an example with no target, which distillation may answer (curate.distill).
"""

import datetime as dt
import hashlib
import json

import numpy as np
import pandas as pd

from skutune.data.dedup import normalised
from skutune.data.filters import scrub_pii
from skutune.data.records import MAX_QUERY_CHARS
from skutune.data.stages import reason_of
from skutune.runtime.paths import ROW_ERRORS, json_row
from skutune.store import LOGGED

LOG_COLUMNS = ("query", "sku", "clicks", "impressions", "timestamp", "region")
TOP_K = 3


def _count(value, name: str) -> int:
    """ "1,234" or 12 or 12.0 -> int; anything else is a reason to quarantine."""
    if isinstance(value, str):
        value = value.replace(",", "").strip()
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number: {value!r:.40}") from None
    if n < 0 or not n.is_integer():
        raise ValueError(f"{name}: not a count: {value!r:.40}")
    return int(n)


def _date(value) -> str:
    """ISO date or datetime, or epoch seconds -> YYYY-MM-DD."""
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            return dt.datetime.fromtimestamp(int(value), dt.timezone.utc).date().isoformat()
        return dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).date().isoformat()
    except (ValueError, OverflowError, OSError):  # out of range epochs overflow rather than fail to parse
        raise ValueError(f"timestamp: not a date: {value!r:.40}") from None


def parse_log_row(obj: dict, known_skus: set[str], regions) -> dict:
    """One validated, PII-scrubbed log row, or ValueError with the reason. `regions`: the store's."""
    if not isinstance(obj, dict):
        raise ValueError("row is not a JSON object")
    missing = [c for c in LOG_COLUMNS if obj.get(c) in (None, "")]
    if missing:
        raise ValueError(f"{missing[0]}: missing")
    query = str(obj["query"]).strip()
    if len(query) > MAX_QUERY_CHARS:  # checked before the PII scrub: no regex over a megabyte of text
        raise ValueError(f"query: over {MAX_QUERY_CHARS} characters")
    query, pii = scrub_pii(query)
    sku = str(obj["sku"]).strip().upper()
    if sku not in known_skus:
        raise ValueError(f"unknown SKU {sku:.40}")
    region = str(obj["region"]).strip().upper()
    if region not in regions:
        raise ValueError(f"region: unknown {region!r:.40}")
    clicks, impressions = _count(obj["clicks"], "clicks"), _count(obj["impressions"], "impressions")
    if clicks > impressions:
        raise ValueError("clicks: more clicks than impressions")
    return {
        "query": query,
        "sku": sku,
        "clicks": clicks,
        "impressions": impressions,
        "date": _date(obj["timestamp"]),
        "region": region,
        "pii": pii,
    }


def validate_log(batch: dict, columns: dict, known_skus: set[str], regions) -> pd.DataFrame:
    """map_batches: row_json -> typed columns, or `error` with the reason (quarantined)."""
    out = []
    for raw in batch["row_json"]:
        try:
            obj = json_row(raw)
            row = parse_log_row(
                {columns.get(k, k): v for k, v in obj.items()} if isinstance(obj, dict) else obj, known_skus, regions
            )
            out.append({**row, "group": f"{row['region']}|{normalised(row['query'])}", "error": "", "raw": ""})
        except ROW_ERRORS as err:
            reason = reason_of(err)
            out.append(
                {
                    "query": "",
                    "sku": "",
                    "clicks": 0,
                    "impressions": 0,
                    "date": "",
                    "region": "",
                    "pii": 0,
                    "group": "",
                    "error": reason,
                    "raw": raw,
                }
            )
    return pd.DataFrame(out)


def aggregate_groups(df: pd.DataFrame) -> pd.DataFrame:
    """map_batches after a hash shuffle on `group`: one example row per group, its SKUs ranked
    by clicks then click-through rate. Output columns: example (JSON), rows (log rows merged)."""
    if df.empty:
        return pd.DataFrame({"example": pd.Series(dtype=str), "rows": pd.Series(dtype=np.int64)})
    per_sku = (
        df.groupby(["group", "sku"], sort=False)
        .agg(clicks=("clicks", "sum"), impressions=("impressions", "sum"))
        .reset_index()
    )
    per_sku["ctr"] = per_sku["clicks"] / per_sku["impressions"].clip(lower=1)
    per_sku = per_sku[per_sku["clicks"] > 0].sort_values(
        ["group", "clicks", "ctr", "sku"], ascending=[True, False, False, True]
    )
    ranked = per_sku.groupby("group", sort=False)["sku"].agg(list)
    head = df.groupby("group", sort=False).agg(
        query=("query", "first"), region=("region", "first"), date=("date", "max"), rows=("sku", "size")
    )
    examples = []
    for group, h in head.iterrows():
        skus = ranked.get(group, [])
        examples.append(
            json.dumps(
                {
                    "id": "log-" + hashlib.sha1(group.encode()).hexdigest()[:12],
                    "kind": LOGGED,
                    "task": "search",
                    "split": "train",
                    "template": "log",
                    "query": h["query"],
                    "region": h["region"],
                    "date": h["date"],
                    "target": {"skus": skus[:TOP_K]} if skus else {},
                    "relevant": skus,
                    "constraints": {"region": h["region"]},
                },
                ensure_ascii=False,
            )
        )
    return pd.DataFrame({"example": examples, "rows": head["rows"].to_numpy()})


# --- a synthetic, messy log -----------------------------------------------------------------
