"""Curation stages on hand-made data with known answers: filters, exact / near / semantic dedup,
decontamination, the catalog-grounded grader on the notes' fridge example, distillation with
rejection sampling (an OpenAI-compatible teacher over real HTTP, and the embedded model),
a messy catalog and a messy query log. One real Ray Data run covers the pipeline; the pure
functions are checked directly."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import FRIDGE, demo_store, fridge_example, tiny_config
from skutune.config import DistillConfig
from skutune.data.curate import run_curate
from skutune.data.stages import COLUMNS
from skutune.data.teacher import Distill, LocalTeacher, source_and_key
from skutune.demo.catalog import build_catalog
from skutune.demo.examples import build_examples, sample_split

STORE = demo_store()

NOTES_CANDIDATES = [
    "Galaxy S24 Ultra is best.",
    "Samsung 345L Double Door Refrigerator fits a family of 4.",
    "Buy any fridge from Amazon.",
]
KEY_ENV = "SKUTUNE_TEST_TEACHER_KEY"


# --- the pipeline on real Ray Data --------------------------------------------------------


class _Teacher(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint whose "model" always answers with the notes' three candidates."""

    seen = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Teacher.seen.append((self.path, self.headers.get("Authorization"), body))
        choices = [
            {"index": i, "message": {"role": "assistant", "content": c}}
            for i, c in enumerate(NOTES_CANDIDATES[: body["n"]])
        ]
        data = json.dumps({"object": "chat.completion", "choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _messy_catalog(catalog):
    good = [
        {
            "sku": "hx300-sv",
            "title": "Samsung 300L Fridge &amp; Freezer",
            "category": "Home > Kitchen > Refrigerators",
            "price": "₹32,990",
            "currency": "INR",
            "attributes": "Capacity: 300 L | Inverter: Yes",
            "rating": "N/A",
        },
        {
            "sku": "HX301-BK",
            "title": "Samsung 301L Fridge",
            "category": "refrigerator",
            "price": "₹1,02,990",
            "currency": "INR",
            "rating": "4.3 out of 5",
        },
        {
            "sku": "HX302-GY",
            "title": "Samsung 345L 冷蔵庫",
            "category": "refrigerator",
            "price": "$1,299.00",
            "currency": "USD",
        },
    ]
    bad = [
        (
            {
                "sku": "HX400-SV",
                "title": "Samsung Fridge",
                "category": "refrigerator",
                "price": "call for price",
                "currency": "INR",
            },
            "price: no amount in 'call for price'",
        ),
        (
            {
                "sku": "HX401-SV",
                "title": "Samsung Fridge",
                "category": "refrigerator",
                "price": "12",
                "currency": "BTC",
            },
            "unknown currency",
        ),
        (
            {
                "sku": "HX402-SV",
                "title": "冷蔵庫 ダブルドア",
                "category": "refrigerator",
                "price": "¥90000",
                "currency": "INR",
            },
            "no English text",
        ),
        ({"sku": "", "title": "", "category": ""}, "blank row"),
        ('{"sku": "HX403-SV", "title": ', "not valid JSON"),
    ]
    return catalog + good, good, bad


def _log_rows():
    rows = [
        {
            "query": q,
            "sku": "S24-128-BK",
            "clicks": c,
            "impressions": 20,
            "timestamp": "2026-11-01T10:00:00Z",
            "region": "IN",
        }
        for q, c in (("Galaxy S24", 5), ("galaxy s24!", 2), ("GALAXY  S24", 1))
    ]
    rows += [
        {
            "query": "galaxy s24",
            "sku": "S24-256-BK",
            "clicks": 9,
            "impressions": "1,200",
            "timestamp": 1_790_000_000,
            "region": "in",
        },
        {"query": FRIDGE, "sku": "RT345-SV", "clicks": 0, "impressions": 4, "timestamp": "2026-11-02", "region": "IN"},
        {
            "query": "samsung tv for my parents",
            "sku": "RT345-SV",
            "clicks": 0,
            "impressions": 3,
            "timestamp": "2026-11-02",
            "region": "IN",
        },
        {
            "query": "galaxy s24 mail me at jo@example.com",
            "sku": "S24-128-BK",
            "clicks": 1,
            "impressions": 2,
            "timestamp": "2026-11-03",
            "region": "IN",
        },
    ]
    bad = [
        {
            "query": "galaxy s24",
            "sku": "S24-128-BK",
            "clicks": "many",
            "impressions": 3,
            "timestamp": "2026-11-03",
            "region": "IN",
        },
        {"query": "", "sku": "S24-128-BK", "clicks": 1, "impressions": 3, "timestamp": "2026-11-03", "region": "IN"},
        {
            "query": "galaxy s24",
            "sku": "S24-128-BK",
            "clicks": 1,
            "impressions": 3,
            "timestamp": "2026-11-03",
            "region": "XX",
        },
        {
            "query": "galaxy s24",
            "sku": "NOPE-1",
            "clicks": 1,
            "impressions": 3,
            "timestamp": "2026-11-03",
            "region": "IN",
        },
    ]
    return [json.dumps(r, ensure_ascii=False) for r in rows + bad] + ['{"query": "broken'], len(bad) + 1


def _example(kind, query, region, skus, split="train", id_=None):
    return {
        "id": id_ or f"{split}-hand-{abs(hash((query, region))) % 10**8}",
        "kind": kind,
        "task": "search",
        "split": split,
        "query": query,
        "region": region,
        "date": "2026-06-01",
        "target": {"skus": skus[:3]},
        "relevant": skus,
        "constraints": {"region": region},
    }


@pytest.fixture(scope="module")
def curated(tmp_path_factory, ray_local, tiny_model_dir):
    d = tmp_path_factory.mktemp("curation")
    catalog = build_catalog()
    full_catalog, messy_good, messy_bad = _messy_catalog(catalog)
    (d / "catalog.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in full_catalog)
        + "".join((b if isinstance(b, str) else json.dumps(b, ensure_ascii=False)) + "\n" for b, _ in messy_bad)
    )
    rows = build_examples()
    base = sample_split(rows, "train", 2) + sample_split(rows, "test", 1)
    phones = [r["sku"] for r in catalog if r["category"] == "phone" and "US" in r["regions"]][:3]
    tvs = [r["sku"] for r in catalog if r["category"] == "tv" and "US" in r["regions"]][:3]
    test_q = next(r for r in base if r["split"] == "test" and len(r["query"].split()) >= 4)
    planted = [
        _example("vague", "best samsung phone for students", "US", phones, id_="train-p0"),
        _example("vague", "best samsung phones for students", "US", phones, id_="train-p1"),  # near duplicate of p0
        _example(
            "vague", "which samsung phone is best for students", "US", phones, id_="train-p2"
        ),  # paraphrase: semantic
        _example(
            "vague", "best samsung tv for students", "US", tvs, id_="train-p3"
        ),  # similar words, other answer: kept
        _example(
            "vague", "BEST Samsung phone, for students!", "US", phones, id_="train-p4"
        ),  # exact after normalisation
        {**test_q, "id": "train-contaminated", "split": "train", "query": f"{test_q['query']} today"},
        _example("vague", "stupid samsung phone for students", "US", phones, id_="train-toxic"),
        _example("competitor", "buy iphone 15 pro", "US", phones, id_="train-offdomain"),
        _example("vague", "samsung phone for students call me +1 415 555 0134", "US", phones, id_="train-pii"),
    ]
    (d / "examples.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in base + planted))
    log_lines, n_bad_log = _log_rows()
    (d / "log.jsonl").write_text("".join(line + "\n" for line in log_lines))

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Teacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ[KEY_ENV] = "test-key"
    cfg = tiny_config(
        d / "run",
        **{
            "data.source": "files",
            "data.catalog_path": str(d / "catalog.jsonl"),
            "data.examples_path": str(d / "examples.jsonl"),
            "curate.log_path": str(d / "log.jsonl"),
            "curate.off_domain": "policy",
            "curate.semantic_dedup.enabled": True,
            "curate.distill.enabled": True,
            "curate.distill.teacher": f"http://127.0.0.1:{server.server_address[1]}/v1",
            "curate.distill.api_key_env": KEY_ENV,
            "curate.distill.candidates": 3,
        },
    )
    try:
        manifest = run_curate(cfg, tiny_model_dir)
    finally:
        server.shutdown()
    out = cfg.output_dir() / "data"
    removed = [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]
    train = {r["id"]: r for r in pq.read_table(out / "train" / "answer").to_pylist()}
    return dict(
        cfg=cfg,
        manifest=manifest,
        out=out,
        removed=removed,
        train=train,
        base=base,
        messy_good=messy_good,
        messy_bad=messy_bad,
        n_bad_log=n_bad_log,
        test_q=test_q,
    )


def _removed_ids(c, reason):
    return {r["row"]["id"] for r in c["removed"] if r["reason"] == reason}


def test_dedup_stages_catch_known_duplicates_and_keep_distinct_rows(curated):
    assert _removed_ids(curated, "exact dedup: duplicate") == {"train-p4"}
    assert _removed_ids(curated, "near dedup: near duplicate") == {"train-p1"}
    assert _removed_ids(curated, "semantic dedup: paraphrase with the same answer") == {"train-p2"}
    assert {"train-p0", "train-p3"} <= set(curated["train"])
    near = next(r for r in curated["removed"] if r["row"]["id"] == "train-p1")
    assert near["detail"] == "duplicate of: best samsung phone for students"


def test_decontamination_catches_the_planted_overlap(curated):
    hit = [r for r in curated["removed"] if r["reason"] == "decontam: shares an n-gram with an eval set"]
    assert [r["row"]["id"] for r in hit] == ["train-contaminated"]
    assert (
        " ".join(curated["test_q"]["query"].lower().split()) in hit[0]["detail"]
        or hit[0]["detail"] in curated["test_q"]["query"].lower()
    )
    test_ids = {json.loads(line)["id"] for line in (curated["out"] / "test.jsonl").read_text().splitlines()}
    assert curated["test_q"]["id"] in test_ids  # the eval row itself stays


def _decoded(curated, pred=lambda r: True) -> list[str]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(curated["manifest"]["model_dir"])
    return [tok.decode(r["input_ids"]) for r in curated["train"].values() if pred(r)]


def test_filters_in_the_pipeline(curated):
    assert _removed_ids(curated, "filter: toxic") == {"train-toxic"}
    ex = curated["manifest"]["examples"]
    assert ex["changed"]["off-domain to policy: competitor_purchase"] == 1 and ex["changed"]["pii scrubbed"] == 1
    [pii] = _decoded(curated, lambda r: r["id"] == "train-pii")
    assert "555" not in pii and "<phone>" in pii
    [offdomain] = _decoded(curated, lambda r: r["id"] == "train-offdomain")
    assert '{"refusal":"competitor_purchase"}' in offdomain


def test_query_log_becomes_ranked_targets_and_distillation_keeps_the_345l_fridge(curated):
    log = curated["manifest"]["log"]
    assert log["rows_in"] == 7 + curated["n_bad_log"] and sum(log["quarantined"].values()) == curated["n_bad_log"]
    assert log["pii_scrubbed"] == 1 and log["zero_click_examples"] == 2
    texts = _decoded(curated, lambda r: r["kind"] == "logged")
    s24 = [t for t in texts if "] galaxy s24<" in t]
    assert len(s24) == 1 and '{"skus":["S24-256-BK","S24-128-BK"]}' in s24[0]  # 9 clicks beat 5 + 2 + 1 across variants
    fridge = [t for t in texts if "family of 4" in t]
    assert len(fridge) == 1 and '{"skus":["RT345-' in fridge[0]  # distilled: the notes' R2, grounded to its SKU
    tv = [r for r in curated["removed"] if r["row"]["query"] == "samsung tv for my parents"]
    assert [r["reason"] for r in tv] == ["distill: no candidate passed the grader"]
    report = json.loads((curated["cfg"].output_dir() / "curation.json").read_text())
    assert report["distill"] == {"prompts": 2, "accepted": 1, "acceptance_rate": 0.5}
    path, auth, body = _Teacher.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer test-key" and body["n"] == 3


def test_messy_catalog_rows_are_parsed_or_quarantined_with_a_reason(curated):
    cat = {r["sku"]: r for r in map(json.loads, (curated["out"] / "catalog.jsonl").read_text().splitlines())}
    assert cat["HX300-SV"]["title"] == "Samsung 300L Fridge & Freezer" and cat["HX300-SV"]["prices"] == {"IN": 32990}
    assert cat["HX300-SV"]["category"] == "refrigerators" and cat["HX300-SV"]["attributes"] == {
        "capacity": 300,
        "inverter": True,
    }
    assert (
        cat["HX300-SV"]["rating"] is None
        and cat["HX301-BK"]["rating"] == 4.3
        and cat["HX301-BK"]["prices"] == {"IN": 102990}
    )
    assert cat["HX302-GY"]["title_en"] == "Samsung 345L" and cat["HX302-GY"]["title_ja"] == "Samsung 345L 冷蔵庫"
    quarantine = [json.loads(line) for line in (curated["out"] / "quarantine.jsonl").read_text().splitlines()]
    catalog_q = [q for q in quarantine if q["source"] == "catalog"]
    assert len(catalog_q) == len(curated["messy_bad"])
    for (_, expected), q in zip(curated["messy_bad"], catalog_q):
        assert expected in q["reason"] and q["raw"], (expected, q)
    assert all(q["reason"] for q in quarantine)


def test_every_row_is_accounted_for_and_reported(curated):
    m, out = curated["manifest"], curated["out"]
    ex = m["examples"]
    assert ex["rows_in"] == ex["rows_out"] + sum(ex["quarantined"].values()) + sum(ex["removed"].values())
    assert ex["rows_in"] == len(curated["base"]) + 9 + m["log"]["examples_out"]
    assert len(curated["removed"]) == sum(ex["removed"].values())
    assert ex["train"] == len(curated["train"]) and ex["test"] == len((out / "test.jsonl").read_text().splitlines())
    run = curated["cfg"].output_dir()
    report = json.loads((run / "curation.json").read_text())
    assert report["stages"][0]["in"] == ex["rows_in"] and report["stages"][-1]["out"] == ex["rows_out"]
    assert all(report["stages"][i]["out"] == report["stages"][i + 1]["in"] for i in range(len(report["stages"]) - 1))
    assert set(report["samples"]) == {f"quarantine: {k}" for k in ex["quarantined"]} | set(ex["removed"])
    md = (run / "curation.md").read_text()
    assert "| near dedup |" in md and "## Query log" in md
    for png in ("curation_lengths.png", "curation_scores.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_embedded_teacher_writes_graded_candidates(tmp_path):
    """The local teacher path on the embedded SmolLM2: N sampled candidates per prompt, each
    graded; a row with no passing candidate is dropped with a reason."""
    catalog = build_catalog()
    (tmp_path / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in catalog))
    cfg = DistillConfig(enabled=True, teacher="embedded", candidates=3, max_new_tokens=24)
    source, _ = source_and_key(cfg)
    teacher = LocalTeacher(source, cfg)
    assert [len(c) for c in teacher.candidates([[{"role": "user", "content": "fridge"}]] * 2)] == [3, 3]
    ex = {**fridge_example(catalog), "id": "z", "split": "train"}
    df = pd.DataFrame([{**COLUMNS, "id": "z", "row_json": json.dumps(ex)}])
    out = Distill(cfg, source, str(tmp_path / "catalog.jsonl"), "", STORE)(df)
    assert (
        out.at[0, "candidates"] == 3
        and len(out.at[0, "candidate_scores"].split(",")) == 3
        and 0 <= out.at[0, "score"] <= 1
    )
    assert out.at[0, "drop"] in ("", "distill: no candidate passed the grader")


def test_dedup_finds_duplicates_spread_over_many_blocks(ray_local, tmp_path):
    """600 distinct rows, each with an exact variant and a near variant, shuffled over 12 blocks:
    the hash shuffles bring every pair together, and only the originals survive."""
    import random

    import ray

    from skutune.data.curate import _dedup

    rng = random.Random(0)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9))) for _ in range(3000)]
    rows = []
    for i in range(600):
        text = " ".join(rng.sample(vocab, 16))
        near = text[:-1] + ("x" if text[-1] != "x" else "y")  # one character changed at the end
        for prefix, query in (("a", text), ("b", text.upper() + "!"), ("c", near)):
            rows.append(
                {
                    **COLUMNS,
                    "id": f"{prefix}-{i:04d}",
                    "split": "train",
                    "region": "IN",
                    "query": query,
                    "key": "train|IN|" + " ".join(query.lower().strip("!").split()),
                    "text": query.lower().strip("!"),
                    "row_json": "{}",
                    "source": "examples",
                }
            )
    rng.shuffle(rows)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    stream = ray.data.from_pandas([frame.iloc[i::12] for i in range(12)])
    cfg = tiny_config(tmp_path / "run", **{"curate.partitions": 4})
    final, n_in = _dedup(cfg, stream, tmp_path / "work", seconds={})
    result = final.select_columns(["id", "drop"]).to_pandas()
    assert n_in == len(rows) == len(result)
    kept = set(result.loc[result["drop"] == "", "id"])
    assert kept == {f"a-{i:04d}" for i in range(600)}
    assert set(result.loc[result["drop"] == "exact dedup: duplicate", "id"]) == {f"b-{i:04d}" for i in range(600)}
    assert set(result.loc[result["drop"] == "near dedup: near duplicate", "id"]) == {f"c-{i:04d}" for i in range(600)}
