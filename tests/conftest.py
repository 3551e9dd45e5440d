"""Shared fixtures: a local Ray cluster, the tiny config, its curated data, and a running Serve app."""

import json
import os

import pytest
import requests
import yaml

from helpers import ADMIN_TOKEN, CONFIGS, SERVE_PORT, TOKEN, demo_store, random_artefact, tiny_config

os.environ.setdefault("SKUTUNE_NO_BARS", "1")


def pytest_collection_modifyitems(items):
    """The marker policy, in one place: a test's folder says what it needs. unit/<stage>/ is pure
    logic; integration/ starts Ray, Serve or HTTP. Markers for what a machine or a pytest process
    must provide (gpu, jobsubmit, cluster) are set on the tests themselves (pyproject.toml).
    Unit tests run first: they fail fast, and those that start processes of their own do it
    before this process drives a Ray cluster (forking a Ray driver is unsupported)."""
    for item in items:
        kind = "integration" if "integration" in item.path.parts else "unit"
        item.add_marker(getattr(pytest.mark, kind))
    items.sort(key=lambda item: "integration" in item.path.parts)  # stable: file order within each kind


@pytest.fixture(scope="session")
def ray_local(request):
    import ray

    from skutune.runtime.cluster import init_ray

    init_ray(cpus_needed=2)
    yield ray
    from ray import serve

    # Not captured: a Ray process that fails here can end pytest with exit 1 before its summary
    # (CI stopped so once, with nothing printed), and what Ray writes to stderr is the only clue.
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="session")
def tiny_model_dir():
    from skutune.config import load_config
    from skutune.runtime.model_import import resolve_model_dir

    return resolve_model_dir(load_config(CONFIGS / "tiny.yaml").model)


@pytest.fixture(scope="session")
def tiny_curated(tmp_path_factory, ray_local, tiny_model_dir):
    """The tiny config curated once into a temp run dir: (config, manifest)."""
    from skutune.data.curate import run_curate

    cfg = tiny_config(tmp_path_factory.mktemp("tiny-run"))
    return cfg, run_curate(cfg, tiny_model_dir)


def _random_adapter(model_dir, out, seed):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    # init_lora_weights=False: both LoRA matrices random, so each adapter changes the output
    peft = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    )
    peft.save_pretrained(out)


class App(str):
    """The app's base URL; `.dir` holds its adapters, catalog and index, `.args` its args; `.http`
    sends the token, `.admin` the admin token (registry changes)."""


@pytest.fixture(scope="session")
def app(ray_local, tiny_model_dir, tmp_path_factory):
    from ray import serve

    from skutune.demo.catalog import build_catalog
    from skutune.search.index import build_index
    from skutune.serve.app import build_app

    d = tmp_path_factory.mktemp("serve")
    for name, seed in (("typo", 1), ("comparison", 2)):
        _random_adapter(tiny_model_dir, d / "adapters" / name, seed)
    random_artefact(tiny_model_dir, d / "adapters" / "regional", {"name": "bottleneck", "size": 8}, 3)
    random_artefact(tiny_model_dir, d / "adapters" / "seasonal", {"name": "prefix", "num_virtual_tokens": 4}, 4)
    (d / "token").write_text(TOKEN + "\n")
    (d / "admin-token").write_text(ADMIN_TOKEN + "\n")
    (d / "store.yaml").write_text(yaml.safe_dump(demo_store().model_dump(mode="json"), allow_unicode=True))
    (d / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in build_catalog()))
    build_index(build_catalog(), d / "index")
    serve.start(http_options={"host": "127.0.0.1", "port": SERVE_PORT})
    args = {
        "model": str(tiny_model_dir),
        "served_model_name": "tiny",
        "adapters_dir": str(d / "adapters"),
        "catalog": str(d / "catalog.jsonl"),
        "index": str(d / "index"),
        "store": str(d / "store.yaml"),
        "default_adapter": "comparison",
        "understand_adapter": "typo",
        "max_new_tokens": 64,
        "parse_max_new_tokens": 16,
        "max_tokens_limit": 96,
        "max_prompt_tokens": 512,
        "max_loaded_adapters": 4,
        "max_body_bytes": 16384,
        "auth_token_file": str(d / "token"),
        "admin_token_file": str(d / "admin-token"),
        "register_sources": [str(tmp_path_factory.getbasetemp())],
        "threads": 1,
        "parse_cache": str(d / "parse_cache"),
    }
    serve.run(
        build_app(args),
        name="skutune-test",
        route_prefix="/",
    )
    url = App(f"http://127.0.0.1:{SERVE_PORT}")
    url.dir, url.args, url.http = d, args, requests.Session()
    url.http.headers["Authorization"] = f"Bearer {TOKEN}"
    url.admin = requests.Session()
    url.admin.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    yield url
    serve.delete("skutune-test")
