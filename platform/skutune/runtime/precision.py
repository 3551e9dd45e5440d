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


def _seconds(fn, reps: int = 5) -> float:
    """The best of `reps` timings: a burst from another process lands on one, rarely on all."""
    fn()  # warm-up: kernels chosen, memory allocated
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
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
    a = torch.randn(256, 256)
    fp32 = _seconds(lambda: a @ a)
    b = a.bfloat16()
    bf16 = _seconds(lambda: b @ b)
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
