"""Score base model, tuned model and classic retrievers on the same held-out test set."""

import json
import logging
from pathlib import Path

from skutune.baselines import BASELINES
from skutune.config import JobConfig
from skutune.generate import generate_all, load_model, render
from skutune.metrics import METRICS, score_example, summarize
from skutune.schemas import parse_answer

log = logging.getLogger(__name__)


def load_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def predict(system: str, cfg: JobConfig, model_dir: Path, adapter_dir: Path, examples, catalog_rows) -> list[str]:
    """Raw text answers of one system for every example."""
    if system in BASELINES:
        return [json.dumps(a) for a in BASELINES[system](catalog_rows).answers(examples)]
    tok, model = load_model(model_dir, adapter_dir if system == "tuned" else None)
    prompts = [render(tok, e["query"], e["region"], e["date"]) for e in examples]
    return generate_all(tok, model, prompts, cfg.eval.batch_size, cfg.eval.max_new_tokens, desc=f"eval {system}")


def run_eval(cfg: JobConfig, model_dir: Path, adapter_dir: Path) -> dict:
    data = cfg.output_dir() / "data"
    examples = load_jsonl(data / "test.jsonl")
    catalog_rows = load_jsonl(data / "catalog.jsonl")
    catalog = {r["sku"]: r for r in catalog_rows}
    systems, predictions = {}, []
    for system in cfg.eval.systems:
        texts = predict(system, cfg, model_dir, adapter_dir, examples, catalog_rows)
        generative = system not in BASELINES
        scores = [score_example(e, parse_answer(t), catalog, generative) for e, t in zip(examples, texts)]
        systems[system] = summarize(examples, scores)
        predictions += [{"system": system, "id": e["id"], "kind": e["kind"], "query": e["query"], "output": t, **s}
                        for e, t, s in zip(examples, texts, scores)]
        log.info("%s: %s", system, {m: systems[system][m] for m in ("json_valid", "hit_at_1", "hit_at_5")})
    report = {"systems": systems, "n_examples": len(examples), "adapter": str(adapter_dir), "model": str(model_dir)}
    out = cfg.output_dir()
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    (out / "predictions.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions))
    (out / "eval.md").write_text(markdown_table(report))
    return report


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.2f}"


def markdown_table(report: dict) -> str:
    systems = report["systems"]
    lines = ["| system | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_fmt(s[m]) for m in METRICS) + " |" for name, s in systems.items()]
    kinds = list(next(iter(systems.values()))["by_kind"])
    lines += ["", "hit@1 by query kind (qa/comparison: the product asked about; policy: no SKU applies)", "",
              "| kind | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(_fmt(s["by_kind"][k]["hit_at_1"]) for s in systems.values()) + " |" for k in kinds]
    return "\n".join(lines) + "\n"
