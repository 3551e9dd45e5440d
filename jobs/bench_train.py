"""Benchmark training: skutune against TRL's SFTTrainer on the same model, rows, LoRA settings and
token budget, plus Ray's overhead, each speed switch's effect, QLoRA's memory and batched eval.

    make bench        (python jobs/bench_train.py --config jobs/configs/bench.yaml)

Every system runs in a process of its own, one after another. Writes runs/bench/train.json and
runs/bench/train.md (the README's table) and prints the table.
"""

import json
import shutil
import time

import ray
import torch

from skutune.cli import config_or_exit, new_parser, start_logging
from skutune.runtime.model_import import resolve_model_dir
from skutune.train.bench import device_peak, load_bench_config, model_flops_per_token, run_in_subprocess

parser = new_parser(__doc__)
parser.add_argument(
    "--config", default="jobs/configs/bench.yaml", help="a job block (skutune's setting) plus the peers' knobs"
)
parser.add_argument("--only", nargs="*", help="run only these rows (labels as in the table)")
args = parser.parse_args()
start_logging()
bench = config_or_exit(load_bench_config, args.config)  # validated before anything starts
cfg = bench.job_config()
model_dir = resolve_model_dir(cfg.model)
out_dir = cfg.output_dir()
began = time.perf_counter()

# 1. data: the job's curated rows, made once (Ray is shut down again so the systems start clean)
if not (out_dir / "data" / "manifest.json").exists():
    from skutune.data.curate import run_curate
    from skutune.runtime.cluster import init_ray

    init_ray(1)
    run_curate(cfg, model_dir)
    ray.shutdown()

# 2. the machine's peak, for the FLOP/s fraction
torch.set_num_threads(cfg.train.threads_per_worker or torch.get_num_threads())
peak, peak_source = device_peak(cfg.train.mixed_precision)
print(f"peak {peak / 1e9:.1f} GFLOP/s ({peak_source})", flush=True)

# 3. the systems: label -> (system, job config, extra spec). The job config is skutune's fast
#    setting (packed, compiled); each switch row changes one thing against it, without Ray.
unpacked = {"packing": False, "compile": False, "batch_size": bench.unpacked_batch_size}
lora = cfg.method.model_dump()
memory = {"compile": False, "gradient_checkpointing": True, "max_steps": bench.memory_steps}
ROWS = {
    "TRL SFTTrainer, unpacked": ("trl", bench.job_config(**unpacked), {"batch_size": bench.unpacked_batch_size}),
    "TRL SFTTrainer, packed (BFD, padding-free)": ("trl", cfg, {"batch_size": cfg.train.batch_size}),
    "skutune, Ray Train (1 worker)": ("ray", cfg, {}),
    "skutune, same loop without Ray": ("loop", cfg, {}),
    "- torch.compile": ("loop", bench.job_config(compile=False), {}),
    "- torch.compile, - packing": ("loop", bench.job_config(**unpacked), {}),
    "+ gradient checkpointing": ("loop", bench.job_config(gradient_checkpointing=True), {}),
    "fp32 (no bf16 autocast)": ("loop", bench.job_config(mixed_precision="no"), {}),
    # both with gradient checkpointing, so the weights' and optimizer's share shows, not activations'
    "full fine-tune (memory)": ("loop", bench.job_config({"name": "full"}, **memory), {}),
    "QLoRA (memory)": ("loop", bench.job_config({**lora, "name": "qlora"}, **memory), {}),
    "batched eval vs one at a time": (
        "eval",
        cfg,
        {
            "prompts": bench.eval_prompts,
            "batch_size": bench.eval_batch_size,
            "max_new_tokens": bench.eval_max_new_tokens,
        },
    ),
}
if torch.cuda.is_available():
    ROWS["+ Liger kernels"] = ("loop", bench.job_config(liger=True), {})

# 4. torch.compile's cache warmed once: otherwise the first compiled row pays the compilation and the
#    rows after it load it from the cache (measured cold: Ray's first step 25 s of a 56 s epoch)
if cfg.train.compile:
    print("--- warm-up: one compiled step, not reported", flush=True)
    run_in_subprocess(
        "loop", {"cfg": bench.job_config(max_steps=1).model_dump(mode="json"), "model_dir": str(model_dir)}
    )

results = {}
for label, (system, job, extra) in ROWS.items():
    if args.only and label not in args.only:
        continue
    if system == "ray":
        shutil.rmtree(out_dir / "ray", ignore_errors=True)  # a fresh run, never a resumed one
    print(f"--- {label}", flush=True)
    results[label] = run_in_subprocess(
        system, {"cfg": job.model_dump(mode="json"), "model_dir": str(model_dir), **extra}
    )
    results[label]["config"] = {
        "system": system,
        "method": job.method.name,
        **job.train.model_dump(exclude={"slice"}),
        **extra,
    }
    print(
        json.dumps({k: v for k, v in results[label].items() if k not in ("config", "log_tail")}, default=str),
        flush=True,
    )

# 5. ratios against the peers measured above, and the table
flops = {m: model_flops_per_token(model_dir, full=m == "full") for m in ("lora", "full")}


def get(label, key):
    return results.get(label, {}).get(key)


def ratio(a, b):
    return a / b if a and b else None


def overhead(a, b):
    r = ratio(a, b)
    return None if r is None else 1 - r


base, alone, trl_u, trl_p = (
    "skutune, Ray Train (1 worker)",
    "skutune, same loop without Ray",
    "TRL SFTTrainer, unpacked",
    "TRL SFTTrainer, packed (BFD, padding-free)",
)
qlora, full = "QLoRA (memory)", "full fine-tune (memory)"


def waits(label) -> str | None:
    """The epoch's seconds, and how many of them the loop waited for its data."""
    train, wait = get(label, "train_seconds"), get(label, "data_wait_seconds")
    return None if train is None or wait is None else f"{wait:.1f} of {train:.1f}"


summary = {
    "tokens/s vs TRL unpacked (target >= 2)": ratio(get(base, "tokens_per_s"), get(trl_u, "tokens_per_s")),
    "tokens/s vs TRL packed (target >= 1)": ratio(get(base, "tokens_per_s"), get(trl_p, "tokens_per_s")),
    "steady tokens/s vs TRL unpacked": ratio(get(base, "steady_tokens_per_s"), get(trl_u, "steady_tokens_per_s")),
    "steady tokens/s vs TRL packed": ratio(get(base, "steady_tokens_per_s"), get(trl_p, "steady_tokens_per_s")),
    "Ray overhead, tokens/s over the epoch (target <= 5%)": overhead(
        get(base, "tokens_per_s"), get(alone, "tokens_per_s")
    ),
    "Ray overhead, steady tokens/s": overhead(get(base, "steady_tokens_per_s"), get(alone, "steady_tokens_per_s")),
    "epoch seconds waiting for data: Ray / alone": f"{waits(base)} / {waits(alone)}",
    "Ray start-up seconds (fit minus the training loop)": (get(base, "fit_seconds") or 0)
    - (get(base, "train_seconds") or 0)
    or None,
    "QLoRA / full fine-tune, peak memory (target <= 0.35)": ratio(
        get(qlora, "peak_memory_bytes"), get(full, "peak_memory_bytes")
    ),
    "QLoRA / full fine-tune, peak above the process at start": ratio(
        get(qlora, "peak_above_start_bytes"), get(full, "peak_above_start_bytes")
    ),
    "torch.compile, steady tokens/s with / without": ratio(
        get(alone, "steady_tokens_per_s"), get("- torch.compile", "steady_tokens_per_s")
    ),
    "batched eval speed-up (target >= 5)": get("batched eval vs one at a time", "speedup"),
}
device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
lines = [
    f"Device: {device}; peak {peak / 1e9:.0f} GFLOP/s ({peak_source}). Model {model_dir.name}, {cfg.method.name} "
    f"r{cfg.method.r}, {cfg.train.mixed_precision}; every system trains one epoch over the same {get(alone, 'tokens') or '?'} "
    "tokens (memory rows: a few steps).",
    "",
    "| system | tokens/s | steady tokens/s | vs skutune without Ray | peak memory GiB | above start GiB | model FLOP/s of peak | steps | loss |",
    "|---|---|---|---|---|---|---|---|---|",
]
for label, r in results.items():
    if "tokens_per_s" not in r:
        continue
    mfu = r["tokens_per_s"] * flops["full" if r["config"]["method"] == "full" else "lora"] / peak
    lines.append(
        f"| {label} | {r['tokens_per_s']:.0f} | {r['steady_tokens_per_s']:.0f} | "
        f"{ratio(r['tokens_per_s'], get(alone, 'tokens_per_s')) or float('nan'):.2f} | {r['peak_memory_bytes'] / 2**30:.2f} | "
        f"{r['peak_above_start_bytes'] / 2**30:.2f} | {100 * mfu:.1f}% | {r['step']} | {r['loss']:.3f} |"
    )
lines += ["", "| measure | value |", "|---|---|"]
lines += [f"| {k} | {v:.2f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in summary.items()]
if get("batched eval vs one at a time", "speedup"):
    e = results["batched eval vs one at a time"]
    lines.append(
        f"| eval: {e['prompts']} prompts, batch {e['batch_size']} vs 1 | {e['batched_seconds']:.1f} s vs "
        f"{e['single_seconds']:.1f} s; same answers {100 * e['same_answers']:.0f}% |"
    )
lines += [f"| FAILED: {k} | {v['error']} |" for k, v in results.items() if "error" in v]
table = "\n".join(lines)

(out_dir / "train.json").write_text(
    json.dumps(
        {
            "peak_flops": peak,
            "peak_source": peak_source,
            "summary": summary,
            "results": results,
            "seconds": time.perf_counter() - began,
        },
        indent=2,
        default=str,
    )
)
(out_dir / "train.md").write_text(table + "\n")
print(table)
print(f"\nwrote {out_dir / 'train.json'} and {out_dir / 'train.md'} in {time.perf_counter() - began:.0f} s")
