"""Evaluate: base model, closed-book adapter, grounded search (understanding adapter + catalog
index), BM25 and dense retrieval, on the same held-out test set.

    python jobs/eval.py --config jobs/configs/demo.yaml

Writes runs/<name>/eval.json, eval.md (tables) and predictions.jsonl (every answer, scored;
grounded rows also carry the parse and the filters applied and relaxed).
"""

from skutune.cli import run_stage

run_stage("eval", __doc__)  # skutune.pipeline.evaluate, as `skutune eval` runs it
