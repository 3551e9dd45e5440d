"""The training benchmark's systems, each run in a process of its own (`python -m skutune.train.bench
SYSTEM SPEC OUT`) so that its peak memory is its own and nothing warms the next one up.

Systems: skutune's loop under Ray Train (`ray`) and the same loop without Ray (`loop`), TRL's
SFTTrainer (`trl`), batched against one-at-a-time generation (`eval`), and decoding latency per
step (`decode`). Every training system
reads the same curated rows (input_ids, labels) and reports tokens/s over real (non-padding)
tokens, the training seconds, and the peak memory of the training steps (CUDA's allocator peak,
or the process's peak RSS on CPU, reset after the model is loaded).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from pydantic import Field

from skutune.config import JobConfig, _Strict, load_yaml_as, parse_config
from skutune.runtime.paths import load_jsonl
from skutune.train.step import uses_bf16

GPU_BF16_PEAK = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10": 125e12,
    "L4": 121e12,
}  # dense, datasheets


class BenchConfig(_Strict):
    """jobs/configs/bench.yaml: one job config (model, data, method, packed train settings) and the peers' knobs."""

    job: dict
    unpacked_batch_size: int = Field(12, ge=1)  # examples per step for the unpacked systems (~ tokens of a packed step)
    memory_steps: int = Field(3, ge=1)  # optimizer steps for the QLoRA vs full fine-tune memory runs
    eval_prompts: int = Field(32, ge=1)
    eval_batch_size: int = Field(16, ge=2)
    eval_max_new_tokens: int = Field(32, ge=1)

    def job_config(self, method: dict | None = None, **train) -> JobConfig:
        data = {**self.job, "train": {**self.job.get("train", {}), **train}}
        if method is not None:
            data["method"] = method
        return parse_config(data, "bench job")


def load_bench_config(path) -> BenchConfig:
    bench = load_yaml_as(BenchConfig, path)
    parse_config(bench.job, f"{path} job")  # the job block is validated here too, naming the file and key
    return bench


def train_rows(cfg: JobConfig) -> dict:
    """The curated training rows as numpy arrays, in a fixed order."""
    import numpy as np
    import pyarrow.dataset as pads

    table = pads.dataset(cfg.shared(cfg.run_dir().train(cfg.train.target))).to_table(
        columns=["id", "input_ids", "labels"]
    )
    table = table.sort_by("id")
    return {k: [np.asarray(x) for x in table.column(k).to_pylist()] for k in ("input_ids", "labels")}


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5, device: str = "cpu") -> float:
    """FLOP/s of the best of `reps` square matmuls: the device's practical peak for `dtype`."""
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    torch.matmul(a, b)
    best = min(_timed(lambda: torch.matmul(a, b), device) for _ in range(reps))
    return 2 * n**3 / best


def _timed(fn, device: str = "cpu") -> float:
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def device_peak(precision: str) -> tuple[float, str]:
    """(peak FLOP/s, where it comes from): a GPU's datasheet bf16 figure, or this CPU's measured matmul."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for key, peak in GPU_BF16_PEAK.items():
            if key in name:
                return peak, f"{name} datasheet bf16 dense"
    dtype = torch.bfloat16 if uses_bf16(torch.device("cpu"), precision) else torch.float32
    return matmul_peak(dtype), f"measured {str(dtype).removeprefix('torch.')} matmul, {torch.get_num_threads()} threads"


def model_flops_per_token(model_dir, full: bool) -> float:
    """Model FLOPs one real token costs in a dense forward + backward: 2 per weight forward, 2 more
    for the activations' gradient, and 2 more for the weights' gradient when every weight trains
    (the 6N rule; 4N for a frozen base under PEFT). The LM head counts at every position."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(model_dir)
    kv = c.hidden_size // c.num_attention_heads * c.num_key_value_heads
    layer = 2 * c.hidden_size * c.hidden_size + 2 * c.hidden_size * kv + 3 * c.hidden_size * c.intermediate_size
    weights = c.num_hidden_layers * layer + c.hidden_size * c.vocab_size
    return (6 if full else 4) * weights


def _report_into(results: list):
    return lambda metrics, checkpoint_dir: results.append(metrics)


def run_loop_alone(cfg: JobConfig, model_dir) -> dict:
    """skutune's training loop in this process, without Ray: same packing, collate and step."""
    from skutune.train.batches import pack_examples
    from skutune.train.loop import run_loop

    rows = train_rows(cfg)
    if cfg.train.packing:
        rows = pack_examples(rows, cfg.train.pack_length)
    n = len(rows["input_ids"])
    chunks = [{k: v[i : i + cfg.train.batch_size] for k, v in rows.items()} for i in range(0, n, cfg.train.batch_size)]
    results = []
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run_loop(
        cfg, str(model_dir), n, 0, 1, device, lambda collate: (collate(c) for c in chunks), None, _report_into(results)
    )
    return results[-1]


def run_ray(cfg: JobConfig, model_dir) -> dict:
    """The same loop under Ray Train's TorchTrainer with one worker, fed by Ray Data."""
    from skutune.runtime.cluster import init_ray
    from skutune.train.trainer import build_trainer, training_dataset

    init_ray(cfg.train.num_workers * cfg.train.cpus_per_worker)
    start = time.perf_counter()
    result = build_trainer(cfg, model_dir, training_dataset(cfg)).fit()
    return {**result.metrics, "fit_seconds": time.perf_counter() - start}


def run_trl(cfg: JobConfig, model_dir, batch_size: int) -> dict:
    """TRL's SFTTrainer on the same rows, LoRA settings (or a full fine-tune), precision and
    threads; packed (BFD, padding-free) when the job packs, else padded per batch."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from skutune.train.loop import current_memory, peak_memory, reset_peak_memory

    torch.set_num_threads(cfg.train.threads_per_worker or os.cpu_count() or 1)
    rows = train_rows(cfg)
    data = Dataset.from_dict({k: [x.tolist() for x in v] for k, v in rows.items()})
    m, t = cfg.method, cfg.train
    lora = (
        None  # a full fine-tune
        if m.name == "full"
        else LoraConfig(
            r=m.r,
            lora_alpha=m.alpha,
            lora_dropout=m.dropout,
            target_modules=list(m.target_modules),
            task_type="CAUSAL_LM",
        )
    )

    class StepClock(TrainerCallback):  # (seconds, tokens seen) at each step's end, for the steady rate
        def __init__(self):
            self.marks = []

        def on_step_end(self, args, state, control, **kwargs):
            self.marks.append((time.perf_counter(), state.num_input_tokens_seen))

    clock = StepClock()

    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            per_device_train_batch_size=batch_size,
            num_train_epochs=t.epochs,
            max_steps=t.max_steps or -1,  # the same budget as skutune's loop where the job caps it
            learning_rate=t.lr,
            warmup_steps=t.warmup_steps,
            max_grad_norm=t.grad_clip,
            weight_decay=t.weight_decay,
            bf16=uses_bf16(torch.device("cuda" if torch.cuda.is_available() else "cpu"), t.mixed_precision),
            use_cpu=not torch.cuda.is_available(),
            gradient_checkpointing=False,
            packing=t.packing,
            packing_strategy="bfd",
            max_length=t.pack_length if t.packing else cfg.data.max_length,
            save_strategy="no",
            report_to="none",
            logging_steps=t.log_every,
            disable_tqdm=True,
            dataloader_num_workers=0,
            seed=cfg.run.seed,
            include_num_input_tokens_seen="non_padding",
        )
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        baseline = current_memory(device)
        trainer = SFTTrainer(
            model=AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32),
            args=args,
            train_dataset=data,
            processing_class=AutoTokenizer.from_pretrained(str(model_dir)),
            peft_config=lora,
            callbacks=[clock],
        )
        reset_peak_memory(device)
        out = trainer.train()
    tokens = sum(len(x) for x in rows["input_ids"]) * t.epochs
    seconds = out.metrics["train_runtime"]
    (t0, n0), (t1, n1) = clock.marks[0], clock.marks[-1]
    return {
        "tokens": tokens,
        "train_seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "steady_tokens_per_s": (n1 - n0) / (t1 - t0),
        "loss": out.training_loss,
        "peak_memory_bytes": peak_memory(device),
        "peak_above_start_bytes": peak_memory(device) - baseline,
        "step": out.global_step,
    }


def run_eval(cfg: JobConfig, model_dir, prompts: int, batch_size: int, max_new_tokens: int) -> dict:
    """Greedy answers to the test queries: length-sorted batches with the KV cache vs one at a time."""
    from skutune.generate import generate_all, load_model, render

    test = load_jsonl(cfg.run_dir().test)[:prompts]
    tok, model = load_model(str(model_dir), threads=cfg.train.threads_per_worker or os.cpu_count())
    texts = [render(tok, e["query"], e["region"], e["date"], cfg.store) for e in test]
    generate_all(tok, model, texts[:2], 2, 4)  # warm up the kernels
    start = time.perf_counter()
    batched = generate_all(tok, model, texts, batch_size, max_new_tokens)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    single = generate_all(tok, model, texts, 1, max_new_tokens)
    single_s = time.perf_counter() - start
    return {
        "prompts": len(texts),
        "batch_size": batch_size,
        "batched_seconds": batched_s,
        "single_seconds": single_s,
        "speedup": single_s / batched_s,
        "same_answers": sum(a == b for a, b in zip(batched, single)) / len(texts),
    }


def run_decode(cfg: JobConfig, model_dir, batch_sizes: list[int], new_tokens: int) -> dict:
    """Greedy decoding, milliseconds per step at each batch size: the Serve engine's path
    (generate.generate_ids: transformers' generate, dynamic KV cache), generate with a static
    cache, and at batch 1 the engine's path for a lone request (serve/speculative.py; random
    weights rarely agree with a draft, so this is its cost without the gain). A step is one new
    token for every row of the batch."""
    from skutune.generate import generate_ids, load_model, render
    from skutune.serve.speculative import greedy

    tok, model = load_model(str(model_dir))
    prompts = [render(tok, e["query"], e["region"], e["date"], cfg.store) for e in load_jsonl(cfg.run_dir().test)]

    def static(rows):
        enc = tok(rows, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                cache_implementation="static",
            )
        return out[:, enc["input_ids"].shape[1] :].tolist()

    def alone(rows):  # eos -1: never ends early, as min_new_tokens holds the others to the budget
        ids = tok(rows[0], return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
        return [greedy(model, ids, new_tokens, eos_id=-1)]

    paths = {
        "serve engine (dynamic cache)": lambda rows: generate_ids(tok, model, rows, new_tokens),
        "static cache": static,
        "serve engine, one request (speculative, request drafts)": alone,
    }
    out = {}
    for size in batch_sizes:
        rows = (prompts * (size // max(1, len(prompts)) + 1))[:size]
        for name, run in paths.items():
            if run is alone and size > 1:
                continue
            run(rows[:1])  # warm-up: kernels, the static cache's allocation
            start = time.perf_counter()
            steps = max(len(ids) for ids in run(rows))  # token ids as lists: the device has finished
            seconds = time.perf_counter() - start
            out[f"{name}, batch {size}"] = {"ms_per_step": 1000 * seconds / max(1, steps), "steps": steps}
    return out


def run_in_subprocess(system: str, spec: dict, timeout: float = 900) -> dict:
    """One system in a fresh Python process; its result, or the error it died with."""
    with tempfile.TemporaryDirectory() as d:
        spec_path, out_path = Path(d) / "spec.json", Path(d) / "out.json"
        spec_path.write_text(json.dumps(spec))
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "skutune.train.bench", system, str(spec_path), str(out_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out_path.exists():
            return {
                "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"],
                "log_tail": (proc.stdout + proc.stderr)[-3000:],
            }
        return {**json.loads(out_path.read_text()), "process_seconds": time.perf_counter() - start}


SYSTEMS = {
    "loop": lambda cfg, model_dir, spec: run_loop_alone(cfg, model_dir),
    "ray": lambda cfg, model_dir, spec: run_ray(cfg, model_dir),
    "trl": lambda cfg, model_dir, spec: run_trl(cfg, model_dir, spec["batch_size"]),
    "eval": lambda cfg, model_dir, spec: run_eval(
        cfg, model_dir, spec["prompts"], spec["batch_size"], spec["max_new_tokens"]
    ),
    "decode": lambda cfg, model_dir, spec: run_decode(cfg, model_dir, spec["batch_sizes"], spec["new_tokens"]),
}


def main(system: str, spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    if system not in SYSTEMS:
        raise SystemExit(f"unknown system {system!r}: one of {sorted(SYSTEMS)}")
    result = SYSTEMS[system](parse_config(spec["cfg"]), spec["model_dir"], spec)
    Path(out_path).write_text(json.dumps(result, default=float))


if __name__ == "__main__":
    main(*sys.argv[1:4])
