"""The method comparison: train each variant on the same data and token budget, measure what
it costs (parameters, artefact size, memory, tokens/s, wall time) and what it buys (catalog
metrics, forgetting of everyday skills), and set the notes' claims beside the figures."""

import json
import shutil
import time
from pathlib import Path

from skutune.config import JobConfig
from skutune.eval.evaluate import Systems, score_systems
from skutune.eval.forgetting import everyday_check
from skutune.generate import load_model
from skutune.train.trainer import build_trainer, publish_checkpoint, training_dataset

EVAL_METRICS = ("hit_at_1", "json_valid", "hallucinated_sku_rate", "qa_accuracy", "policy_compliance")
# What each method is commonly said to cost: the claims this comparison measures.
CLAIMS = {
    "lora": ("~0.1–1% of parameters", lambda r, rows: 0.1 <= r["trainable_pct"] <= 1.0),
    "qlora": ("very low memory (4-bit base)", lambda r, rows: r["peak_memory_gib"] < _lora(rows)["peak_memory_gib"]),
    "prefix": ("few MB", lambda r, rows: r["artefact_mib"] < 10),
    "prompt": ("few MB", lambda r, rows: r["artefact_mib"] < 10),
    "bottleneck": ("1–5% of parameters", lambda r, rows: 1.0 <= r["trainable_pct"] <= 5.0),
    "bitfit": ("<0.1% of parameters", lambda r, rows: r["trainable_pct"] < 0.1),
    "hybrid": ("<5% of parameters", lambda r, rows: r["trainable_pct"] < 5.0),
}


def _lora(rows):
    return next(r for r in rows if r["method"] == "lora")


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def train_variant(cfg: JobConfig, model_dir: Path) -> dict:
    """Train from scratch (the variant's earlier Ray Train run is removed) and export."""
    run = cfg.run_dir().ray
    for old in run.glob(f"train-{cfg.train.task}-*"):
        shutil.rmtree(old)
    ds = training_dataset(cfg)
    start = time.time()
    result = build_trainer(cfg, model_dir, ds).fit()
    wall = time.time() - start
    with result.checkpoint.as_directory() as d:
        artefact = publish_checkpoint(
            Path(d), cfg.adapter_dir(cfg.train.task), cfg, model_dir, {"task": cfg.train.task}
        )
    m = result.metrics
    return {
        "trainable": m["trainable_params"],
        "total": m["total_params"],
        "trainable_pct": 100 * m["trainable_params"] / m["total_params"],
        "artefact_mib": dir_bytes(artefact) / 2**20,
        "held_per_worker": m["local_params_fraction"],
        "peak_memory_gib": m["peak_memory_bytes"] / 2**30,
        "tokens_per_s": m["tokens_per_s"],
        "tokens": m["tokens"],
        "wall_s": wall,
        "final_loss": m["loss"],
    }


def evaluate_adapter(
    cfg: JobConfig, model_dir: Path, examples: list[dict], catalog_rows: list[dict], adapter: str | None
) -> dict:
    """Closed-book catalog metrics of an adapter under the run's adapters/ (None: the base model),
    plus the everyday-instruction check for forgetting."""
    system = "base" if adapter is None else "closed_book"
    if adapter is not None:
        cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"closed_book_adapter": adapter})})
    report, _ = score_systems(
        Systems(cfg, model_dir, catalog_rows), [system], examples, {r["sku"]: r for r in catalog_rows}
    )
    tok, model = load_model(model_dir, None if adapter is None else cfg.adapter_dir(adapter))
    everyday = everyday_check(tok, model)
    return {
        **{k: report[system][k] for k in EVAL_METRICS},
        "ms_per_query": report[system]["ms_per_query"],
        "everyday_acc": everyday["everyday_acc"],
        "everyday_nll": everyday["everyday_nll"],
    }


def _f(v, spec=".2f") -> str:
    return "–" if v is None else format(v, spec)


def markdown(rows: list[dict], base: dict, budget: str) -> str:
    head = (
        "| method | strategy | workers | trainable | % of total | params held per worker | artefact MiB | peak RSS GiB | "
        "train tok/s | wall s | "
        "hit@1 | JSON valid | halluc. SKU | QA acc | policy | everyday acc (Δ base) | everyday NLL (Δ base) |"
    )
    lines = [budget, "", head, "|" + "---|" * (head.count("|") - 1)]
    lines.append(
        f"| base (untuned) | – | – | 0 | 0 | – | – | – | – | – | {_f(base['hit_at_1'])} | {_f(base['json_valid'])} | "
        f"{_f(base['hallucinated_sku_rate'])} | {_f(base['qa_accuracy'])} | {_f(base['policy_compliance'])} | "
        f"{_f(base['everyday_acc'])} | {_f(base['everyday_nll'])} |"
    )
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['strategy']} | {r['workers']} | {r['trainable']:,} | {_f(r['trainable_pct'], '.3f')} | "
            f"{_f(r.get('held_per_worker'))} | {_f(r['artefact_mib'], '.2f')} | {_f(r['peak_memory_gib'])} | {r['tokens_per_s']:.0f} | {r['wall_s']:.0f} | "
            f"{_f(r['hit_at_1'])} | {_f(r['json_valid'])} | {_f(r['hallucinated_sku_rate'])} | {_f(r['qa_accuracy'])} | "
            f"{_f(r['policy_compliance'])} | {_f(r['everyday_acc'])} ({r['everyday_acc'] - base['everyday_acc']:+.2f}) | "
            f"{_f(r['everyday_nll'])} ({r['everyday_nll'] - base['everyday_nll']:+.2f}) |"
        )
    lines += ["", "| method | the notes say | measured | holds here |", "|---|---|---|---|"]
    for r in rows:
        if r["method"] in CLAIMS and (r["method"] != "qlora" or any(x["method"] == "lora" for x in rows)):
            claim, check = CLAIMS[r["method"]]
            measured = (
                f"{r['trainable_pct']:.3f}% of parameters, {r['artefact_mib']:.2f} MiB artefact, "
                f"{r['peak_memory_gib']:.2f} GiB peak"
            )
            lines.append(f"| {r['label']} | {claim} | {measured} | {'yes' if check(r, rows) else 'no'} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], base: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 5))
    for r in rows:
        a.scatter(r["trainable_pct"], r["hit_at_1"] or 0, s=40)
        a.annotate(
            r["label"], (r["trainable_pct"], r["hit_at_1"] or 0), fontsize=8, xytext=(3, 3), textcoords="offset points"
        )
    a.axhline(base["hit_at_1"] or 0, color="grey", linestyle="--", label="base model")
    a.set(
        xscale="log",
        xlabel="trainable parameters (% of total, log)",
        ylabel="hit@1 (closed book)",
        title="What each method buys",
    )
    a.legend()
    labels = [r["label"] for r in rows]
    b.barh(labels, [r["tokens_per_s"] for r in rows], color="tab:blue")
    b.set(xlabel="training tokens/s", title="Training throughput (same token budget)")
    b.invert_yaxis()
    for i, r in enumerate(rows):
        b.annotate(
            f"{r['peak_memory_gib']:.1f} GiB",
            (r["tokens_per_s"], i),
            fontsize=7,
            xytext=(3, -3),
            textcoords="offset points",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, rows: list[dict], base: dict, budget: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "methods.json").write_text(json.dumps({"budget": budget, "base": base, "methods": rows}, indent=2))
    (out / "methods.md").write_text(markdown(rows, base, budget))
    plot(rows, base, out / "methods.png")
