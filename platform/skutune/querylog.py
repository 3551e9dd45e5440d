"""Query logs -> ranked training targets.

A log row is one shopper's query and one SKU shown for it: query, sku, clicks, impressions,
timestamp, region. Rows are validated and PII-scrubbed in `map_batches`; then every
(region, normalised query) group is aggregated by a hash shuffle into one example whose
target is its SKUs ranked by clicks (click-through rate breaks ties). A group with no clicks
becomes an example with no target, which distillation may answer (curate.distill).

`synth_log` writes a messy synthetic log from a catalog: casing and punctuation variants,
misspellings, PII, abuse, off-domain and non-English queries and malformed rows, at the
rates real logs have them. The demo and jobs/bench_curate.py use it.
"""

import datetime as dt
import hashlib
import json
import random

import numpy as np
import pandas as pd

from skutune.catalog import REGIONS, SYMBOL
from skutune.coldstart import family_alias, misspell
from skutune.filters import scrub_pii
from skutune.dedup import normalised
from skutune.paths import json_row
from skutune.records import MAX_QUERY_CHARS

LOG_COLUMNS = ("query", "sku", "clicks", "impressions", "timestamp", "region")
TOP_K = 3


def _count(value, name: str) -> int:
    """"1,234" or 12 or 12.0 -> int; anything else is a reason to quarantine."""
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


def parse_log_row(obj: dict, known_skus: set[str]) -> dict:
    """One validated, PII-scrubbed log row, or ValueError with the reason."""
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
    if region not in REGIONS:
        raise ValueError(f"region: unknown {region!r:.40}")
    clicks, impressions = _count(obj["clicks"], "clicks"), _count(obj["impressions"], "impressions")
    if clicks > impressions:
        raise ValueError("clicks: more clicks than impressions")
    return {"query": query, "sku": sku, "clicks": clicks, "impressions": impressions, "date": _date(obj["timestamp"]),
            "region": region, "pii": pii}


def validate_log(batch: dict, columns: dict, known_skus: set[str]) -> pd.DataFrame:
    """map_batches: row_json -> typed columns, or `error` with the reason (quarantined)."""
    out = []
    for raw in batch["row_json"]:
        try:
            obj = json_row(raw)
            row = parse_log_row({columns.get(k, k): v for k, v in obj.items()} if isinstance(obj, dict) else obj, known_skus)
            out.append({**row, "group": f"{row['region']}|{normalised(row['query'])}", "error": "", "raw": ""})
        except (ValueError, TypeError) as err:
            reason = "not valid JSON" if isinstance(err, json.JSONDecodeError) else str(err)
            out.append({"query": "", "sku": "", "clicks": 0, "impressions": 0, "date": "", "region": "", "pii": 0,
                        "group": "", "error": reason, "raw": raw})
    return pd.DataFrame(out)


def aggregate_groups(df: pd.DataFrame) -> pd.DataFrame:
    """map_batches after a hash shuffle on `group`: one example row per group, its SKUs ranked
    by clicks then click-through rate. Output columns: example (JSON), rows (log rows merged)."""
    if df.empty:
        return pd.DataFrame({"example": pd.Series(dtype=str), "rows": pd.Series(dtype=np.int64)})
    per_sku = df.groupby(["group", "sku"], sort=False).agg(clicks=("clicks", "sum"), impressions=("impressions", "sum")).reset_index()
    per_sku["ctr"] = per_sku["clicks"] / per_sku["impressions"].clip(lower=1)
    per_sku = per_sku[per_sku["clicks"] > 0].sort_values(["group", "clicks", "ctr", "sku"], ascending=[True, False, False, True])
    ranked = per_sku.groupby("group", sort=False)["sku"].agg(list)
    head = df.groupby("group", sort=False).agg(query=("query", "first"), region=("region", "first"), date=("date", "max"),
                                               rows=("sku", "size"))
    examples = []
    for group, h in head.iterrows():
        skus = ranked.get(group, [])
        examples.append(json.dumps({
            "id": "log-" + hashlib.sha1(group.encode()).hexdigest()[:12], "kind": "logged", "task": "search", "split": "train",
            "template": "log", "query": h["query"], "region": h["region"], "date": h["date"],
            "target": {"skus": skus[:TOP_K]} if skus else {}, "relevant": skus,
            "constraints": {"region": h["region"]}}, ensure_ascii=False))
    return pd.DataFrame({"example": examples, "rows": head["rows"].to_numpy()})


# --- a synthetic, messy log -----------------------------------------------------------------

MESSY = [  # (share of rows, what goes wrong)
    (0.02, "pii"), (0.005, "toxic"), (0.01, "off_domain"), (0.005, "foreign"), (0.01, "malformed"), (0.1, "no_click")]
TOXIC = ["stupid samsung fridge", "useless phone garbage", "you idiots sell trash tvs"]
OFF = ["buy iphone 15 pro", "order macbook air", "weather tomorrow", "cheap fridge on amazon", "cricket score today"]
FOREIGN = ["サムスン 冷蔵庫", "सैमसंग फ्रिज", "삼성 냉장고"]
MALFORMED = [{"clicks": "many"}, {"timestamp": "yesterday"}, {"region": "XX"}, {"query": ""}, {"sku": "NOPE-1"}, None]


def _variant(query: str, rng: random.Random) -> str:
    """What shoppers do to the same query: case, extra spaces, punctuation, misspellings."""
    r = rng.random()
    if r < 0.15:
        return query.title()
    if r < 0.25:
        return query.replace(" ", "  ")
    if r < 0.35:
        return query + rng.choice(["?", "!", " ?", "..."])
    if r < 0.5:
        return misspell(query, rng)
    return query


def synth_log(catalog: list[dict], n: int, seed: int = 0, start_id: int = 0) -> list[str]:
    """`n` JSON lines of a query log over `catalog`. Deterministic for (seed, start_id)."""
    rng = random.Random(seed * 1_000_003 + start_id)
    families = {}
    for r in catalog:
        families.setdefault(r["family"], []).append(r)
    fams = sorted(families)
    base_ts = int(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    lines = []
    for i in range(n):
        rows = families[fams[rng.randrange(len(fams))]]
        sku_row = rows[rng.randrange(len(rows))]
        region = rng.choice(sku_row["regions"])
        alias = family_alias(sku_row["family_name"], sku_row["category"])
        query = rng.choice([alias, f"samsung {alias}", f"{alias} price", f"buy {alias}", f"{alias} offers",
                            f"{sku_row['category']} under {SYMBOL[region]}{int(sku_row['prices'][region] * 1.1):,}",
                            f"best {sku_row['category']} {alias.split()[0]}"])
        impressions = rng.randint(1, 40)
        row = {"query": _variant(query, rng), "sku": sku_row["sku"], "clicks": min(impressions, 1 + int(rng.expovariate(0.6))) if rng.random() > 0.15 else 0,
               "impressions": impressions, "timestamp": base_ts + rng.randrange(365 * 86400), "region": region}
        roll, mess = rng.random(), None
        for share, kind in MESSY:
            if roll < share:
                mess = kind
                break
            roll -= share
        if mess == "pii":
            row["query"] += rng.choice([f" call me {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}",
                                        f" mail user{i}@example.com"])
        elif mess in ("toxic", "off_domain", "foreign"):
            row["query"] = rng.choice({"toxic": TOXIC, "off_domain": OFF, "foreign": FOREIGN}[mess])
        elif mess == "no_click":
            row["clicks"] = 0
            row["query"] = f"{alias} {rng.choice(['for gaming', 'for my parents', 'with warranty', 'for office'])}"
        elif mess == "malformed":
            bad = rng.choice(MALFORMED)
            if bad is None:
                lines.append('{"query": "broken line", "sku": ')
                continue
            row.update(bad)
        if rng.random() < 0.2:  # string counts, as CSV exports have them
            row["impressions"] = f"{row['impressions']:,}"
        lines.append(json.dumps(row, ensure_ascii=False))
    return lines

