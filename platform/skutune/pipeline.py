"""The pipeline's stage functions: `run(cfg) -> dict` per stage, called alike by the `skutune`
command and by the thin `jobs/*.py` scripts that `ray job submit` runs.

    curate -> index -> train -> evaluate        (each reads what the one before wrote in the run dir)

Every stage first writes the resolved config and the store profile into the run directory, so a
run says what it was made with, and the Serve app finds the store there.
"""

import functools
import json
import time
from pathlib import Path

import yaml

from skutune.config import JobConfig
from skutune.runtime.paths import load_jsonl
from skutune.runtime.storage import download, upload


def synced(stage):
    """A run in object storage (run.output_dir, index.dir or serve.adapters_dir a URI): the stage
    downloads each into its local mirror first and uploads what it wrote after, so the next stage
    can run on another machine."""

    @functools.wraps(stage)
    def run(cfg: JobConfig):
        remote = cfg.remote_dirs()
        for uri, local in remote:
            print(f"{uri}: {download(uri, local)} files down to {local}", flush=True)
        start = time.time() - 1  # file times may be rounded down to the second
        out = stage(cfg)
        for uri, local in remote:
            print(f"{uri}: {upload(local, uri, since=start)} files up from {local}", flush=True)
        return out

    return run


def write_resolved(cfg: JobConfig) -> None:
    rd = cfg.run_dir()
    rd.root.mkdir(parents=True, exist_ok=True)
    rd.config.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
    rd.store.write_text(yaml.safe_dump(cfg.store.model_dump(mode="json"), sort_keys=False, allow_unicode=True))


@synced
def curate(cfg: JobConfig) -> dict:
    """Catalog + examples + query log -> validated, filtered, deduplicated, decontaminated, graded
    (and distilled) tokenized Parquet, with <run>/curation.md."""
    from skutune.data.curate import run_curate
    from skutune.runtime.cluster import init_ray
    from skutune.runtime.model_import import resolve_model_dir
    from skutune.runtime.tracking import Tracker

    write_resolved(cfg)
    rd = cfg.run_dir()
    model_dir = resolve_model_dir(cfg.model)  # the tokenizer comes from the base model
    init_ray()
    manifest = run_curate(cfg, model_dir)
    with Tracker(cfg, "curate") as track:  # rows in / out / quarantined / removed per reason, seconds per stage
        track.metrics({k: manifest[k] for k in ("catalog", "examples", "log", "seconds") if k in manifest})
        for name in ("curation.md", "curation.json", "curation_lengths.png", "curation_scores.png"):
            track.artifact(rd.report(name))
        track.artifact(rd.manifest)
    print(rd.report("curation.md").read_text().split("## Sample removed rows")[0])
    print(
        f"curated data: {rd.data} (manifest.json, quarantine.jsonl, removed.jsonl); report: {rd.report('curation.md')}"
    )
    return manifest


@synced
def index(cfg: JobConfig) -> dict:
    """The catalog -> a new version of the grounded-search index (BM25 + dense + ANN), incremental."""
    from skutune.runtime.cluster import init_ray
    from skutune.search.index import build_index

    write_resolved(cfg)
    catalog = Path(cfg.index.catalog) if cfg.index.catalog else cfg.run_dir().catalog
    if not catalog.exists():
        raise SystemExit(
            f"no catalog at {catalog}: run `skutune curate` with the same config first, or set index.catalog"
        )
    init_ray(cfg.index.actors)
    meta = build_index(
        load_jsonl(catalog),
        cfg.index_dir(),
        actors=cfg.index.actors,
        ann_min_rows=cfg.index.ann_min_rows,
        encoder=cfg.store.encoder,
        stopwords=cfg.store.stopwords,
    )
    print(json.dumps(meta, indent=2))
    print(f"index: {cfg.index_dir()} (live version v{meta['version']:04d})")
    return meta


@synced
def train(cfg: JobConfig) -> dict:
    """The config's method and strategy on the curated Parquet with Ray Train; exports the adapter.
    A rerun under the same run name resumes from the run's latest checkpoint."""
    from skutune.runtime.cluster import init_ray
    from skutune.runtime.model_import import resolve_model_dir
    from skutune.runtime.tracking import Tracker, loss_curve
    from skutune.train.trainer import LOG_FILE, build_trainer, publish_checkpoint, training_dataset, with_speed

    write_resolved(cfg)
    rd = cfg.run_dir()
    if not rd.manifest.exists():
        raise SystemExit(f"no curated data at {rd.data}: run `skutune curate` with the same config first")
    manifest = json.loads(rd.manifest.read_text())
    model_dir = resolve_model_dir(cfg.model)
    init_ray(cfg.train.num_workers * cfg.train.cpus_per_worker)
    cfg = with_speed(cfg)
    # opened before training: rank 0 logs each step into this run as it trains, so a job that
    # dies keeps its curve (and the run is marked FAILED)
    with Tracker(cfg, f"train-{cfg.train.task}") as track:
        result = build_trainer(cfg, model_dir, training_dataset(cfg), live=track.live()).fit()
        with result.checkpoint.as_directory() as ckpt:
            meta = {
                "base_model": str(model_dir),
                "strategy": cfg.train.strategy,
                "task": cfg.train.task,
                "target": cfg.train.target,
                "data_manifest_hash": manifest["hash"],
                "metrics": result.metrics or {},
                "run": cfg.run.name,
            }
            adapter = publish_checkpoint(Path(ckpt), cfg.adapter_dir(cfg.train.task), cfg, model_dir, meta)
            history = load_jsonl(Path(ckpt) / LOG_FILE)
        curve = loss_curve(
            history,
            rd.report(f"loss_curve_{cfg.train.task}.png"),
            f"{cfg.run.name}: {cfg.train.task} ({cfg.method.name}, {cfg.train.strategy})",
        )
        track.metrics(result.metrics or {}, step=history[-1]["step"] if history else 0, prefix="final/")
        track.metrics({"resumes_from_checkpoint": sum("resumed_at" in h for h in history)})
        for path in (curve, adapter / "skutune.json", adapter / LOG_FILE):
            track.artifact(path)
    print(f"final metrics: {json.dumps(result.metrics)}")
    print(f"adapter: {adapter}\nloss curve: {curve}")
    return {"adapter": str(adapter), "loss_curve": str(curve), "metrics": result.metrics or {}}


@synced
def evaluate(cfg: JobConfig) -> dict:
    """Base model, closed-book adapter, grounded search, BM25 and dense on the held-out test set."""
    from skutune.runtime.model_import import resolve_model_dir
    from skutune.serve.cards import is_artefact

    write_resolved(cfg)
    needs = {
        "closed_book": [cfg.eval.closed_book_adapter],
        "grounded": [cfg.eval.understand_adapter],
        "grounded_rerank": [cfg.eval.understand_adapter],
    }
    for system in cfg.eval.systems:
        for name in needs.get(system, []):
            if not is_artefact(cfg.adapter_dir(name)):
                raise SystemExit(
                    f"{system} needs the adapter {cfg.adapter_dir(name)}: train it with `skutune train` first"
                )
        if system.startswith("grounded") and not (cfg.index_dir() / "CURRENT").exists():
            raise SystemExit(f"{system} needs the catalog index {cfg.index_dir()}: run `skutune index` first")
    model_dir = resolve_model_dir(cfg.model)

    from skutune.eval.evaluate import run_eval  # heavy imports after the checks
    from skutune.runtime.tracking import Tracker

    report = run_eval(cfg, model_dir)
    rd = cfg.run_dir()
    with Tracker(cfg, "eval") as track:  # every system's metrics, overall and per query kind
        track.metrics(report["systems"])
        for name in ("eval.json", "eval.md"):
            track.artifact(rd.report(name))
    print(rd.report("eval.md").read_text())
    return report


@synced
def export(cfg: JobConfig) -> dict:
    """A trained adapter as a merged Hugging Face model and a portable PEFT adapter, each with its
    prompt contract and model card (train/export.py)."""
    from skutune.runtime.model_import import resolve_model_dir
    from skutune.serve.cards import is_artefact
    from skutune.train.export import export as export_files

    name = cfg.export.adapter or cfg.train.task
    artefact = cfg.adapter_dir(name)
    if not is_artefact(artefact):
        raise SystemExit(f"no adapter {artefact}: train it with `skutune train` first (or set export.adapter)")
    out = Path(cfg.export.out_dir).resolve() if cfg.export.out_dir else cfg.run_dir().export(name)
    written = export_files(
        artefact, out, cfg.store, resolve_model_dir(cfg.model), cfg.export.merged, cfg.eval.parse_max_new_tokens
    )
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return written


@synced
def parse_cache(cfg: JobConfig) -> dict:
    """The query log's most frequent queries -> their parse and closed-book answer, ahead of time:
    a new version of the table every Serve replica follows (a head query then skips the model)."""
    import datetime

    from skutune.runtime.cluster import init_ray
    from skutune.serve.args import run_app_args
    from skutune.serve.parse_cache import build_parse_cache

    rd = cfg.run_dir()
    sources = json.loads(rd.manifest.read_text())["sources"] if rd.manifest.exists() else {}
    log_path = cfg.curate.log_path or sources.get("log")
    if not log_path:
        raise SystemExit("no query log to take head queries from: set curate.log_path (or curate with a log first)")
    init_ray()
    pc = cfg.serve.parse_cache
    meta = build_parse_cache(
        run_app_args(cfg, followed=True),  # its actors download a run in object storage, as replicas do
        cfg.readable(log_path),
        cfg.curate.log_columns,
        pc.top,
        pc.date or datetime.date.today(),
        tuple(pc.targets),
        pc.batch_size,
    )
    print(json.dumps(meta, indent=2))
    return meta


STAGES = {
    "curate": curate,
    "index": index,
    "train": train,
    "eval": evaluate,
    "export": export,
    "parse-cache": parse_cache,
}
