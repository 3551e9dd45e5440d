"""The parse cache's table: keys, versions followed like the index, and a table built with other
serving settings, or by an adapter's other weights, never answering (its texts would not be what
this app decodes)."""

import datetime as dt
import json

from skutune.runtime.paths import write_jsonl
from skutune.search.index import make_live, new_version_dir
from skutune.serve.args import AppArgs
from skutune.serve.parse_cache import TABLE, ParseCache, settings

DAY = dt.date(2026, 12, 6)
ARGS = AppArgs(run_dir="runs/x")


def publish(root, entries, app=ARGS):
    out = new_version_dir(root)
    write_jsonl(out / TABLE, entries)
    (out / "meta.json").write_text(json.dumps({"settings": settings(app), "adapters": {"understand": "d1"}}))
    make_live(root, out)
    return out


def entry(query, text, adapter="understand", target="parse", region="IN", date=DAY.isoformat()):
    return {"adapter": adapter, "target": target, "region": region, "date": date, "query": query, "text": text}


def test_a_hit_needs_the_same_adapter_target_region_and_day(tmp_path):
    publish(tmp_path, [entry("samsung fridge", '{"intent":"search"}')])
    table = ParseCache.live(tmp_path, None, settings(ARGS))
    assert table.get("understand", "d1", "parse", "IN", DAY, "  Samsung   FRIDGE ") == '{"intent":"search"}'
    for miss in (
        ("understand@2", "d1", "parse", "IN", DAY, "samsung fridge"),
        ("understand", "d2", "parse", "IN", DAY, "samsung fridge"),  # retrained since: other weights
        ("understand", "d1", "answer", "IN", DAY, "samsung fridge"),
        ("understand", "d1", "parse", "US", DAY, "samsung fridge"),
        ("understand", "d1", "parse", "IN", DAY + dt.timedelta(days=1), "samsung fridge"),
        ("understand", "d1", "parse", "IN", DAY, "samsung fridges"),
    ):
        assert table.get(*miss) is None, miss


def test_replicas_follow_current_and_hold_a_version_until_it_moves(tmp_path):
    assert ParseCache.live(tmp_path, None, settings(ARGS)) is None  # no table yet: every request a miss
    first = publish(tmp_path, [entry("tv", "a")])
    held = ParseCache.live(tmp_path, None, settings(ARGS))
    assert held.dir == first and ParseCache.live(tmp_path, held, settings(ARGS)) is held
    second = publish(tmp_path, [entry("tv", "b")])
    moved = ParseCache.live(tmp_path, held, settings(ARGS))
    assert moved.dir == second and moved.get("understand", "d1", "parse", "IN", DAY, "tv") == "b"


def test_a_table_built_with_other_settings_answers_nothing(tmp_path):
    publish(tmp_path, [entry("tv", "a")], AppArgs(run_dir="runs/x", parse_max_new_tokens=16))
    table = ParseCache.live(tmp_path, None, settings(ARGS))
    assert table is not None and table.get("understand", "d1", "parse", "IN", DAY, "tv") is None
    assert ParseCache.live(tmp_path, table, settings(ARGS)) is table  # held, not re-read per request


def test_without_a_run_dir_or_a_path_there_is_no_cache():
    assert AppArgs(adapters_dir="a", catalog="c", index="i", store="s").parse_cache_dir() is None
    assert str(ARGS.parse_cache_dir()) == "runs/x/parse_cache"


def test_an_adapter_digest_follows_its_weights_not_its_directory(tmp_path):
    import shutil

    import torch
    from safetensors.torch import save_file

    from skutune.serve.cards import Digests

    one = tmp_path / "one"
    one.mkdir()
    save_file({"w": torch.zeros(2)}, str(one / "adapter_model.safetensors"))
    (one / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    digests = Digests()
    first = digests.of(one)
    assert Digests().of(shutil.copytree(one, tmp_path / "copy")) == first  # another node's mirror: the same
    save_file({"w": torch.ones(2)}, str(one / "adapter_model.safetensors"))  # retrained in place
    assert digests.of(one) != first
