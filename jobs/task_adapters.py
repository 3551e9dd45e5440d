"""Train the task adapters and score each on its own slice against the general adapter and the base.

    python jobs/task_adapters.py --configs jobs/configs/adapters
    python jobs/task_adapters.py --configs jobs/configs/adapters --only typo,seasonal-diwali

Every config in the folder shares one run (one curated data set). The general adapter
(--general, default "search") trains first; each other adapter trains on its slice
(train.slice: kinds, regions, campaigns) and is scored closed-book on the test examples of
that slice, beside the general adapter and the base model, with the everyday-instruction
forgetting check. Writes runs/<name>/adapters.md and adapters.json.
"""

import json
import sys
from pathlib import Path

from skutune.cli import config_or_exit, new_parser, start_logging
from skutune.config import load_config
from skutune.runtime.model_import import resolve_model_dir

parser = new_parser(__doc__)
parser.add_argument("--configs", required=True, help="folder of adapter configs (jobs/configs/adapters)")
parser.add_argument("--general", default="search", help="task name of the general adapter the others are compared with")
parser.add_argument(
    "--only",
    default="",
    help="comma-separated task names to retrain and rescore; without it, "
    "only adapters with no result yet are trained (results: runs/<name>/results/)",
)
args = parser.parse_args()
start_logging()
configs = {c.train.task: c for c in (config_or_exit(load_config, p) for p in sorted(Path(args.configs).glob("*.yaml")))}
if args.general not in configs:
    sys.exit(f"no config in {args.configs} trains the general adapter {args.general!r}")
general = configs.pop(args.general)
shared = {c.output_dir() for c in configs.values()} | {general.output_dir()}
if len(shared) != 1 or any(c.data != general.data or c.model != general.model for c in configs.values()):
    sys.exit(f"every config in {args.configs} must share run, model and data blocks (one curated data set)")
only = set(filter(None, args.only.split(",")))  # retrain and rescore these; others only if they have no result yet
unknown = only - {args.general, *configs}
if unknown:
    sys.exit(f"--only: no adapter named {sorted(unknown)}; adapters: {[args.general, *configs]}")

from skutune.data.curate import run_curate  # noqa: E402
from skutune.eval.compare_methods import evaluate_adapter, train_variant  # noqa: E402
from skutune.runtime.cluster import init_ray  # noqa: E402  (heavy imports after the config check)
from skutune.runtime.paths import load_jsonl  # noqa: E402

out, model_dir = general.output_dir(), resolve_model_dir(general.model)
init_ray(max(c.train.num_workers * c.train.cpus_per_worker for c in [general, *configs.values()]))
if not (out / "data" / "manifest.json").exists():
    run_curate(general, model_dir)
test, catalog = load_jsonl(out / "data" / "test.jsonl"), load_jsonl(out / "data" / "catalog.jsonl")
results = out / "results"
results.mkdir(parents=True, exist_ok=True)


def trained(cfg) -> dict:
    """Train `cfg`'s adapter unless it is already there and not selected."""
    path = results / f"train-{cfg.train.task}.json"
    if cfg.train.task in only or not path.exists():
        print(f"=== train {cfg.train.task}: method {cfg.method.name}, slice {cfg.train.slice.model_dump()}", flush=True)
        path.write_text(json.dumps(train_variant(cfg, model_dir), indent=2))
    return json.loads(path.read_text())


trained(general)
rows = []
for task, cfg in configs.items():
    train = trained(cfg)
    path = results / f"eval-{task}.json"
    if task in only or not path.exists():
        examples = [e for e in test if cfg.train.slice.selects(e)]
        print(
            f"=== score {task} on its slice ({len(examples)} test queries) beside {args.general} and the base",
            flush=True,
        )
        scores = {
            name: evaluate_adapter(cfg, model_dir, examples, catalog, adapter)
            for name, adapter in (("adapter", task), ("general", args.general), ("base", None))
        }
        path.write_text(
            json.dumps(
                {
                    "task": task,
                    "method": cfg.method.name,
                    "slice": cfg.train.slice.model_dump(exclude_defaults=True),
                    "n_test": len(examples),
                    "train": train,
                    **scores,
                },
                indent=2,
            )
        )
    rows.append(json.loads(path.read_text()))

lines = [
    f"Each adapter scored closed-book on its slice of the test set; general = the {args.general!r} adapter "
    "trained on every kind. Everyday = the forgetting check (share of everyday instructions answered right).",
    "",
    "| adapter | method | slice | trainable % | test n | hit@1 adapter / general / base | JSON valid a / g / b | "
    "everyday a / g / b |",
    "|---|---|---|---|---|---|---|---|",
]
for r in rows:
    a, g, b = r["adapter"], r["general"], r["base"]
    trio = lambda k: " / ".join("–" if x[k] is None else f"{x[k]:.2f}" for x in (a, g, b))  # noqa: E731
    lines.append(
        f"| {r['task']} | {r['method']} | {json.dumps(r['slice'])} | {r['train']['trainable_pct']:.3f} | {r['n_test']} | "
        f"{trio('hit_at_1')} | {trio('json_valid')} | {trio('everyday_acc')} |"
    )
(out / "adapters.md").write_text("\n".join(lines) + "\n")
(out / "adapters.json").write_text(json.dumps(rows, indent=2))
print((out / "adapters.md").read_text())
