"""Runs in object storage (runtime/storage.py): where the local mirror lies, and URIs that would
put a secret or an endpoint into a config are refused when the config loads."""

import pytest

from helpers import tiny_config
from skutune.config import ConfigError
from skutune.runtime.storage import is_uri, mirror_of


def test_a_run_in_a_bucket_is_worked_on_in_a_local_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("SKUTUNE_RUNS", str(tmp_path))
    cfg = tiny_config(tmp_path, **{"run.output_dir": "s3://bucket/runs/tiny/"})
    assert cfg.remote_dir() == "s3://bucket/runs/tiny"
    assert cfg.output_dir() == mirror_of("s3://bucket/runs/tiny") == tmp_path / "remote/s3/bucket/runs/tiny"
    assert cfg.run_dir().manifest.is_relative_to(cfg.output_dir())
    assert tiny_config(tmp_path).remote_dir() is None and not is_uri("file:///tmp/x") and not is_uri("/tmp/x")


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
