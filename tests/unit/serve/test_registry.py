"""The adapter registry on real files: versions, latest-by-name, deletes, campaigns, and the
checks that keep a client's id or source from becoming a path, a pickle or a request to a host
the client picked."""

import datetime as dt
import json
import socket

import pytest
import torch

from skutune.serve.registry import BadAdapter, Protected, Registry, check_id
from skutune.serve.sources import SourcePolicy


def registry(tmp_path, **caps):
    return Registry(tmp_path / "adapters", SourcePolicy((str(tmp_path),), **caps))


def adapter_dir(path, tag: str):
    from safetensors.torch import save_file

    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"tag": tag}))
    save_file({"w": torch.zeros(2)}, str(path / "adapter_model.safetensors"))
    return path


def test_versions_resolve_latest_and_delete(tmp_path):
    reg = registry(tmp_path)
    a, b = adapter_dir(tmp_path / "a", "a"), adapter_dir(tmp_path / "b", "b")
    assert reg.register("hot", str(a)).id == "hot@1"
    assert reg.register("hot", f"file://{b}").id == "hot@2"
    assert reg.resolve("hot").id == "hot@2"  # the name means its latest version
    assert json.loads((reg.resolve("hot@1").path / "adapter_config.json").read_text())["tag"] == "a"
    assert reg.resolve("hot@9") is None and reg.resolve("cold") is None
    assert reg.delete("hot@2") == ["hot@2"]
    assert reg.resolve("hot").id == "hot@1"  # deleting the latest falls back, never to stale "hot@2"
    assert reg.delete("hot") == ["hot@1"] and reg.entries() == []
    assert len(list((tmp_path / "adapters" / ".deleted").iterdir())) == 2  # moved aside, never removed


def test_trained_adapters_are_neither_shadowed_nor_deleted(tmp_path):
    reg = registry(tmp_path)
    adapter_dir(tmp_path / "adapters" / "search", "trained")  # what jobs/train.py writes: no version
    with pytest.raises(Protected):
        reg.register("search", str(adapter_dir(tmp_path / "new", "new")))
    with pytest.raises(Protected):
        reg.delete("search")
    with pytest.raises(BadAdapter, match="bad adapter name"):
        reg.register("base", str(tmp_path / "new"))
    assert [e.id for e in reg.entries()] == ["search"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "a..b", "UPPER", "", "x@", "x@1@2", "/abs", "a" * 49])
def test_ids_are_never_paths(bad):
    with pytest.raises(BadAdapter):
        check_id(bad)


def test_sources_that_are_pickles_relative_or_not_adapters_are_refused(tmp_path):
    reg = registry(tmp_path)
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
    reg = registry(tmp_path)
    src = adapter_dir(tmp_path / "src", "s")
    reg.register("season", str(src), dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    reg.register("diwali", str(src), dt.date(2026, 11, 1), dt.date(2026, 11, 15), ["IN"])
    assert reg.campaign(dt.date(2026, 11, 5), "IN").name == "diwali"
    assert reg.campaign(dt.date(2026, 11, 5), "US").name == "season"  # not a Diwali region
    assert reg.campaign(dt.date(2026, 11, 20), "IN").name == "season"  # after its window
    assert reg.campaign(dt.date(2027, 1, 5), "IN") is None
    # what a request is served by: its own id, else the live campaign (not for parses), else the default
    day = dt.date(2026, 11, 5)
    assert reg.serving("season", "diwali", day, "IN").name == "season"
    assert reg.serving(None, "season", day, "IN").name == "diwali"
    assert reg.serving(None, "season", day, "IN", campaigns=False).name == "season"
    assert reg.serving(None, "season", dt.date(2027, 1, 5), "IN").name == "season"
    assert reg.serving("nope", "season", day, "IN") is None


@pytest.fixture
def listener():
    """A TCP listener on loopback: an SSRF would connect to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.5)
    yield sock
    sock.close()


def received(sock) -> bool:
    try:
        sock.accept()[0].close()
        return True
    except TimeoutError:
        return False


def test_ssrf_sources_that_pick_a_host_or_leave_the_roots_are_refused(tmp_path, listener):
    reg = registry(tmp_path)
    port = listener.getsockname()[1]
    outside = adapter_dir(tmp_path.parent / f"{tmp_path.name}-outside", "o")
    (tmp_path / "linked").symlink_to(outside)
    for source, reason in [
        (f"s3://bucket/adapter?endpoint_override=127.0.0.1:{port}&scheme=http", "query strings"),
        (f"s3://key:secret@bucket/adapter?endpoint_override=127.0.0.1:{port}", "query strings"),
        (f"s3://key:secret@127.0.0.1:{port}/adapter", "credentials"),
        (f"hdfs://127.0.0.1:{port}/adapter", "scheme 'hdfs'"),
        (f"gs://bucket/adapter#endpoint_override=127.0.0.1:{port}", "query strings"),
        ("s3://any-bucket/adapter", "not under an allowed s3:// prefix"),
        (str(outside), "outside the directories"),
        (str(tmp_path / "linked"), "outside the directories"),
        (f"{tmp_path}/../{outside.name}", "'..'"),
    ]:
        with pytest.raises(BadAdapter, match=reason) as err:
            reg.register("x", source)
        assert "secret" not in str(err.value)
    assert not received(listener)


def test_sources_are_capped_in_files_and_bytes_and_configs_are_checked(tmp_path):
    src = adapter_dir(tmp_path / "src", "s")
    (src / "extra.json").write_text("{}")
    with pytest.raises(BadAdapter, match="3 files; at most 2"):
        registry(tmp_path, max_files=2).register("x", str(src))
    with pytest.raises(BadAdapter, match="bytes; at most 10"):
        registry(tmp_path, max_bytes=10).register("x", str(src))
    (src / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 100000}))
    with pytest.raises(BadAdapter, match="r=100000"):
        registry(tmp_path).register("x", str(src))
    (src / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (src / "adapter_model.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(BadAdapter, match="not a readable safetensors"):
        registry(tmp_path).register("x", str(src))
    assert registry(tmp_path).entries() == []
