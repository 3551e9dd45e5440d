"""A Serve replica follows the index, parse cache and registry in object storage
(runtime/storage.py), here against moto's S3 server on loopback: a new version is taken once
CURRENT names it, a registry's new and changed files are fetched and nothing else, and a CURRENT
that names a path outside the root is refused."""

import time

import pyarrow.fs as pafs
import pytest
from moto.server import ThreadedMotoServer

from skutune.runtime.storage import download, follow, upload


@pytest.fixture
def bucket(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "skutune-test",
        "AWS_SECRET_ACCESS_KEY": "skutune-test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    fs = pafs.S3FileSystem(endpoint_override=endpoint, region="us-east-1", allow_bucket_creation=True)
    fs.create_dir("bucket")
    try:
        yield fs
    finally:
        server.stop()


def _version(root, name: str, text: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "bm25.json").write_text(text)
    (root / "CURRENT").write_text(name)


def test_a_replica_takes_the_version_current_names_once_it_moves(bucket, tmp_path):
    built, mirror = tmp_path / "built", tmp_path / "mirror"
    _version(built, "v0001", "first")
    upload(built, "s3://bucket/index")
    assert follow("s3://bucket/index", mirror) and (mirror / "CURRENT").read_text() == "v0001"
    assert not follow("s3://bucket/index", mirror)  # nothing new: nothing fetched
    _version(built, "v0002", "second")
    upload(built, "s3://bucket/index", since=time.time() - 1)
    assert follow("s3://bucket/index", mirror)
    assert (mirror / "CURRENT").read_text() == "v0002" and (mirror / "v0002/bm25.json").read_text() == "second"
    assert not follow("s3://bucket/nothing-yet", tmp_path / "empty")


def test_a_current_naming_a_path_outside_the_root_is_refused(bucket, tmp_path):
    with bucket.open_output_stream("bucket/index/CURRENT") as f:
        f.write(b"../../etc")
    with pytest.raises(ValueError, match="not a version directory"):
        follow("s3://bucket/index", tmp_path / "mirror")
    assert not (tmp_path / "mirror").exists()


def test_a_registry_is_followed_by_its_new_and_changed_files_only(bucket, tmp_path):
    trained, mirror = tmp_path / "trained", tmp_path / "mirror"
    (trained / "search").mkdir(parents=True)
    (trained / "search/adapter_model.safetensors").write_bytes(b"weights")
    (trained / "search/skutune.json").write_text("{}")
    upload(trained, "s3://bucket/adapters")
    assert download("s3://bucket/adapters", mirror, changed_only=True) == 2
    assert download("s3://bucket/adapters", mirror, changed_only=True) == 0
    time.sleep(1.1)  # a retrain comes later than the mirror's copy: the bucket keeps times to the second
    (trained / "promo").mkdir()
    (trained / "promo/skutune.json").write_text("{}")
    (trained / "search/adapter_model.safetensors").write_bytes(b"WEIGHTS")  # the same size: only its time differs
    upload(trained, "s3://bucket/adapters", since=time.time() - 1)
    assert download("s3://bucket/adapters", mirror, changed_only=True) == 2
    assert (mirror / "search/adapter_model.safetensors").read_bytes() == b"WEIGHTS"
    assert (mirror / "promo/skutune.json").exists()
