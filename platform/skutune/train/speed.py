"""`train.speed: auto`: the fastest training settings `make bench` measured, chosen for this run
when it starts and printed, so a shipped config never trains slower than the benchmark says.

Measured on this project's 2-core CPU (README, "make bench"): padding-free packing 1.20x over
padded batches, torch.compile 1.50x at steady state, bf16 autocast 2x where the CPU has bf16
units (train.mixed_precision auto measures that on every worker, so it is not chosen here).
Compiling is a one-off cost at the first step, so a short run stays eager.
"""

import math

from skutune.config import PROMPT_LEARNING, JobConfig

PACK_LENGTH = 256  # rows of 256 tokens beat 512 by ~10% in make bench: SDPA's block mask spans less
# below this many optimizer steps the compile's one-off cost is not repaid; the demo's adapters
# plan 130-224 steps, a task adapter 60, the tests fewer
COMPILE_MIN_STEPS = 100
COMPILED_METHODS = ("lora",)  # compiled in make bench and the GPU check; other methods untested compiled


def choose(cfg: JobConfig, rows: int, tokens: int) -> tuple[JobConfig, str]:
    """The config with packing, pack_length, batch_size and compile chosen for `rows` training
    examples of `tokens` tokens in all, and a line saying what was chosen and why. `batch_size`
    stays about that many examples per micro-batch: packed rows holding as many tokens."""
    t = cfg.train
    pack = cfg.method.name not in PROMPT_LEARNING
    steps = math.ceil(rows / (t.batch_size * t.num_workers * t.grad_accum)) * t.epochs
    steps = min(steps, t.max_steps or steps)
    compile_ = (
        steps >= COMPILE_MIN_STEPS
        and cfg.method.name in COMPILED_METHODS
        and t.strategy == "ddp"  # compile with FSDP2 / DeepSpeed is untested
        and not t.gradient_checkpointing  # untested together on Ray
    )
    update = {"speed": "as_set", "compile": compile_, "packing": pack}
    why = [
        f"compile {'on' if compile_ else 'off'} ({steps} steps; on from {COMPILE_MIN_STEPS}, for {COMPILED_METHODS})"
    ]
    if pack:
        length = max(PACK_LENGTH, cfg.data.max_length)
        per_row = length / max(1.0, tokens / max(rows, 1))  # examples a packed row holds
        update |= {"pack_length": length, "batch_size": max(1, round(t.batch_size / per_row))}
        why.insert(
            0,
            f"packing on (rows of {length} tokens, {update['batch_size']} per micro-batch: about {t.batch_size} "
            f"examples of {tokens / max(rows, 1):.0f} tokens)",
        )
    else:
        why.insert(0, f"packing off (method {cfg.method.name}: its virtual tokens belong to one example per row)")
    line = f"train.speed auto: {'; '.join(why)}; bf16 autocast per train.mixed_precision ({t.mixed_precision})"
    return cfg.model_copy(update={"train": t.model_copy(update=update)}), line
