"""Curation at scale: a synthetic query log of 1,000,000 rows (messy: PII, abuse, off-domain
and foreign-language queries, malformed rows, case/punctuation/spelling variants) through the
whole curate pipeline: ingest + PII scrub, click aggregation, filters, exact and MinHash dedup,
decontamination, target grading, tokenization. Model-based stages (MiniLM semantic dedup,
teacher distillation) are off here; the demo runs them.

    python jobs/bench_curate.py                           # 1,000,000 rows, 1 and 2 CPU workers
    python jobs/bench_curate.py --rows 200000 --workers 2

Each measured run is its own process with a fresh local Ray of N CPUs. Runs on a quarter of
the rows show whether peak memory grows with the data. Reports rows/s, seconds, the
peak memory (PSS) of the driver, the largest Ray worker and all workers together, and the
speed-up from 1 to 2 workers; writes runs/bench_curate/curate.json and curate.md.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from skutune.runtime.paths import runs_dir

FILE_ROWS = 50_000  # log rows per file: logs arrive as many files, and each read task holds one


def write_log(folder: Path, rows: int, seed: int = 0) -> Path:
    """The synthetic log as JSONL files of FILE_ROWS rows, generated once per (rows, seed) and reused."""
    from skutune.demo.catalog import build_catalog
    from skutune.demo.querylog import synth_log

    stamp = folder.with_suffix(".rows")
    if stamp.exists() and stamp.read_text() == f"{rows} {seed}":
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    catalog, per = build_catalog(), FILE_ROWS
    for part in range(-(-rows // per)):
        n = max(0, min(per, rows - part * per))
        lines = synth_log(catalog, n, seed, start_id=part * per)
        (folder / f"part-{part:05d}.jsonl").write_text("".join(line + "\n" for line in lines))
    stamp.write_text(f"{rows} {seed}")
    return folder


def measure(config: str, log: Path, rows: int, workers: int, out: Path) -> dict:
    """One run: a fresh local Ray with `workers` CPUs, the pipeline, its wall time and memory."""
    import ray

    from skutune.config import load_config
    from skutune.data.curate import run_curate
    from skutune.runtime.cluster import configure_data
    from skutune.runtime.memory import PeakRSS
    from skutune.runtime.model_import import resolve_model_dir

    cfg = load_config(config, {"curate.log_path": str(log), "run.output_dir": str(out / f"run-{rows}-{workers}w")})
    model_dir = resolve_model_dir(cfg.model)
    configure_data()  # the settings every skutune job runs with
    ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level="WARNING")
    with PeakRSS() as mem:
        start = time.time()
        manifest = run_curate(cfg, model_dir)
        seconds = time.time() - start
    ex, lg = manifest["examples"], manifest["log"]
    return {
        "rows": rows,
        "workers": workers,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "memory_gib": mem.gib(),
        "log_quarantined": sum(lg["quarantined"].values()),
        "log_examples": lg["examples_out"],
        "examples_in": ex["rows_in"],
        "examples_kept": ex["rows_out"],
        "removed": ex["removed"],
        "train_tokens": ex["train_tokens"]["answer"],
        "stage_seconds": manifest["seconds"],
    }


def markdown(runs: list[dict], speedup: float | None) -> str:
    lines = [
        "| log rows | CPU workers | seconds | rows/s | driver peak GiB | largest worker GiB | all workers GiB | examples kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        m = r["memory_gib"]
        lines.append(
            f"| {r['rows']:,} | {r['workers']} | {r['seconds']} | {r['rows_per_s']:,} | {m['driver']} | {m['worker']} | "
            f"{m['workers']} | {r['examples_kept']:,} |"
        )
    if speedup:
        lines += ["", f"Speed-up from 1 to 2 workers: **{speedup:.2f}x**."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="jobs/configs/bench_curate.yaml", help="the job config the pipeline runs with")
    ap.add_argument("--rows", type=int, default=1_000_000, help="synthetic query log rows")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="CPU counts of the local Ray, one run each")
    ap.add_argument(
        "--no-memory-run", action="store_true", help="skip the quarter-size runs that check memory stays bounded"
    )
    ap.add_argument("--out", default=str(runs_dir() / "bench_curate"))
    ap.add_argument(
        "--measure", nargs=3, metavar=("LOG", "ROWS", "WORKERS"), help=argparse.SUPPRESS
    )  # one run, in a child process
    args = ap.parse_args()
    out = Path(args.out)
    if args.measure:
        log, rows, workers = args.measure
        print("RESULT " + json.dumps(measure(args.config, Path(log), int(rows), int(workers), out)), flush=True)
        return

    plan = [(args.rows, w) for w in args.workers]
    if not args.no_memory_run:  # the same worker counts on a quarter of the rows: does peak memory grow with the data?
        plan += [(args.rows // 4, w) for w in args.workers]
    runs = []
    for rows, workers in plan:
        start = time.time()
        log = write_log(out / f"log-{rows}", rows)
        print(
            f"log of {rows:,} rows ready in {time.time() - start:.0f}s; curating with {workers} CPU worker(s)",
            flush=True,
        )
        env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"), "SKUTUNE_NO_BARS": "1"}
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--config",
                args.config,
                "--out",
                str(out),
                "--measure",
                str(log),
                str(rows),
                str(workers),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        result = next((json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")), None)
        if result is None:
            sys.exit(f"run failed ({rows} rows, {workers} workers):\n{proc.stderr[-4000:]}")
        runs.append(result)
        print(json.dumps(result), flush=True)
    by = {(r["rows"], r["workers"]): r for r in runs}
    speedup = (
        by[(args.rows, 2)]["rows_per_s"] / by[(args.rows, 1)]["rows_per_s"]
        if {(args.rows, 1), (args.rows, 2)} <= set(by)
        else None
    )
    report = {"runs": runs, "speedup_1_to_2_workers": round(speedup, 2) if speedup else None, "cpus": os.cpu_count()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "curate.json").write_text(json.dumps(report, indent=2))
    (out / "curate.md").write_text(markdown(runs, speedup))
    print("\n" + markdown(runs, speedup))


if __name__ == "__main__":
    main()
