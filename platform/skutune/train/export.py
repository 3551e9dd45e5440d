"""`skutune export`: a trained artefact as files that work without skutune.

    skutune export --config demo                                  # the run's train.task adapter
    skutune export --config demo --set export.adapter=understand

It writes <run>/export/<adapter>/ (or `export.out_dir`):
  merged/   a standard Hugging Face model directory with the method folded into the weights (full,
            LoRA, DoRA, QLoRA onto a full-precision base, IA3; BitFit through the config's bias
            flags), the tokenizer with its chat template, and a greedy generation config. Plain
            `transformers` and vLLM load it like any model.
  adapter/  peft's methods only: a standard PEFT adapter whose `base_model_name_or_path` is the
            base's name, not this machine's path. `base_model.json` records the base's content hash;
            `resolve_base` finds a matching copy under a model root.
Each one holds `prompt_contract.json` (the system prompt, the user-message format and the JSON
schema of the answer the model was trained to give) and a model card (`README.md`).
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from skutune.prompts import prompt_messages, user_content
from skutune.runtime.paths import cache_dir
from skutune.train.methods import META_FILE, get_method, load_tuned, method_config

CONTRACT_FILE = "prompt_contract.json"
BASE_FILE = "base_model.json"
PEFT_METHODS = {"lora", "dora", "qlora", "ia3", "prefix", "prompt"}  # their artefact is a PEFT directory
# peft folds these into the weights; prefix and prompt tuning add virtual tokens, which no weight can hold
FOLDABLE = {"full", "lora", "dora", "qlora", "ia3", "bitfit"}
# Llama-style configs switch biases on per group (`attention_bias`, `mlp_bias`), not per layer
BIAS_GROUPS = {
    "attention_bias": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mlp_bias": ("gate_proj", "up_proj", "down_proj"),
}


class ExportError(ValueError):
    """The artefact cannot be exported in the asked form; the message says why and what works."""


def base_fingerprint(model_dir) -> dict:
    """The base model's name (its directory's) and a hash of its config and weights, so an adapter
    can name its base without a path and still refuse a different model under the same name."""
    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    files = ["config.json", *sorted(p.name for p in model_dir.glob("*.safetensors"))]
    for name in files:
        digest.update(name.encode())
        with (model_dir / name).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return {"name": model_dir.name, "sha256": digest.hexdigest(), "files": files}


def model_root() -> Path:
    """Where `resolve_base` looks for a base by name: SKUTUNE_MODEL_ROOT, else the model cache."""
    return Path(os.environ.get("SKUTUNE_MODEL_ROOT", cache_dir() / "models"))


def resolve_base(adapter_dir, root=None) -> Path:
    """The local copy of an exported adapter's base: `<root>/<name>`, checked against the recorded hash."""
    base = json.loads((Path(adapter_dir) / BASE_FILE).read_text())
    candidate = Path(root or model_root()) / base["name"]
    if not (candidate / "config.json").exists():
        raise FileNotFoundError(f"base model {base['name']!r} is not under {candidate.parent} (set SKUTUNE_MODEL_ROOT)")
    found = base_fingerprint(candidate)["sha256"]
    if found != base["sha256"]:
        raise ValueError(
            f"{candidate} is not the base this adapter was trained on (sha256 {found} != {base['sha256']})"
        )
    return candidate


def prompt_contract(store, target: str) -> dict:
    """What a caller must send to get the answers the model was trained to give."""
    from skutune.parse import parse_schema
    from skutune.schemas import SCHEMAS

    region, date = next(iter(store.regions)), "2026-11-25"
    return {
        "store": store.name,
        "target": target,
        "system_prompt": store.system(target),
        "user_format": user_content("{query}", "{region}", "{date}"),
        "user_format_notes": "query in lower case with single spaces; date as YYYY-MM-DD; region one of regions",
        "regions": {k: {"currency": r.currency, "symbol": r.symbol} for k, r in store.regions.items()},
        "answer": "one line of compact JSON",
        "answer_schema": parse_schema(store) if target == "parse" else {"anyOf": list(SCHEMAS.values())},
        "example_messages": prompt_messages("Example Query", region, date, store, target),
    }


def _fold_biases(model) -> None:
    """BitFit's biases as a standard config: turn on each group's bias flag and give that group's
    other linear layers zero biases, so `from_pretrained` builds the same layers."""
    biased = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if getattr(m, "bias", None) is not None}
    biased &= {n for group in BIAS_GROUPS.values() for n in group} | {"lm_head"}
    if "lm_head" in biased:
        raise ExportError("a BitFit bias on lm_head has no config flag in this architecture; leave lm_head out")
    for flag, group in BIAS_GROUPS.items():
        if not biased & set(group):
            continue
        if not hasattr(model.config, flag):
            raise ExportError(f"{type(model.config).__name__} has no {flag} flag to carry BitFit's biases")
        setattr(model.config, flag, True)
        for name, module in model.named_modules():
            if name.rsplit(".", 1)[-1] in group and module.bias is None:
                module.bias = torch.nn.Parameter(torch.zeros(module.out_features, dtype=module.weight.dtype))


def merged_model(base_dir, artefact_dir):
    """The base with the artefact folded into its weights (a plain transformers model)."""
    from transformers import AutoModelForCausalLM

    cfg = method_config(artefact_dir)
    if cfg.name not in FOLDABLE:
        raise ExportError(
            f"method '{cfg.name}' cannot be folded into the weights (it adds virtual tokens or layers the "
            "architecture does not have); export its adapter directory instead"
        )
    if cfg.name == "qlora":  # fold onto the full-precision base, not the 4-bit one it trained against
        model = get_method("lora").apply(AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32), cfg)
        get_method("lora").restore(model, Path(artefact_dir))
    else:
        model = load_tuned(base_dir, artefact_dir)
    if cfg.name in PEFT_METHODS:
        model = model.merge_and_unload()
    if cfg.name == "bitfit":
        _fold_biases(model)
    return model.eval()


def _write_card(out: Path, kind: str, meta: dict, base: dict, contract: dict) -> None:
    method = meta["method"]["name"] if isinstance(meta.get("method"), dict) else meta.get("method")
    load = (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f'model = AutoModelForCausalLM.from_pretrained("{kind}")\n'
        f'tok = AutoTokenizer.from_pretrained("{kind}")'
        if kind == "merged"
        else "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n"
        f'base = AutoModelForCausalLM.from_pretrained("/models/{base["name"]}")  # sha256 in {BASE_FILE}\n'
        f'model = PeftModel.from_pretrained(base, "{kind}")'
    )
    metrics = meta.get("metrics") or {}
    lines = [
        "---",
        f"library_name: {'transformers' if kind == 'merged' else 'peft'}",
        f"base_model: {base['name']}",
        "tags: [skutune, e-commerce-search]",
        "---",
        f"# {contract['store']}: {meta.get('task')} ({method}, {kind})",
        "",
        f"Trained by skutune (run `{meta.get('run')}`, target `{contract['target']}`) on the base "
        f"`{base['name']}` (sha256 `{base['sha256'][:16]}…`).",
        "",
        "## Prompt",
        f"System: `{contract['system_prompt']}`  ",
        f"User: `{contract['user_format']}` ({contract['user_format_notes']}).  ",
        f"The answer is {contract['answer']}; its JSON Schema is in `{CONTRACT_FILE}`. Decode greedily.",
        "",
        "## Load",
        "```python",
        load,
        "```",
        "",
        "## Training metrics",
        *(f"- {k}: {v}" for k, v in metrics.items() if isinstance(v, (int, float))),
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def _save_tokenizer_and_generation(base_dir, out: Path, max_new_tokens: int) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    tok = AutoTokenizer.from_pretrained(str(base_dir))
    if not tok.chat_template:
        raise ExportError(f"the base tokenizer in {base_dir} has no chat template; the export would not be usable")
    tok.save_pretrained(str(out))
    GenerationConfig(
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    ).save_pretrained(str(out))


def _portable_adapter(artefact_dir: Path, out: Path, base: dict) -> None:
    """The PEFT files with every path of this machine replaced by the base's name."""
    config = json.loads((artefact_dir / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base["name"]
    if config.get("tokenizer_name_or_path"):  # prompt tuning initialised from text
        config["tokenizer_name_or_path"] = base["name"]
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    # the training run's metadata (absolute paths included) rides in the safetensors header: drop it
    for weights in artefact_dir.glob("adapter_model.safetensors"):
        save_file(load_file(str(weights)), str(out / weights.name), metadata={"format": "pt"})


def _staged(final: Path):
    """A fresh staging directory beside `final`; `_swap_in` renames it into place."""
    staging = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _swap_in(staging: Path, final: Path) -> Path:
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


def export(artefact_dir, out_dir, store, base_dir, merged: bool = True, max_new_tokens: int = 128) -> dict:
    """Write `merged/` (when asked and foldable) and `adapter/` (for peft methods) under `out_dir`."""
    artefact_dir, out_dir = Path(artefact_dir), Path(out_dir)
    meta = json.loads((artefact_dir / META_FILE).read_text())
    cfg = method_config(artefact_dir)
    contract = prompt_contract(store, meta.get("target", "answer"))
    base = base_fingerprint(base_dir)
    written = {}
    if merged:
        if cfg.name not in FOLDABLE:
            raise ExportError(
                f"method '{cfg.name}' cannot be merged into the weights; set export.merged=false to export "
                + ("its PEFT adapter" if cfg.name in PEFT_METHODS else "nothing: only skutune loads it")
            )
        stage = _staged(out_dir / "merged")
        merged_model(base_dir, artefact_dir).save_pretrained(str(stage), safe_serialization=True)
        _save_tokenizer_and_generation(base_dir, stage, max_new_tokens)
        written["merged"] = stage
    if cfg.name in PEFT_METHODS:
        stage = _staged(out_dir / "adapter")
        _portable_adapter(artefact_dir, stage, base)
        (stage / BASE_FILE).write_text(json.dumps(base, indent=2))
        written["adapter"] = stage
    if not written:
        raise ExportError(f"method '{cfg.name}' has neither a merged nor a PEFT form")
    for kind, stage in written.items():
        (stage / CONTRACT_FILE).write_text(json.dumps(contract, indent=2, ensure_ascii=False))
        _write_card(stage, kind, meta, base, contract)
        written[kind] = str(_swap_in(stage, out_dir / kind))
    return written
