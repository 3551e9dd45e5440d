"""A messy synthetic query log over the demo catalog: casing and punctuation variants,
misspellings, PII, abuse, off-domain and non-English queries and malformed rows, at the rates
real logs have them. The demo's curate run and jobs/bench_curate.py use it."""

import datetime as dt
import json
import random

from skutune.data.coldstart import family_alias, misspell
from skutune.demo.catalog import SYMBOL

MESSY = [  # (share of rows, what goes wrong)
    (0.02, "pii"),
    (0.005, "toxic"),
    (0.01, "off_domain"),
    (0.005, "foreign"),
    (0.01, "malformed"),
    (0.1, "no_click"),
]
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
        query = rng.choice(
            [
                alias,
                f"samsung {alias}",
                f"{alias} price",
                f"buy {alias}",
                f"{alias} offers",
                f"{sku_row['category']} under {SYMBOL[region]}{int(sku_row['prices'][region] * 1.1):,}",
                f"best {sku_row['category']} {alias.split()[0]}",
            ]
        )
        impressions = rng.randint(1, 40)
        row = {
            "query": _variant(query, rng),
            "sku": sku_row["sku"],
            "clicks": min(impressions, 1 + int(rng.expovariate(0.6))) if rng.random() > 0.15 else 0,
            "impressions": impressions,
            "timestamp": base_ts + rng.randrange(365 * 86400),
            "region": region,
        }
        roll, mess = rng.random(), None
        for share, kind in MESSY:
            if roll < share:
                mess = kind
                break
            roll -= share
        if mess == "pii":
            row["query"] += rng.choice(
                [f" call me {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}", f" mail user{i}@example.com"]
            )
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
