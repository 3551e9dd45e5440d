"""Runs in object storage (runtime/storage.py): where the local mirror lies, and URIs that would
put a secret or an endpoint into a config are refused when the config loads."""

import pytest

from helpers import tiny_config
from skutune.config import ConfigError
from skutune.runtime.paths import mirror_of
from skutune.runtime.storage import is_uri


def test_a_run_in_a_bucket_is_worked_on_in_a_local_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("SKUTUNE_RUNS", str(tmp_path))
    cfg = tiny_config(tmp_path, **{"run.output_dir": "s3://bucket/runs/tiny/"})
    assert cfg.remote_dir() == "s3://bucket/runs/tiny"
    assert cfg.output_dir() == mirror_of("s3://bucket/runs/tiny") == tmp_path / "remote/s3/bucket/runs/tiny"
    assert cfg.run_dir().manifest.is_relative_to(cfg.output_dir())
    assert tiny_config(tmp_path).remote_dir() is None and not is_uri("file:///tmp/x") and not is_uri("/tmp/x")


def test_the_index_and_the_adapter_registry_may_live_in_buckets_of_their_own(tmp_path, monkeypatch):
    monkeypatch.setenv("SKUTUNE_RUNS", str(tmp_path))
    uris = {"index.dir": "s3://indexes/store", "serve.adapters_dir": "gs://models/adapters"}
    cfg = tiny_config(tmp_path, **{"run.output_dir": "s3://bucket/runs/tiny"}, **uris)
    assert [uri for uri, _ in cfg.remote_dirs()] == ["s3://bucket/runs/tiny", *uris.values()]
    assert cfg.index_dir() == mirror_of("s3://indexes/store") == tmp_path / "remote/s3/indexes/store"
    assert cfg.adapter_dir("search") == tmp_path / "remote/gs/models/adapters/search"  # where train publishes
    local = tiny_config(tmp_path, **{"serve.adapters_dir": str(tmp_path / "registry")})
    assert local.remote_dirs() == [] and local.adapter_dir("search") == tmp_path / "registry/search"


@pytest.mark.parametrize("key", ["run.output_dir", "index.dir", "serve.adapters_dir"])
def test_every_directory_that_takes_a_uri_refuses_one_with_a_secret(tmp_path, key):
    with pytest.raises(ConfigError, match=f"{key}: .*no credentials"):
        tiny_config(tmp_path, **{key: "s3://key:secret@bucket/x"})


@pytest.mark.parametrize(
    "uri, reason",
    [
        ("s3://key:secret@bucket/runs", "no credentials"),
        ("s3://bucket/runs?endpoint_override=evil:9000", "no credentials or \\?options"),
        ("s3://bucket/../../etc", "letters, digits"),
        ("s3:///runs", "letters, digits"),
    ],
)
def test_a_uri_with_secrets_options_or_odd_paths_fails_when_the_config_loads(tmp_path, uri, reason):
    with pytest.raises(ConfigError, match=reason):
        tiny_config(tmp_path, **{"run.output_dir": uri})
