"""The whole loop on one machine: model import -> curate -> index -> train (closed-book
search adapter, query-understanding adapter) -> eval -> serve, and with --fresh-skus the
fresh-SKU stage (1,000 SKUs added after training, scored; about 5 more minutes on 2 cores).

    python jobs/demo.py --config jobs/configs/demo.yaml      (what `make demo` runs)
    python jobs/demo.py --config jobs/configs/demo.yaml --fresh-skus

Each stage runs as its own job script, exactly as `ray job submit` would run it, and like
submitted jobs they share one Ray cluster (started here, or the one RAY_ADDRESS names). Then the
Serve app comes up with both adapters, the notes' example queries go over HTTP in both
modes, and runs/<name>/summary.json gets every system's metrics side by side.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import ray
import requests

from skutune.cli import job_args, setup  # noqa: E402
from skutune.eval.metrics import METRICS  # noqa: E402
from skutune.runtime.cluster import init_ray  # noqa: E402

QUERIES = [  # (query, region, date): the notes' examples
    ("S23 Ultra", "IN", "2026-11-25"),
    ("Samsung big fridge double door", "IN", "2026-11-25"),
    ("AC with inverter and 5 star rating", "IN", "2026-11-25"),
    ("best phone for gaming", "US", "2026-11-25"),
    ("fridge for family of 4 under ₹50,000", "IN", "2026-11-25"),
    ("samzung fridg", "IN", "2026-11-25"),
    ("apple ipad alternative", "EU", "2026-11-25"),
    ("S23 Ultra vs iPhone 15 Pro Max", "US", "2026-11-25"),
    ("Diwali TV offers", "IN", "2026-10-28"),
    ("Does Galaxy S24 support wireless charging?", "IN", "2026-11-25"),
    ("Buy iPhone 15 Pro", "US", "2026-11-25"),
]

args = job_args(
    __doc__, flags={"--fresh-skus": "also add 1,000 SKUs after training and score them (jobs/fresh_skus.py)"}
)
cfg = setup(args)
run_dir = cfg.output_dir()
if run_dir.exists():
    shutil.rmtree(run_dir)  # a demo starts from nothing; jobs/train.py alone resumes instead
stages, t0 = {}, time.time()
# every stage joins this cluster (RAY_ADDRESS) rather than starting and stopping one of its own
init_ray(cfg.train.num_workers * cfg.train.cpus_per_worker)
os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address


def stage(name, command, *sets):
    sets = [*args.set, *sets]
    print(f"\n=== {name}: skutune {command} --config {args.config}" + "".join(f" --set {s}" for s in sets), flush=True)
    start = time.time()
    subprocess.run(
        [sys.executable, "-m", "skutune.cli", command, "--config", args.config, *sum((["--set", s] for s in sets), [])],
        check=True,
    )
    stages[name] = round(time.time() - start, 1)
    print(f"=== {name} done in {stages[name]}s", flush=True)


stage("curate", "curate")
stage("index", "index")
stage("train search", "train", "train.task=search", "train.target=answer")
stage("train understand", "train", "train.task=understand", "train.target=parse")
stage("eval", "eval")
if args.fresh_skus:
    stage("fresh skus", "fresh-skus")

print("\n=== serve: one base model, adapters multiplexed per request", flush=True)
start = time.time()
from ray import serve  # noqa: E402

from skutune.serve.app import build_app  # noqa: E402
from skutune.serve.args import run_app_args  # noqa: E402

serve.start(http_options={"host": cfg.serve.host, "port": cfg.serve.port})
serve.run(
    build_app(run_app_args(cfg)),
    name="skutune",
    route_prefix="/",
)
url = f"http://{cfg.serve.host}:{cfg.serve.port}/v1/search"
answers = []
for query, region, date in QUERIES:
    row = {"query": query, "region": region}
    # the base model decodes freely (the "before"); closed-book and grounded use the app's constrained decoding
    for name, body in (
        ("base", {"adapter": "base", "constrained": False}),
        ("closed_book", {"mode": "closed_book"}),
        ("grounded", {"mode": "grounded"}),
    ):
        r = requests.post(url, json={"query": query, "region": region, "date": date, **body}, timeout=300)
        r.raise_for_status()
        out = r.json()
        row[name] = {
            "raw": out["raw"],
            "results": [c["title"] for c in out["results"]],
            "dropped": out["dropped_skus"],
            **{k: out[k] for k in ("parse", "constraints_applied", "constraints_relaxed") if k in out},
        }
    answers.append(row)
    g = row["grounded"]
    print(
        f"\n> [{region}] {query}\n  base       : {row['base']['raw'][:110]!r}\n  closed-book: {row['closed_book']['raw']}"
        + "".join(f"\n      - {t}" for t in row["closed_book"]["results"][:3])
        + f"\n  grounded   : parse {json.dumps(g['parse'], ensure_ascii=False)}\n      applied {g['constraints_applied']}"
        + (f" relaxed {g['constraints_relaxed']}" if g["constraints_relaxed"] else "")
        + "".join(f"\n      - {t}" for t in g["results"][:3]),
        flush=True,
    )
serve.shutdown()
stages["serve"] = round(time.time() - start, 1)

report = json.loads((run_dir / "eval.json").read_text())
fresh = json.loads((run_dir / "fresh_eval.json").read_text()) if args.fresh_skus else None
summary = {
    "systems": report["systems"],
    "fresh_skus": fresh,
    "stages_s": stages,
    "wall_time_s": round(time.time() - t0, 1),
    "n_test_examples": report["n_examples"],
    "served_examples": answers,
}
(run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
print("\n" + (run_dir / "eval.md").read_text())
if args.fresh_skus:
    print("SKUs added after training (jobs/fresh_skus.py):\n" + (run_dir / "fresh_eval.md").read_text())
print(f"stages (s): {stages}; total {summary['wall_time_s']}s")
print(f"summary: {run_dir / 'summary.json'}  metrics: {', '.join(METRICS)}")
