"""The Serve app over real HTTP: two adapters answer differently, grounded mode answers from
the catalog index and follows its live version, bad requests get 4xx JSON."""

import json

import pytest
import requests
import torch

PORT = 8765


def _random_adapter(model_dir, out, seed):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    # init_lora_weights=False: both LoRA matrices random, so each adapter changes the output
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False))
    peft.save_pretrained(out)


def _random_artefact(model_dir, out, method: dict, seed):
    """A non-LoRA artefact (its own model in the replica) whose method state is random, not identity."""
    from skutune.config import METHOD_CONFIG
    from skutune.methods import build_model, save_artefact

    torch.manual_seed(seed)
    cfg = METHOD_CONFIG.validate_python(method)
    model = build_model(model_dir, cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0, 0.5)
    save_artefact(model, out, cfg)


class _App(str):
    """The app's base URL; `.dir` holds its adapters, catalog and index."""


@pytest.fixture(scope="module")
def app(ray_local, tiny_model_dir, tmp_path_factory):
    from ray import serve

    from serve.app import build_app
    from skutune.catalog import build_catalog
    from skutune.index import build_index

    d = tmp_path_factory.mktemp("serve")
    for name, seed in (("typo", 1), ("comparison", 2)):
        _random_adapter(tiny_model_dir, d / "adapters" / name, seed)
    _random_artefact(tiny_model_dir, d / "adapters" / "regional", {"name": "bottleneck", "size": 8}, 3)
    _random_artefact(tiny_model_dir, d / "adapters" / "seasonal", {"name": "prefix", "num_virtual_tokens": 4}, 4)
    (d / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in build_catalog()))
    build_index(build_catalog(), d / "index")
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    serve.run(build_app({"model": str(tiny_model_dir), "adapters_dir": str(d / "adapters"), "catalog": str(d / "catalog.jsonl"),
                         "index": str(d / "index"), "understand_adapter": "typo", "max_new_tokens": 12, "parse_max_new_tokens": 16,
                         "threads": 1}), name="skutune-test", route_prefix="/")
    url = _App(f"http://127.0.0.1:{PORT}")
    url.dir = d
    yield url
    serve.delete("skutune-test")


def test_health_and_adapter_list(app):
    assert requests.get(f"{app}/healthz", timeout=30).json()["status"] == "ok"
    assert requests.get(f"{app}/v1/adapters", timeout=30).json()["adapters"] == ["base", "comparison", "regional", "seasonal", "typo"]
    assert set(requests.get(f"{app}/v1/schemas", timeout=30).json()) == {"search", "compare", "qa", "refusal", "parse"}


def test_two_adapters_give_different_answers(app):
    body = {"query": "samzung fridg", "region": "IN", "date": "2026-10-25"}
    raw = {}
    for adapter in ("typo", "regional", "comparison", "seasonal", "base", "typo", "regional"):
        r = requests.post(f"{app}/v1/search", json={**body, "adapter": adapter}, timeout=120)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["adapter"] == adapter and isinstance(out["results"], list) and out["dropped_count"] == len(out["dropped_skus"])
        raw.setdefault(adapter, out["raw"])
        assert raw[adapter] == out["raw"]  # greedy: the same adapter answers the same after others ran
    assert len(set(raw.values())) == 5  # LoRA (shared base), bottleneck and prefix (own models) all differ


@pytest.mark.parametrize("adapter", ["nope", "../adapters", "typo/../../etc"])
def test_unknown_adapter_is_404_json(app, adapter):
    r = requests.post(f"{app}/v1/search", json={"query": "tv", "adapter": adapter}, timeout=60)
    assert r.status_code in (404, 422) and "detail" in r.json()
    if adapter == "nope":
        assert r.status_code == 404 and "unknown adapter" in r.json()["detail"]


@pytest.mark.parametrize("body", ['{"query": ', '{"adapter": "typo"}', '{"query": "", "adapter": "typo"}',
                                  '{"query": "tv", "region": "MARS"}', '{"query": "tv", "extra": 1}', '[1,2]'])
def test_malformed_body_is_422_json(app, body):
    r = requests.post(f"{app}/v1/search", data=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 422 and "detail" in r.json()


def _grounded(app, **body):
    r = requests.post(f"{app}/v1/search", json={"mode": "grounded", "region": "IN", **body}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_grounded_answers_from_the_index_and_follows_new_versions(app):
    from skutune.catalog import build_catalog
    from skutune.index import build_index
    from skutune.synth import synth_catalog

    out = _grounded(app, query="samsung fridge under ₹50,000")
    assert out["mode"] == "grounded" and out["adapter"] == "typo" and out["index_version"] == "v0001"
    assert out["constraints_applied"][0] == "region=IN" and isinstance(out["parse_valid"], bool)
    assert out["results"] and out["dropped_count"] == 0  # every grounded SKU comes from the catalog
    assert _grounded(app, query="tv", rerank=True, k=3)["results"]

    new = synth_catalog(4, seed=8, prefix="LIVE", first_family=777)  # names no bundled product has
    build_index(build_catalog() + new, app.dir / "index")
    out = _grounded(app, query=new[0]["family_name"], region=new[0]["regions"][0])
    assert out["index_version"] == "v0002" and out["results"][0]["sku"].startswith("LIVE")


def test_grounded_without_an_index_is_503_json(app):
    current = app.dir / "index" / "CURRENT"
    current.rename(current.with_name("CURRENT.off"))
    try:
        r = requests.post(f"{app}/v1/search", json={"mode": "grounded", "query": "tv"}, timeout=60)
        assert r.status_code == 503 and "jobs/index.py" in r.json()["detail"]
    finally:
        current.with_name("CURRENT.off").rename(current)
