"""The GPU check: skutune's training loop and the Serve engine's decoding against TRL's SFTTrainer
on one lent GPU, in one script that needs no Ray (the device image has none, and its wheel is over
the 64 MiB a call carries). Two steps:

    make gpu-check        # here: python jobs/gpu_check.py prepare -> .gpu_check/ (git-ignored)
    # there, with the device tool: carry [".gpu_check"], command: bash .gpu_check/run.sh
    make gpu-check-smoke  # the same plan on this CPU with a tiny model (in make test): it never rots

`prepare` curates the bench config's rows (more of them for a GPU), writes the SmolLM2-135M and
SmolLM2-1.7B architectures (config and tokenizer: no weights travel, the check initialises them at
random), downloads the pure-Python wheels the device lacks (trl, datasets, pydantic, liger-kernel,
xgrammar, jsonschema and their needs, for its Python 3.12) and writes run.sh.

`run` trains, per architecture, each system in a process of its own on the same rows and token
budget: skutune's loop (LoRA r16: packed + compiled, unpacked, + Liger on CUDA, + activation
checkpointing; full fine-tune), TRL SFTTrainer (LoRA defaults, LoRA packed, full fine-tune),
QLoRA's memory where bitsandbytes is installed; then decoding milliseconds per step at batch 1, 16
and 64 (and a lone request's speculative path at batch 1). Reports tokens/s, peak memory and the model FLOP/s as a share of the card's datasheet bf16
peak and of a measured bf16 matmul, into gpu_check.md and gpu_check.json under --out, and stops
starting new rows past --budget-s.
"""

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHS = {  # SmolLM2's published configs over the embedded 135M one; in this order (the budget may end the last)
    "smollm2-1.7b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
    },
    "smollm2-135m": {},
}
# what skutune's training and serving modules and TRL import that the device image lacks
WHEELS = (
    "trl datasets dill multiprocess pydantic pydantic-core annotated-types typing-inspection xgrammar jsonschema "
    "jsonschema-specifications referencing rpds-py"
).split()
LIGER = "liger-kernel>=0.8,<0.9"
DEVICE_PYTHON = "3.12"
RUN_SH = """#!/bin/bash
# the GPU check on the lent machine: wheels into /tmp/site, skutune from the working tree
set -e
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu_check/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD/platform PYTHONUNBUFFERED=1 SKUTUNE_NO_BARS=1 SKUTUNE_CACHE=/tmp/skutune-cache
python3 jobs/gpu_check.py run --carry .gpu_check --out "${OUT:-runs/gpu_check}" --budget-s "${BUDGET_S:-450}"
"""


def job_dict(carry: Path, smoke: bool) -> dict:
    """The bench config's job block, its run under the carry folder; a GPU gets more rows."""
    from skutune.train.bench import load_bench_config

    bench = load_bench_config(REPO / "jobs" / "configs" / "bench.yaml")
    job = json.loads(json.dumps(bench.job))
    job["run"] = {**job.get("run", {}), "name": "gpu_check", "output_dir": str(carry / "runs")}
    job["data"] = {**job["data"], "train_per_kind": 4 if smoke else 150, "test_per_kind": 2}
    # the rows are a workload here, not a dataset to clean: the dedup passes only cost time
    job["curate"] = {
        **job.get("curate", {}),
        "semantic_dedup": {"enabled": False},
        "near_dedup": {"enabled": False},
        "partitions": 2,
    }
    return job


def prepare(carry: Path, smoke: bool) -> None:
    from transformers import AutoConfig, AutoTokenizer

    from skutune.config import ModelConfig, load_config, parse_config
    from skutune.runtime.model_import import resolve_model_dir

    carry.mkdir(parents=True, exist_ok=True)
    job = job_dict(carry.resolve(), smoke)
    cfg = parse_config(job)
    base = resolve_model_dir(ModelConfig())
    archs = (
        {"tiny": load_config(REPO / "jobs" / "configs" / "tiny.yaml").model.random_init.model_dump()}
        if smoke
        else ARCHS
    )
    for name, overrides in archs.items():  # config and tokenizer only: the check builds random weights there
        out = carry / "models" / name
        config = AutoConfig.from_pretrained(base)
        for k, v in overrides.items():
            setattr(config, k, v)
        config.head_dim = config.hidden_size // config.num_attention_heads
        config.save_pretrained(out)
        AutoTokenizer.from_pretrained(base).save_pretrained(out)
    if not cfg.run_dir().manifest.exists():
        from skutune.data.curate import run_curate
        from skutune.runtime.cluster import init_ray

        init_ray()
        run_curate(cfg, base)
    (carry / "job.json").write_text(json.dumps({"job": job, "archs": list(archs), "smoke": smoke}, indent=2))
    if not smoke:
        wheels(carry / "wheels")
        (carry / "run.sh").write_text(RUN_SH)
    size = sum(f.stat().st_size for f in carry.rglob("*") if f.is_file())
    print(f"{carry}: {size / 2**20:.1f} MiB to carry (the device takes 64 MiB with the working tree)")


def wheels(out: Path) -> None:
    """The device's missing packages as wheels for its Python, pinned to this environment's versions."""
    from importlib.metadata import PackageNotFoundError, version

    def pinned(name):
        try:
            return f"{name}=={version(name)}"
        except PackageNotFoundError:
            return name

    shutil.rmtree(out, ignore_errors=True)
    platforms = [f"--platform=manylinux_2_{n}_x86_64" for n in (17, 27, 28)] + ["--platform=manylinux2014_x86_64"]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(out)]
        + ["--python-version", DEVICE_PYTHON, "--implementation", "cp", *platforms]
        + [pinned(n) for n in WHEELS]
        + [LIGER],
        check=True,
    )


def plan(job: dict, model_dir: Path, cuda: bool, smoke: bool) -> dict:
    """label -> (system, job config dict, extra spec): each row changes one thing against skutune's fast setting."""
    fast = {**job, "model": {"path": str(model_dir)}}
    # smoke: two steps, no compile (inductor's first compile on a CPU costs more than the whole check)
    fast["train"] = {**job["train"], "max_steps": 2, "compile": False} if smoke else job["train"]
    lora = fast["method"]

    def variant(method=None, **train):
        return {**fast, "method": method or lora, "train": {**fast["train"], **train}}

    unpacked = {"packing": False, "compile": False, "batch_size": 12}
    full = {"name": "full"}
    sizes = [1, 4] if smoke else [1, 16, 64]
    rows = {
        "decoding": ("decode", fast, {"batch_sizes": sizes, "new_tokens": 8 if smoke else 32}),
        "skutune loop, LoRA, packed + compiled": ("loop", fast, {}),
        "skutune loop, LoRA, unpacked": ("loop", variant(**unpacked), {}),
        "skutune loop, LoRA, + activation checkpointing": ("loop", variant(gradient_checkpointing=True), {}),
        "TRL SFTTrainer, LoRA, defaults (unpacked)": ("trl", variant(**unpacked), {"batch_size": 12}),
        "TRL SFTTrainer, LoRA, packed (BFD)": ("trl", fast, {"batch_size": fast["train"]["batch_size"]}),
        "skutune loop, full fine-tune": ("loop", variant(full), {}),
        "TRL SFTTrainer, full fine-tune": ("trl", variant(full, **unpacked), {"batch_size": 12}),
    }
    if smoke:  # on a CPU in make test: each system, and each method in one of them, keeps the plan from rotting
        for label in ("skutune loop, LoRA, unpacked", "skutune loop, LoRA, + activation checkpointing"):
            del rows[label]
        del rows["TRL SFTTrainer, LoRA, defaults (unpacked)"], rows["TRL SFTTrainer, full fine-tune"]
    if cuda:
        rows["skutune loop, LoRA, + Liger"] = ("loop", variant(liger=True), {})
        if importlib.util.find_spec("bitsandbytes"):
            rows["skutune loop, QLoRA"] = ("loop", variant({**lora, "name": "qlora"}), {})
    return rows


def run(carry: Path, out: Path, budget_s: float) -> dict:
    import torch

    from skutune.config import parse_config
    from skutune.runtime.model_import import random_model
    from skutune.train.bench import GPU_BF16_PEAK, matmul_peak, model_flops_per_token, run_in_subprocess

    began = time.perf_counter()
    spec = json.loads((carry / "job.json").read_text())
    spec["job"]["run"]["output_dir"] = str((carry / "runs").resolve())  # where the carry landed on this machine
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name() if cuda else "CPU"
    dtype = torch.bfloat16 if cuda else torch.float32
    measured = matmul_peak(dtype, 8192 if cuda else 1024, device="cuda" if cuda else "cpu")
    datasheet = next((p for k, p in GPU_BF16_PEAK.items() if k in name), None)
    report = {"device": name, "measured_matmul_flops": measured, "datasheet_bf16_flops": datasheet, "archs": {}}
    print(f"{name}: measured {str(dtype)[6:]} matmul {measured / 1e12:.1f} TFLOP/s; datasheet {datasheet}", flush=True)
    for arch in spec["archs"]:
        model_dir = random_model((carry / "models" / arch).resolve(), {})
        results = report["archs"][arch] = {}
        for label, (system, job, extra) in plan(spec["job"], model_dir, cuda, spec["smoke"]).items():
            left = budget_s - (time.perf_counter() - began)
            if left < 30:
                results[label] = {"skipped": f"past the {budget_s:.0f} s budget"}
                continue
            print(f"--- {arch}: {label}", flush=True)
            cfg = parse_config(job)
            r = run_in_subprocess(
                system, {"cfg": cfg.model_dump(mode="json"), "model_dir": str(model_dir), **extra}, left
            )
            if "tokens_per_s" in r:
                flops = r["tokens_per_s"] * model_flops_per_token(model_dir, full=cfg.method.name == "full")
                r["mfu_measured"] = flops / measured
                r["mfu_datasheet"] = flops / datasheet if datasheet else None
            results[label] = r
            print(json.dumps({k: v for k, v in r.items() if k != "log_tail"}, default=str)[:600], flush=True)
    report["seconds"] = time.perf_counter() - began
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "gpu_check.md").write_text(table(report) + "\n")
    print(table(report))
    return report


def table(report: dict) -> str:
    def cell(v, fmt):
        return format(v, fmt) if isinstance(v, int | float) else "–"

    lines = [
        f"Device: {report['device']}; measured matmul {report['measured_matmul_flops'] / 1e12:.1f} TFLOP/s; "
        f"datasheet bf16 {cell((report['datasheet_bf16_flops'] or 0) / 1e12, '.0f')} TFLOP/s; {report['seconds']:.0f} s.",
    ]
    for arch, results in report["archs"].items():
        lines += [
            "",
            f"**{arch}** (random weights)",
            "",
            "| system | tokens/s | steady tokens/s | peak memory GiB | of datasheet peak | of measured matmul | loss |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, r in results.items():
            if label == "decoding" and "error" not in r and "skipped" not in r:
                continue
            if "tokens_per_s" not in r:
                lines.append(f"| {label} | {r.get('skipped') or r.get('error')} | | | | | |")
                continue
            lines.append(
                f"| {label} | {r['tokens_per_s']:.0f} | {r['steady_tokens_per_s']:.0f} | "
                f"{r['peak_memory_bytes'] / 2**30:.2f} | {cell(r['mfu_datasheet'] and 100 * r['mfu_datasheet'], '.1f')}% | "
                f"{100 * r['mfu_measured']:.1f}% | {r['loss']:.3f} |"
            )
        decoding = results.get("decoding", {})
        if decoding and "error" not in decoding and "skipped" not in decoding:
            lines += ["", "| decoding | ms per step |", "|---|---|"]
            lines += [f"| {k} | {v['ms_per_step']:.1f} |" for k, v in decoding.items() if isinstance(v, dict)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare", help="here: rows, architectures, wheels and run.sh into --carry")
    p.add_argument("--carry", default=".gpu_check")
    p.add_argument("--smoke", action="store_true", help="a tiny architecture and a few rows, no wheels")
    r = sub.add_parser("run", help="the check, without Ray (on the device: bash .gpu_check/run.sh)")
    r.add_argument("--carry", default=".gpu_check")
    r.add_argument("--out", default="runs/gpu_check")
    r.add_argument("--budget-s", type=float, default=450, help="no new row starts past this many seconds")
    args = ap.parse_args()
    if args.step == "prepare":
        prepare(Path(args.carry), args.smoke)
    else:
        run(Path(args.carry), Path(args.out), args.budget_s)


if __name__ == "__main__":
    main()
