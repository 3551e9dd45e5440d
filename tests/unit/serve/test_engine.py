"""The serving engine's adapter LRU on the tiny model: past `max_loaded` the least recently used
adapter is unloaded, and when it is asked for again it reloads and answers as before."""

import pytest
import torch

from skutune.serve.args import AppArgs
from skutune.serve.engine import GenRequest, ServingEngine


def random_lora(model_dir, out, seed):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    model.save_pretrained(out)
    return out


def test_lru_evicts_the_least_recently_used_and_reloads_it_unchanged(tmp_path, tiny_model_dir):
    from helpers import demo_store

    engine = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=2)
    paths = {name: random_lora(tiny_model_dir, tmp_path / name, seed) for seed, name in enumerate("abc")}

    def answer(name):
        return engine.run([GenRequest("samsung fridge", engine.adapter(name, paths[name]), 8)])[0].text

    first = answer("a")
    assert 0 < engine.loaded["a"].bytes < 200_000  # its LoRA matrices only, not the shared base
    answer("b")
    answer("a")  # a is now the most recently used
    answer("c")
    assert list(engine.loaded) == ["a", "c"] and engine.evictions == 1  # b went, not a
    assert "b" not in engine.peft.peft_config  # its weights left the shared model too
    assert answer("a") == first
    assert answer("b") != first and len(engine.loaded) == 2


def malformed(path):
    """A LoRA adapter whose config and header are valid but whose A matrices have the wrong rank:
    peft injects its layers, then fails on the weights."""
    from safetensors.torch import load_file, save_file

    weights = load_file(path / "adapter_model.safetensors")
    save_file(
        {k: (torch.zeros(v.shape[0] + 3, v.shape[1]) if "lora_A" in k else v) for k, v in weights.items()},
        str(path / "adapter_model.safetensors"),
    )
    return path


def test_malformed_adapter_leaves_the_base_and_loaded_adapters_unchanged(tmp_path, tiny_model_dir):
    from helpers import demo_store
    from skutune.serve.engine import AdapterLoadError

    engine = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=4)
    bad = malformed(random_lora(tiny_model_dir, tmp_path / "bad", 7))
    good = random_lora(tiny_model_dir, tmp_path / "good", 8)

    def answer(adapter=None):
        return engine.run([GenRequest("samsung fridge", adapter, 8)])[0].text

    base = answer()
    with pytest.raises(AdapterLoadError, match="bad"):
        engine.adapter("bad", bad)  # the first LoRA a replica loads: peft injects into the shared base
    assert answer() == base and engine.peft is None and "bad" not in engine.loaded
    tuned = answer(engine.adapter("good", good))
    with pytest.raises(AdapterLoadError):
        engine.adapter("bad", bad)  # with a LoRA loaded: it must not stay inside the PeftModel
    assert list(engine.peft.peft_config) == ["good"] and list(engine.loaded) == ["good"]
    assert answer() == base and answer(engine.adapter("good", good)) == tuned


def test_generation_stops_at_its_deadline_prompt_token_budget_or_not(tiny_model_dir):
    """A job whose deadline has passed decodes one token and stops (its client has had a 504)."""
    import time

    from helpers import demo_store

    engine = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=1)
    free = engine.run([GenRequest("samsung fridge", None, 40)])[0]
    late = engine.run([GenRequest("samsung fridge", None, 40, deadline=time.monotonic())])[0]
    assert free.completion_tokens > 20  # the random tiny model rarely says EOS early
    assert late.completion_tokens == 1 and late.finish_reason == "length"
    streamed = list(engine.stream(GenRequest("samsung fridge", None, 40, deadline=time.monotonic())))
    assert streamed[-1].completion_tokens == 1


def test_lru_also_evicts_past_its_memory_budget(tmp_path, tiny_model_dir):
    """Non-LoRA artefacts are whole model copies: a budget of one copy holds one, whatever the count."""
    from helpers import demo_store, random_artefact

    paths = {
        name: random_artefact(tiny_model_dir, tmp_path / name, {"name": "bottleneck", "size": 8}, seed)
        for seed, name in enumerate("xy")
    }
    probe = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=8)
    one = probe.adapter("x", paths["x"]).bytes
    assert one > 100_000  # a copy of the model, not a few adapter weights
    engine = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=8, max_bytes=one + one // 2)
    first = engine.run([GenRequest("samsung fridge", engine.adapter("x", paths["x"]), 8)])[0].text
    engine.adapter("y", paths["y"])
    assert list(engine.loaded) == ["y"] and engine.evictions == 1
    assert engine.run([GenRequest("samsung fridge", engine.adapter("x", paths["x"]), 8)])[0].text == first


def test_a_small_batch_decoded_one_by_one_answers_each_request_with_its_own_adapter(tmp_path, tiny_model_dir):
    """one_by_one: a gathered batch of mixed adapters decodes a request at a time on the
    speculative path, each under its own adapter, as each would alone. On a CPU that is the
    default up to 8 requests (faster there than one batched generate)."""
    from helpers import demo_store

    engine = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=4)
    assert engine.one_by_one == 8
    # and a pass does not wait to fill a batch it would decode one by one anyway
    assert (
        AppArgs(run_dir="runs/demo").batch_wait(engine.one_by_one) == 0.0
        and AppArgs(run_dir="runs/demo").batch_wait(1) == 0.02
    )
    assert AppArgs(run_dir="runs/demo", batch_wait_timeout_s=0.05).batch_wait(engine.one_by_one) == 0.05
    a, b = (engine.adapter(n, random_lora(tiny_model_dir, tmp_path / n, seed)) for seed, n in enumerate("ab"))
    jobs = [GenRequest("samsung fridge", adapter, 8) for adapter in (a, None, b)]
    alone = [engine.run([job])[0].text for job in jobs]
    assert len(set(alone)) == 3  # three models: two adapters and the base
    assert [r.text for r in engine.run(jobs)] == alone


def test_a_retrained_adapter_under_the_same_name_reloads_with_its_new_weights(tmp_path, tiny_model_dir):
    """`skutune train` retrains "search" in place (a new directory renamed over the old one), and a
    registry mirror rewrites its files: a replica that has it loaded must answer with the new weights."""
    import shutil

    from helpers import demo_store

    def ask(engine, path):
        return engine.run([GenRequest("samsung fridge", engine.adapter("search", path), 8)])[0].text

    path = random_lora(tiny_model_dir, tmp_path / "search", seed=0)
    engine = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=2)
    before = ask(engine, path)
    assert ask(engine, path) == before and engine.evictions == 0  # unchanged files: no reload
    retrained = random_lora(tiny_model_dir, tmp_path / ".search.partial", seed=7)
    shutil.rmtree(path)
    retrained.rename(path)
    after = ask(engine, path)
    assert after == ask(ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=2), path) != before
    assert list(engine.loaded) == ["search"] and list(engine.peft.peft_config) == ["search"]


def test_a_request_decoded_alone_runs_on_its_adapters_merged_copy(tmp_path, tiny_model_dir):
    """A lone request on a LoRA adapter decodes on a copy of the base with the adapter folded in,
    as eval loads it, not through peft's per-row path. Copies go to the first `merged` adapters
    and stay until the adapter unloads (never swapped per request); others take peft's path."""
    from helpers import demo_store
    from skutune.generate import merged_lora
    from skutune.serve.speculative import greedy

    engine = ServingEngine(tiny_model_dir, {}, demo_store(), max_loaded=4, merged=1)
    a, b = (engine.adapter(n, random_lora(tiny_model_dir, tmp_path / n, seed)) for seed, n in enumerate("ab"))
    answer = engine.run([GenRequest("samsung fridge", a, 8)])[0].text
    assert list(engine.merged) == ["a"]
    tok, merged = engine.tok, merged_lora(tiny_model_dir, tmp_path / "a")
    ids = tok("samsung fridge", return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert answer == tok.decode(greedy(merged, ids, 8, tok.eos_token_id), skip_special_tokens=True)
    engine.run([GenRequest("samsung fridge", b, 8)])
    engine.run([GenRequest("samsung fridge", a, 8), GenRequest("samsung fridge", b, 8)])  # a batch: peft's rows
    assert list(engine.merged) == ["a"]  # b took peft's path: no copy swapped out
    engine.unload("a")
    assert not engine.merged
    engine.run([GenRequest("samsung fridge", b, 8)])
    assert list(engine.merged) == ["b"]
