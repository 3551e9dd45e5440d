"""Object storage as skutune reads and writes it (runtime/storage.py), against moto's S3 server on
loopback. A Serve replica follows the index, parse cache and registry: a new version is taken once
CURRENT names it, a registry's new and changed files are fetched and nothing else, and a CURRENT
that names a path outside the root is refused. Curate's inputs of a run in a bucket are put where
every node reads them, and a folder of inputs there lists as a local one does."""

import time

import pyarrow.fs as pafs
import pytest
from moto.server import ThreadedMotoServer

from helpers import tiny_config
from skutune.data.readers import files_of
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


def test_inputs_of_a_run_in_a_bucket_are_put_where_every_node_reads_them(bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("SKUTUNE_RUNS", str(tmp_path / "runs"))
    cfg = tiny_config(tmp_path, **{"run.output_dir": "s3://bucket/runs/tiny"})
    inputs = tmp_path / "shop"
    (inputs / ".cache").mkdir(parents=True)
    (inputs / "catalog.csv").write_text("sku,title\n1,a\n")
    (inputs / "more.jsonl").write_text('{"sku": "2"}\n')
    (inputs / ".cache" / "x.jsonl").write_text("{}\n")
    assert cfg.readable(inputs) == "s3://bucket/runs/tiny/inputs/shop"  # a user's folder
    raw = cfg.run_dir().raw / "log.jsonl"
    raw.parent.mkdir(parents=True)
    raw.write_text("{}\n")
    assert cfg.readable(raw) == "s3://bucket/runs/tiny/raw/log.jsonl"  # one of the run's own files
    assert cfg.readable("s3://bucket/elsewhere.csv") == "s3://bucket/elsewhere.csv"
    assert files_of("s3://bucket/runs/tiny/inputs/shop") == [
        "s3://bucket/runs/tiny/inputs/shop/catalog.csv",
        "s3://bucket/runs/tiny/inputs/shop/more.jsonl",
    ]
    assert files_of("s3://bucket/runs/tiny/raw/log.jsonl") == ["s3://bucket/runs/tiny/raw/log.jsonl"]
    with pytest.raises(FileNotFoundError):
        files_of("s3://bucket/runs/tiny/nothing")
    assert tiny_config(tmp_path).readable(inputs) == str(inputs)  # a local run reads in place


def test_the_apps_catalog_and_store_profile_may_be_in_a_bucket(bucket, tmp_path, monkeypatch):
    import yaml

    from helpers import demo_store
    from skutune.runtime.storage import put
    from skutune.serve.args import AppArgs

    monkeypatch.setenv("SKUTUNE_RUNS", str(tmp_path / "runs"))
    (tmp_path / "catalog.jsonl").write_text('{"sku": "SM-1", "title": "fridge"}\n')
    (tmp_path / "store.yaml").write_text(yaml.safe_dump(demo_store().model_dump(mode="json"), allow_unicode=True))
    put(tmp_path / "catalog.jsonl", "s3://bucket/shop/catalog-v2.jsonl")
    put(tmp_path / "store.yaml", "s3://bucket/shop/store.yaml")
    args = AppArgs(
        catalog="s3://bucket/shop/catalog-v2.jsonl", store="s3://bucket/shop/store.yaml", adapters_dir="a", index="i"
    ).localised()
    assert args.path("catalog").read_text() == '{"sku": "SM-1", "title": "fridge"}\n'
    assert args.path("catalog").is_relative_to(tmp_path / "runs" / "remote" / "s3" / "bucket")
    assert args.store_profile() == demo_store()
    with pytest.raises(ValueError, match="credentials"):
        AppArgs(catalog="s3://key:secret@bucket/shop/catalog.jsonl", store="s", adapters_dir="a", index="i")
    with pytest.raises(FileNotFoundError, match="no file at s3://bucket/shop/missing.yaml"):
        AppArgs(catalog="c", store="s3://bucket/shop/missing.yaml", adapters_dir="a", index="i").localised()
