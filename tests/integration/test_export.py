"""`skutune export`: the exports load in a fresh process, from other directories, with plain
transformers and peft, and answer greedily exactly as skutune's own loader does."""

import json
import shutil
import subprocess

import pytest
import torch
from safetensors import safe_open

from helpers import demo_store, python_exe, random_artefact, tiny_config

QUERIES = [("samsung fridge for a family of 4 under 50000", "IN"), ("galaxy s23 ultra 256gb", "US")]
DATE = "2026-11-25"
TOKENS = 12

# What a user outside skutune runs: only transformers and peft, the prompt contract, the copies.
OUTSIDE = r"""
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
merged, adapter, base = sys.argv[1:4]
queries = json.loads(sys.argv[4])
contract = json.load(open(f"{merged}/prompt_contract.json"))
tok = AutoTokenizer.from_pretrained(merged)

def answers(model):
    out = []
    for query, region in queries:
        messages = [{"role": "system", "content": contract["system_prompt"]},
                    {"role": "user", "content": contract["user_format"].format(query=query, region=region, date="%s")}]
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok(text, return_tensors="pt")
        gen = model.generate(**ids, max_new_tokens=%d, min_new_tokens=%d)  # greedy: the export's generation_config
        out.append(gen[0, ids["input_ids"].shape[1]:].tolist())
    return out

result = {"merged": answers(AutoModelForCausalLM.from_pretrained(merged).eval()),
          "base": answers(AutoModelForCausalLM.from_pretrained(base).eval())}
if adapter != "-":
    from peft import PeftModel
    result["adapter"] = answers(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval())
print(json.dumps(result))
""" % (DATE, TOKENS, TOKENS)


@torch.inference_mode()
def skutune_answers(base_dir, artefact, merge: bool) -> list[list[int]]:
    from skutune.generate import load_model, render

    # fp32, as the outside process loads: the claim is the same weights. In bf16 a random tiny model's
    # near-tied logits flipped between the two loaders (BitFit's export, once, in a clean-clone run)
    tok, model = load_model(base_dir, artefact, merge=merge, bf16=False)
    out = []
    for query, region in QUERIES:
        ids = tok(render(tok, query, region, DATE, demo_store()), return_tensors="pt")
        gen = model.generate(**ids, max_new_tokens=TOKENS, min_new_tokens=TOKENS, do_sample=False)
        out.append(gen[0, ids["input_ids"].shape[1] :].tolist())
    return out


def run_outside(tmp_path, exported: dict, tiny_model_dir):
    """Copy the base and the exports elsewhere and load them in a fresh Python process."""
    elsewhere = tmp_path / "elsewhere"
    base_copy = shutil.copytree(tiny_model_dir, elsewhere / "models" / tiny_model_dir.name)
    merged = shutil.copytree(exported["merged"], elsewhere / "shipped" / "merged")
    adapter = shutil.copytree(exported["adapter"], elsewhere / "shipped" / "adapter") if "adapter" in exported else "-"
    done = subprocess.run(
        [python_exe(), "-c", OUTSIDE, str(merged), str(adapter), str(base_copy), json.dumps(QUERIES)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), elsewhere


def test_export_lora_merged_and_portable_adapter_answer_like_skutune(tmp_path, tiny_model_dir):
    from skutune.pipeline import export
    from skutune.train.export import base_fingerprint, resolve_base

    cfg = tiny_config(tmp_path / "run")
    artefact = random_artefact(
        tiny_model_dir, cfg.adapter_dir("search"), {"name": "lora", "r": 4, "alpha": 8}, 5, {"target": "answer"}
    )
    exported = export(cfg)  # what `skutune export --config tiny` runs
    assert set(exported) == {"merged", "adapter"}

    adapter_config = json.loads((cfg.run_dir().export("search") / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == tiny_model_dir.name  # a name, not this machine's path
    with safe_open(str(cfg.run_dir().export("search") / "adapter" / "adapter_model.safetensors"), "pt") as f:
        assert str(tmp_path) not in json.dumps(f.metadata())
    contract = json.loads((cfg.run_dir().export("search") / "merged" / "prompt_contract.json").read_text())
    assert contract["system_prompt"] == demo_store().system("answer")
    assert "base_model:" in (cfg.run_dir().export("search") / "merged" / "README.md").read_text()

    outside, elsewhere = run_outside(tmp_path, exported, tiny_model_dir)
    assert outside["merged"] == skutune_answers(tiny_model_dir, artefact, merge=True)
    assert outside["adapter"] == skutune_answers(tiny_model_dir, artefact, merge=False)
    assert outside["merged"] != outside["base"]  # the adapter is really in the export

    # the portable base reference resolves to the copy, and refuses a different model of that name
    copy = resolve_base(elsewhere / "shipped" / "adapter", elsewhere / "models")
    assert base_fingerprint(copy)["sha256"] == base_fingerprint(tiny_model_dir)["sha256"]
    (copy / "config.json").write_text((copy / "config.json").read_text() + "\n")
    with pytest.raises(ValueError, match="not the base"):
        resolve_base(elsewhere / "shipped" / "adapter", elsewhere / "models")


def test_export_bitfit_folds_biases_through_the_config_flags(tmp_path, tiny_model_dir):
    from skutune.train.export import export

    # biases on one attention and one MLP layer: the rest of each group gets zero biases
    method = {"name": "bitfit", "modules": ["q_proj", "down_proj"]}
    artefact = random_artefact(tiny_model_dir, tmp_path / "bitfit", method, 6, {"target": "answer"})
    exported = export(artefact, tmp_path / "out", demo_store(), tiny_model_dir)
    assert set(exported) == {"merged"}  # BitFit is not a PEFT method: no adapter form
    config = json.loads((tmp_path / "out" / "merged" / "config.json").read_text())
    assert config["attention_bias"] and config["mlp_bias"]

    outside, _ = run_outside(tmp_path, exported, tiny_model_dir)
    assert outside["merged"] == skutune_answers(tiny_model_dir, artefact, merge=True)
    assert outside["merged"] != outside["base"]


def test_export_prefix_refuses_to_merge_and_ships_its_adapter(tmp_path, tiny_model_dir):
    from skutune.train.export import ExportError, export

    artefact = random_artefact(tiny_model_dir, tmp_path / "prefix", {"name": "prefix", "num_virtual_tokens": 4}, 7)
    with pytest.raises(ExportError, match="cannot be merged"):
        export(artefact, tmp_path / "out", demo_store(), tiny_model_dir)
    exported = export(artefact, tmp_path / "out", demo_store(), tiny_model_dir, merged=False)
    assert set(exported) == {"adapter"}
    assert (
        json.loads((tmp_path / "out" / "adapter" / "adapter_config.json").read_text())["peft_type"] == "PREFIX_TUNING"
    )
