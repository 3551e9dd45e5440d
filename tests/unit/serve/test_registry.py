"""The adapter registry on real files: versions, latest-by-name, deletes, campaigns, and the
checks that keep a client's id or source from becoming a path or a pickle."""

import datetime as dt
import json

import pytest

from skutune.serve.registry import BadAdapter, Registry, check_id


def adapter_dir(path, tag: str):
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"tag": tag}))
    (path / "adapter_model.safetensors").write_bytes(tag.encode())
    return path


def test_versions_resolve_latest_and_delete(tmp_path):
    reg = Registry(tmp_path / "adapters")
    a, b = adapter_dir(tmp_path / "a", "a"), adapter_dir(tmp_path / "b", "b")
    assert reg.register("hot", str(a)).id == "hot@1"
    assert reg.register("hot", f"file://{b}").id == "hot@2"
    assert reg.resolve("hot").id == "hot@2"  # the name means its latest version
    assert (reg.resolve("hot@1").path / "adapter_model.safetensors").read_bytes() == b"a"
    assert reg.resolve("hot@9") is None and reg.resolve("cold") is None
    assert reg.delete("hot@2") == ["hot@2"]
    assert reg.resolve("hot").id == "hot@1"  # deleting the latest falls back, never to stale "hot@2"
    assert reg.delete("hot") == ["hot@1"] and reg.entries() == []


@pytest.mark.parametrize("bad", ["../x", "a/b", "a..b", "UPPER", "", "x@", "x@1@2", "/abs", "a" * 49])
def test_ids_are_never_paths(bad):
    with pytest.raises(BadAdapter):
        check_id(bad)


def test_sources_that_are_pickles_relative_or_not_adapters_are_refused(tmp_path):
    reg = Registry(tmp_path / "adapters")
    pickled = adapter_dir(tmp_path / "pickled", "p")
    (pickled / "adapter_model.bin").write_bytes(b"never unpickled")
    (tmp_path / "empty").mkdir()
    for source, reason in [
        (str(pickled), "pickled weights"),
        ("relative/dir", "absolute path"),
        (str(tmp_path / "empty"), "not an adapter"),
        (str(tmp_path / "missing"), "cannot read"),
    ]:
        with pytest.raises(BadAdapter, match=reason):
            reg.register("x", source)
    with pytest.raises(BadAdapter, match="bad adapter name"):
        reg.register("../x", str(adapter_dir(tmp_path / "ok", "ok")))
    assert not (tmp_path / "adapters").exists() or reg.entries() == []


def test_campaign_is_chosen_by_date_and_region_latest_start_wins(tmp_path):
    reg = Registry(tmp_path / "adapters")
    src = adapter_dir(tmp_path / "src", "s")
    reg.register("season", str(src), dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    reg.register("diwali", str(src), dt.date(2026, 11, 1), dt.date(2026, 11, 15), ["IN"])
    assert reg.campaign(dt.date(2026, 11, 5), "IN").name == "diwali"
    assert reg.campaign(dt.date(2026, 11, 5), "US").name == "season"  # not a Diwali region
    assert reg.campaign(dt.date(2026, 11, 20), "IN").name == "season"  # after its window
    assert reg.campaign(dt.date(2027, 1, 5), "IN") is None
