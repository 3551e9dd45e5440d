"""make gpu-check-smoke: the GPU check's whole plan on this CPU with a tiny model, its run step in
processes where `import ray` fails (the lent device's image has no Ray), so it never rots."""

import json
import math
import os
import runpy
import shutil
import subprocess

from helpers import REPO, python_exe

GPU_CHECK = REPO / "jobs" / "gpu_check.py"


def test_gpu_check_runs_every_system_without_ray(tiny_curated, tmp_path):
    carry, out, noray = tmp_path / "carry", tmp_path / "out", tmp_path / "noray" / "ray"
    # the rows: the tiny run the other tests curated (prepare curates only where the carry has none)
    shutil.copytree(tiny_curated[0].run_dir().data, carry / "runs" / "data")
    runpy.run_path(str(GPU_CHECK))["prepare"](carry, smoke=True)
    noray.mkdir(parents=True)
    (noray / "__init__.py").write_text("raise ImportError('no Ray on the GPU check machine')\n")
    env = os.environ | {"PYTHONPATH": f"{noray.parent}:{REPO / 'platform'}", "SKUTUNE_NO_BARS": "1"}
    run = subprocess.run(
        [python_exe(), str(GPU_CHECK), "run", "--carry", str(carry), "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    rows = report["archs"]["tiny"]
    trained = [label for label in rows if label != "decoding"]
    assert any("TRL" in label for label in trained) and any("full fine-tune" in label for label in trained)
    for label in trained:  # every system trained, none failed or was skipped (an error row has no tokens/s)
        r = rows[label]
        assert r.get("tokens_per_s", 0) > 0 and math.isfinite(r["loss"]) and r["mfu_measured"] > 0, (label, r)
    lone = "serve engine, one request (speculative, request drafts), batch 1"
    assert {"serve engine (dynamic cache), batch 4", "static cache, batch 4", lone} <= set(rows["decoding"])
    assert rows["decoding"][lone]["steps"] == 8  # the whole budget: a lone request's path runs on the device too
    assert "| skutune loop, LoRA, packed + compiled |" in (out / "gpu_check.md").read_text()
