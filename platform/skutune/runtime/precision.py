"""Whether bf16 pays on this device: measured once per process, not assumed.

On a CPU with native bf16 (AVX512-BF16, AMX) a bf16 matmul runs at ~3x fp32; on one with AVX2
only, torch emulates it: here (AMD EPYC, AVX2) a 1,024³ bf16 matmul ran at 0.8 GFLOP/s against
54 GFLOP/s in fp32, and bf16 autocast made a LoRA step on SmolLM2-135M ~100x slower (3 tokens/s).
SKUTUNE_BF16=1 or 0 overrides the measurement.
"""

import functools
import logging
import os
import time

import torch

log = logging.getLogger(__name__)


def matmul_seconds(dtypes, rounds: int = 9) -> dict:
    """Each dtype's best time for five 256³ matmuls, over `rounds` rounds taken in turns and spread
    out: a burst from another process (make test runs two pytest processes) lands on a few
    timings, rarely on every one of a dtype. Timing one dtype's runs back to back, a single burst
    covered all of them and made bf16 look slower than fp32 on a CPU where it is 2x faster."""
    mats = {d: torch.randn(256, 256).to(d) for d in dtypes}
    best = {d: float("inf") for d in dtypes}
    for _ in range(rounds):
        for d, a in mats.items():
            a @ a  # warm: kernels chosen, memory allocated
            start = time.perf_counter()
            for _ in range(5):
                a @ a
            best[d] = min(best[d], time.perf_counter() - start)
        time.sleep(0.005)
    return best


@functools.lru_cache(maxsize=4)
def bf16_pays(device_type: str) -> bool:
    """True where bf16 compute is at least as fast as fp32: CUDA with bf16 support; a CPU where a
    256³ matmul in bf16 is no slower than in fp32 (at most ~0.2 s on a CPU without it)."""
    forced = os.environ.get("SKUTUNE_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    seconds = matmul_seconds((torch.float32, torch.bfloat16))
    fp32, bf16 = seconds[torch.float32] / 5, seconds[torch.bfloat16] / 5
    log.info(
        "bf16 on this CPU (%s): %.2f ms per matmul against %.2f ms in fp32: %s",
        torch.backends.cpu.get_cpu_capability(),
        1e3 * bf16,
        1e3 * fp32,
        "used" if bf16 <= fp32 else "not used",
    )
    return bf16 <= fp32


def autocast_bf16(device_type: str):
    """bf16 autocast where it pays, else a no-op context."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16_pays(device_type))
