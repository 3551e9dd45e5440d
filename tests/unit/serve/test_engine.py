"""The serving engine's adapter LRU on the tiny model: past `max_loaded` the least recently used
adapter is unloaded, and when it is asked for again it reloads and answers as before."""

import torch

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
    answer("b")
    answer("a")  # a is now the most recently used
    answer("c")
    assert list(engine.loaded) == ["a", "c"] and engine.evictions == 1  # b went, not a
    assert "b" not in engine.peft.peft_config  # its weights left the shared model too
    assert answer("a") == first
    assert answer("b") != first and len(engine.loaded) == 2
