"""Evaluate: base model, closed-book adapter, grounded search (understanding adapter + catalog
index), BM25 and dense retrieval, on the same held-out test set.

    python jobs/eval.py --config jobs/configs/demo.yaml

Writes runs/<name>/eval.json, eval.md (tables) and predictions.jsonl (every answer, scored;
grounded rows also carry the parse and the filters applied and relaxed).
"""

from skutune.cli import job_args, setup
from skutune.model_import import resolve_model_dir
from skutune.serving import is_artefact

cfg = setup(job_args(__doc__))  # config is validated here, before any model loads
needs = {"closed_book": [cfg.eval.closed_book_adapter], "grounded": [cfg.eval.understand_adapter],
         "grounded_rerank": [cfg.eval.understand_adapter]}
for system in cfg.eval.systems:
    for name in needs.get(system, []):
        if not is_artefact(cfg.adapter_dir(name)):
            raise SystemExit(f"{system} needs the adapter {cfg.adapter_dir(name)}: train it with jobs/train.py first")
    if system.startswith("grounded") and not (cfg.index_dir() / "CURRENT").exists():
        raise SystemExit(f"{system} needs the catalog index {cfg.index_dir()}: run jobs/index.py first")
model_dir = resolve_model_dir(cfg.model)

from skutune.evaluate import run_eval  # noqa: E402  (heavy imports after the config check)

from skutune.tracking import Tracker  # noqa: E402

report = run_eval(cfg, model_dir)
with Tracker(cfg, "eval") as track:  # every system's metrics, overall and per query kind
    track.metrics(report["systems"])
    for name in ("eval.json", "eval.md"):
        track.artifact(cfg.output_dir() / name)
print((cfg.output_dir() / "eval.md").read_text())
