"""The demo store: a generated Samsung-style catalog, labelled examples for every query kind and a
messy query log. A plugin of the library, chosen by a config's `data.source: generated` and
`data.generator: skutune.demo`; its store profile is jobs/configs/stores/samsung.yaml.
Nothing outside this package imports it."""

import random
from pathlib import Path

from skutune.demo.catalog import build_catalog
from skutune.demo.examples import build_examples, sample_split
from skutune.demo.querylog import synth_log
from skutune.runtime.paths import write_jsonl


def write_raw(cfg, raw_dir: Path) -> tuple[Path, Path, Path | None]:
    """The generator plugin's entry point: writes the demo catalog, a per-kind sample of examples and
    (if configured) a messy synthetic query log as files, so generated data takes the same reading
    path as a user's. Returns (catalog, examples, log or None)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    catalog = build_catalog()
    rows = build_examples(seed=cfg.data.seed, catalog=catalog)
    picked = sample_split(rows, "train", cfg.data.train_per_kind, cfg.run.seed) + sample_split(
        rows, "test", cfg.data.test_per_kind, cfg.run.seed
    )
    random.Random(cfg.run.seed).shuffle(picked)
    paths = raw_dir / "catalog.jsonl", raw_dir / "examples.jsonl"
    for path, items in zip(paths, (catalog, picked)):
        write_jsonl(path, items)
    log_path = None
    if cfg.curate.synthetic_log_rows:
        log_path = raw_dir / "log.jsonl"
        log_path.write_text(
            "".join(line + "\n" for line in synth_log(catalog, cfg.curate.synthetic_log_rows, cfg.data.seed))
        )
    return *paths, log_path
