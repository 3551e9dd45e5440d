"""Curate on real Ray Data: bad rows are quarantined with a reason, nothing is lost, and
only assistant tokens carry labels."""

import json

import pyarrow.csv
import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from helpers import demo_store, tiny_config
from skutune.data.curate import run_curate
from skutune.demo.catalog import build_catalog
from skutune.demo.examples import build_examples, sample_split
from skutune.prompts import answer_text


def _write_jsonl(path, lines):
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines)
    )


@pytest.fixture(scope="module")
def dirty(tmp_path_factory, ray_local, tiny_model_dir):
    """A catalog and examples with injected bad rows, curated through data.source=files."""
    d = tmp_path_factory.mktemp("dirty")
    catalog = build_catalog()
    bad_catalog = [
        "{not json",
        {k: v for k, v in catalog[0].items() if k != "sku"},  # no id (an unsafe id is mapped: test_scraped.py)
        {**catalog[1], "prices": {"IN": -5}},
        {k: v for k, v in catalog[2].items() if k != "title"},
        {**catalog[3], "regions": ["MARS"]},
        catalog[4],  # duplicate SKU
        "[1, 2, 3]",
        '{"sku": ' + "[" * 100_000 + "]" * 100_000 + "}",  # nested_json: past Python's recursion limit
    ]
    _write_jsonl(d / "catalog.jsonl", catalog + bad_catalog)
    rows = build_examples()
    good = sample_split(rows, "train", 4) + sample_split(rows, "test", 1)
    bad_examples = [
        {**good[0], "id": "x1", "target": {"skus": ["NOPE-1"]}, "relevant": ["NOPE-1"]},
        {**good[1], "id": "x2", "kind": "shopping"},
        {**good[2], "id": "x3", "target": {"skus": "RT345-SV"}},
        {**good[3], "id": "x4", "query": ""},
        "\x00garbage",
        {**good[4], "id": "dup"},  # same split, region and query as good[4]
        '{"query": {"q": ' * 50_000 + "1" + "}" * 100_000,
    ]
    _write_jsonl(d / "examples.jsonl", good + bad_examples)
    # a line in Latin-1, not UTF-8 (Ray's read_text fails the whole read on it), and a 1 MB string
    for path, huge in (
        (d / "catalog.jsonl", {**catalog[5], "title": "x" * 1_000_000}),
        (d / "examples.jsonl", {**good[0], "id": "x5", "query": "x" * 1_000_000}),
    ):
        with path.open("ab") as f:
            f.write('{"sku": "CAFE-1", "query": "café crème"}\n'.encode("latin-1") + json.dumps(huge).encode() + b"\n")
    cfg = tiny_config(
        d / "run",
        **{
            "data.source": "files",
            "data.catalog_path": str(d / "catalog.jsonl"),
            "data.examples_path": str(d / "examples.jsonl"),
        },
    )
    return cfg, run_curate(cfg, tiny_model_dir), len(catalog), len(good)


def test_rows_are_conserved_and_quarantined_with_reasons_nested_json_included(dirty):
    cfg, manifest, n_catalog, n_good = dirty
    cat, exs = manifest["catalog"], manifest["examples"]
    assert cat["rows_in"] == n_catalog + 10 and cat["rows_out"] == n_catalog
    assert sum(cat["quarantined"].values()) == 9 and cat["removed"] == {"duplicate sku": 1}
    assert exs["rows_in"] == n_good + 9 and exs["rows_out"] == n_good
    assert sum(exs["quarantined"].values()) == 8 and exs["removed"] == {"exact dedup: duplicate": 1}
    for part in (cat, exs):
        assert part["rows_in"] == part["rows_out"] + sum(part["quarantined"].values()) + sum(part["removed"].values())
    lines = [json.loads(line) for line in (cfg.output_dir() / "data" / "quarantine.jsonl").read_text().splitlines()]
    assert len(lines) == 17 and all(q["reason"] and q["raw"] for q in lines)
    reasons = " ".join(q["reason"] for q in lines)
    for expected in (
        "not valid JSON",
        "sku",
        "every price must be positive",
        "title",
        "regions",
        "unknown SKU NOPE-1",
        "kind",
        "query",
        "not valid UTF-8",
        "at most 400 characters",
        "at most 500 characters",
        "nested too deeply",
    ):
        assert expected in reasons, expected


def test_csv_catalog_with_column_mapping(tmp_path, ray_local, tiny_model_dir):
    rows = build_catalog()[:30]
    table = pyarrow.Table.from_pylist(
        [
            {
                "product_id": r["sku"],
                "name": r["title"],
                **{
                    k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                    for k, v in r.items()
                    if k not in ("sku", "title")
                },
            }
            for r in rows
        ]
    )
    pyarrow.csv.write_csv(table, tmp_path / "catalog.csv")
    examples = [e for e in build_examples() if set(e["relevant"]) <= {r["sku"] for r in rows} and e["relevant"]][:6]
    _write_jsonl(tmp_path / "examples.jsonl", examples)
    cfg = tiny_config(
        tmp_path / "run",
        **{
            "data.source": "files",
            "data.catalog_path": str(tmp_path / "catalog.csv"),
            "data.examples_path": str(tmp_path / "examples.jsonl"),
            "data.catalog_columns": {"product_id": "sku", "name": "title"},
        },
    )
    manifest = run_curate(cfg, tiny_model_dir)
    assert manifest["catalog"]["rows_out"] == 30 and not manifest["catalog"]["quarantined"]
    assert manifest["examples"]["rows_out"] + sum(manifest["examples"]["removed"].values()) == len(examples)


def test_a_job_reads_its_checkpoints_with_rays_v1_parquet_reader(dirty, ray_local):
    """Ray 2.60's default reader cost curate about 2 s per stage read back (configure_data); the
    driver's setting travels with every dataset, so the plan shows which reader ran."""
    cfg, _, _, _ = dirty
    ds = ray_local.data.read_parquet(str(cfg.run_dir().train("answer"))).materialize()
    assert ds.count() > 0 and "ReadParquet" in ds.stats() and "ListFiles" not in ds.stats(), ds.stats()


def test_csv_encoding_and_mixed_folders_read_every_row_as_text(tmp_path, ray_local):
    """A folder with a CSV holding one Latin-1 row and a price with a thousands comma after
    numeric ones, a gzipped JSONL with an over-long line, and the files a desktop leaves behind."""
    import gzip

    from skutune.data.readers import MAX_ROW_BYTES, read_rows

    d = tmp_path / "log"
    d.mkdir()
    rows = b"query,price\nfridge,100\ntv,200\n" + "caf\xe9 cr\xe8me,300\n".encode("latin-1") + b'phone,"1,200"\n'
    (d / "part-0.csv").write_bytes(rows + b"ac,1,extra\n")
    (d / "part-1.jsonl.gz").write_bytes(gzip.compress(b'{"query": "oven"}\n' + b"x" * (MAX_ROW_BYTES + 1) + b"\n{}\n"))
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (d / "_SUCCESS").write_text("")
    got = [r["row_json"] for r in read_rows(d).take_all()]
    good = sorted(json.loads(r)["query"] for r in got if r.startswith("{") and r != "{}")
    assert good == ["fridge", "oven", "phone", "tv"]  # text, never "b'fridge'"
    assert json.loads(next(r for r in got if "phone" in r))["price"] == "1,200"
    bad = sorted(r.split("\x00")[2] for r in got if r.startswith("\x00"))
    assert bad == ["CSV row has 3 fields, the header 2", f"line over {MAX_ROW_BYTES} bytes", "not valid UTF-8 (byte 3)"]
    assert len(got) == 8


@pytest.mark.parametrize("target", ["answer", "parse"])
def test_only_assistant_tokens_carry_labels(tiny_curated, tiny_model_dir, target):
    cfg, manifest = tiny_curated
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    table = pq.read_table(cfg.output_dir() / "data" / "train" / target)
    examples = {
        json.loads(line)["id"]: json.loads(line)
        for line in (cfg.output_dir() / "raw" / "examples.jsonl").read_text().splitlines()
    }
    assert table.num_rows == manifest["examples"]["train"] > 0
    system = demo_store().system(target)
    for row in table.to_pylist():
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) == len(labels)
        first = next(i for i, y in enumerate(labels) if y != -100)
        assert all(y == -100 for y in labels[:first]) and labels[first:] == ids[first:]
        expected = examples[row["id"]]["target" if target == "answer" else "parse"]
        assert tok.decode(ids[first:]) == answer_text(expected) + tok.eos_token
        assert "<|im_start|>assistant" in tok.decode(ids[:first]) and system in tok.decode(ids[:first])


@pytest.mark.parametrize("target", ["answer", "parse"])
def test_messages_jsonl_is_what_the_parquet_tokenizes(tiny_curated, tiny_model_dir, target):
    """Curated data also leaves as chat `messages` JSONL, for TRL or axolotl: `datasets` loads it,
    and the chat template over a row's messages is the Parquet row's text, up to the answer's end."""
    from datasets import load_dataset

    cfg, manifest = tiny_curated
    rd, tok = cfg.run_dir(), AutoTokenizer.from_pretrained(tiny_model_dir)
    parquet = {r["id"]: r["input_ids"] for r in pq.read_table(rd.train(target)).to_pylist()}
    train = load_dataset("json", data_files=str(rd.messages("train", target)), split="train")
    assert (
        sorted(train["id"]) == sorted(parquet)
        and len(train) == manifest["examples"]["messages_jsonl"][f"train_{target}"]
    )
    for row in train:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        text = tok.apply_chat_template(row["messages"], tokenize=False)
        answer_end = text.index(tok.eos_token, text.index("<|im_start|>assistant")) + len(tok.eos_token)
        ids = parquet[row["id"]]
        if len(ids) < cfg.data.max_length:  # a row cut at max_length ends early
            assert tok.decode(ids) == text[:answer_end]
    test = [json.loads(line) for line in rd.messages("test", target).read_text().splitlines()]
    held = [e for e in map(json.loads, rd.test.read_text().splitlines()) if target == "answer" or e.get("parse")]
    assert [r["id"] for r in test] == [e["id"] for e in held] and test


def test_messages_jsonl_in_curates_to_the_same_training_rows(tiny_curated, tiny_model_dir, tmp_path):
    """Chat data in, the other way: the curated `messages` JSONL (what TRL or axolotl would read)
    given back as examples (data.chat.format messages) tokenizes to the same training rows of both
    targets, and a chat that is not one exchange is quarantined with its reason."""
    cfg, _ = tiny_curated
    rd = cfg.run_dir()
    chats = tmp_path / "chats"
    chats.mkdir()
    for split in ("train", "test"):
        (chats / f"{split}.jsonl").write_text(rd.messages(split, "answer").read_text())
    turns = json.loads(rd.messages("train", "answer").read_text().splitlines()[0])["messages"]
    _write_jsonl(chats / "bad.jsonl", [{"messages": turns + turns[1:]}])
    again = tiny_config(
        tmp_path / "again",
        **{
            "data.source": "files",
            "data.catalog_path": str(rd.catalog),
            "data.examples_path": str(chats),
            "data.chat.format": "messages",
        },
    )
    manifest = run_curate(again, tiny_model_dir)
    for target in ("answer", "parse"):  # an answer chat carries its parse: both targets come back
        before = {r["id"]: r["input_ids"] for r in pq.read_table(rd.train(target)).to_pylist()}
        after = {r["id"]: r["input_ids"] for r in pq.read_table(again.run_dir().train(target)).to_pylist()}
        assert after == before and before, target
    assert manifest["examples"]["quarantined"] == {"messages: not one user turn then one assistant turn": 1}
