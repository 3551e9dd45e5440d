"""Compare every tuning method on the same data and the same token budget.

    python jobs/compare_methods.py --config jobs/configs/compare.yaml
    python jobs/compare_methods.py --config jobs/configs/compare.yaml --only lora,prefix --fresh

Each variant trains through the same Ray Train loop as jobs/train.py and is scored closed-book
on the test set, plus the everyday-instruction forgetting check. Writes runs/<name>/methods.md,
methods.json and methods.png. Each variant's row is kept in runs/<name>/results/<label>.json,
so a rerun trains only variants without one (--fresh retrains those selected).
"""

import json
import sys

from skutune.cli import config_or_exit, new_parser, start_logging
from skutune.config import load_compare_config
from skutune.runtime.model_import import resolve_model_dir

parser = new_parser(__doc__)
parser.add_argument("--config", required=True, help="comparison config YAML (jobs/configs/compare.yaml)")
parser.add_argument(
    "--only", default="", help="comma-separated variant labels to (re)run; the report keeps the others' rows"
)
parser.add_argument("--fresh", action="store_true", help="retrain selected variants even if a result exists")
args = parser.parse_args()
start_logging()
compare, jobs = config_or_exit(load_compare_config, args.config)  # every variant validated before Ray starts
unknown = set(filter(None, args.only.split(","))) - set(jobs)
if unknown:
    sys.exit(f"--only: no variant named {sorted(unknown)}; variants: {list(jobs)}")
selected = set(filter(None, args.only.split(","))) or set(jobs)

from skutune.data.curate import run_curate  # noqa: E402
from skutune.eval.compare_methods import evaluate_adapter, train_variant, write_report  # noqa: E402
from skutune.runtime.cluster import init_ray  # noqa: E402  (heavy imports after the config check)
from skutune.runtime.paths import load_jsonl  # noqa: E402

first = next(iter(jobs.values()))
out, model_dir = first.output_dir(), resolve_model_dir(first.model)
init_ray(max(c.train.num_workers * c.train.cpus_per_worker for c in jobs.values()))
if not (out / "data" / "manifest.json").exists():
    run_curate(first, model_dir)
examples, catalog = load_jsonl(out / "data" / "test.jsonl"), load_jsonl(out / "data" / "catalog.jsonl")
results = out / "results"
results.mkdir(parents=True, exist_ok=True)

if not (results / "_base.json").exists():
    (results / "_base.json").write_text(json.dumps(evaluate_adapter(first, model_dir, examples, catalog, None)))
base = json.loads((results / "_base.json").read_text())

rows = []
for label, cfg in jobs.items():
    path = results / f"{label}.json"
    if label in selected and (args.fresh or not path.exists()):
        print(
            f"=== {label}: method {cfg.method.name}, strategy {cfg.train.strategy}, {cfg.train.num_workers} worker(s)",
            flush=True,
        )
        row = {
            "label": label,
            "method": cfg.method.name,
            "strategy": cfg.train.strategy,
            "workers": cfg.train.num_workers,
            **train_variant(cfg, model_dir),
            **evaluate_adapter(cfg, model_dir, examples, catalog, label),
        }
        path.write_text(json.dumps(row, indent=2))
    if path.exists():
        rows.append(json.loads(path.read_text()))

steps = {c.train.max_steps * c.train.batch_size * c.train.num_workers for c in jobs.values()}
budget = (
    f"Budget per method: {' or '.join(map(str, sorted(steps)))} training examples (optimizer steps x examples per step, "
    f"the same for every method), {sum(r['tokens'] for r in rows) // max(1, len(rows))} tokens on average; "
    f"scored closed-book on {len(examples)} test queries."
)
write_report(out, rows, base, budget)
print((out / "methods.md").read_text())
print(f"wrote {out / 'methods.md'}, {out / 'methods.json'}, {out / 'methods.png'}")
