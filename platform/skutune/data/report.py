"""The curation report: runs/<name>/curation.md and curation.json, with rows in and out of
every stage, removal reasons with sample rows, and PNG histograms of lengths and scores."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import ray

# Example stages in pipeline order; a row's `drop` starts with one of these.
STAGES = (
    "quarantine",
    "filter",
    "exact dedup",
    "near dedup",
    "semantic dedup",
    "decontam",
    "grade",
    "distill",
    "no target",
)


def stage_table(examples: dict) -> list[dict]:
    """Rows in, out and removed (by reason) for each example stage, from the manifest."""
    dropped = {f"quarantine: {k}": v for k, v in examples["quarantined"].items()} | examples["removed"]
    rows, n = [], examples["rows_in"]
    for stage in STAGES:
        reasons = {k.split(": ", 1)[1]: v for k, v in dropped.items() if k.split(": ", 1)[0] == stage}
        removed = sum(reasons.values())
        rows.append({"stage": stage, "in": n, "out": n - removed, "removed": reasons})
        n -= removed
    return rows


class Tally:
    """One streaming pass over the final stage: counts by removal reason and change, the
    quarantine and removed files, kept test rows, sample rows per reason, and the lengths and
    grader scores the histograms show. Memory grows with the number of reasons, not rows."""

    def __init__(self, samples: int):
        self.dropped, self.changed, self.samples, self.k = Counter(), Counter(), {}, samples
        self.test_rows, self.query_chars, self.scores, self.distilled, self.candidates = [], [], [], [], []

    def run(self, final: ray.data.Dataset, out: Path, quarantine: Path) -> "Tally":
        with quarantine.open("a") as q, (out / "removed.jsonl").open("w") as removed:
            for batch in final.iter_batches(batch_size=8192, batch_format="pandas"):
                self.dropped.update(batch["drop"][batch["drop"] != ""])
                self.changed.update(c for cs in batch["changes"] if cs for c in cs.split("; "))
                kept, train = batch["drop"] == "", batch["split"] == "train"
                self.query_chars.append(batch.loc[kept & train, "query"].str.len().to_numpy())
                graded = batch["score"].notna()
                self.scores.append(batch.loc[graded & (batch["candidates"] == 0), "score"].to_numpy())
                self.distilled.append(batch.loc[graded & (batch["candidates"] > 0), "score"].to_numpy())
                self.candidates.append(
                    np.array([float(x) for cs in batch["candidate_scores"] if cs for x in cs.split(",")])
                )
                self.test_rows += [json.loads(r) for r in batch.loc[kept & ~train, "row_json"]]
                for r in batch[~kept].itertuples():
                    self._removed(r, q, removed)
        self.test_rows.sort(key=lambda r: r["id"])
        return self

    def _removed(self, r, q, removed):
        if len(self.samples.setdefault(r.drop, [])) < self.k:
            self.samples[r.drop].append({"query": r.query or r.row_json[:120], "detail": r.detail})
        if r.drop.startswith("quarantine: "):
            q.write(json.dumps({"source": r.source, "reason": r.detail, "raw": r.row_json}, ensure_ascii=False) + "\n")
        else:
            removed.write(
                json.dumps(
                    {"source": r.source, "reason": r.drop, "detail": r.detail, "row": json.loads(r.row_json)},
                    ensure_ascii=False,
                )
                + "\n"
            )

    def array(self, name: str) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0)


def _histogram(path: Path, series: dict[str, np.ndarray], xlabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.5))
    for ax, (title, values) in zip(np.atleast_1d(axes), series.items()):
        ax.hist(values, bins=30, color="#1f5fa8")
        ax.set_title(f"{title} (n={len(values)})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("rows")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(run_dir: Path, manifest: dict, tally: Tally, tokens: np.ndarray) -> dict:
    """curation.json/.md and the histograms; `tokens`: the training rows' lengths."""
    ex = manifest["examples"]
    query_chars, scores, distilled = tally.array("query_chars"), tally.array("scores"), tally.array("distilled")
    _histogram(run_dir / "curation_lengths.png", {"query characters": query_chars, "training tokens": tokens}, "length")
    _histogram(
        run_dir / "curation_scores.png",
        {"grader score, curated targets": scores, "grader score, every teacher candidate": tally.array("candidates")},
        "score",
    )
    accepted = ex["changed"].get("distilled", 0)
    report = {
        "stages": stage_table(ex),
        "samples": tally.samples,
        "manifest": manifest,
        "lengths": {
            "query_chars_mean": float(query_chars.mean()) if len(query_chars) else 0.0,
            "tokens_mean": float(tokens.mean()) if len(tokens) else 0.0,
        },
        "distill": {
            "prompts": len(distilled),
            "accepted": accepted,
            "acceptance_rate": accepted / max(len(distilled), 1),
        },
    }
    (run_dir / "curation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (run_dir / "curation.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    m = report["manifest"]
    lines = [
        "# Curation report",
        "",
        "## Examples, stage by stage",
        "",
        "| stage | in | out | removed | reasons |",
        "|---|---|---|---|---|",
    ]
    for s in report["stages"]:
        reasons = ", ".join(f"{k} ({v})" for k, v in sorted(s["removed"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {s['stage']} | {s['in']} | {s['out']} | {s['in'] - s['out']} | {reasons} |")
    ex = m["examples"]
    lines += [
        "",
        f"Kept: {ex['train']} training rows and {ex['test']} test rows. Changed, not removed: "
        + (", ".join(f"{k} ({v})" for k, v in ex["changed"].items()) or "none")
        + ".",
    ]
    d = report["distill"]
    if d["prompts"]:
        lines.append(
            f"Distillation: {d['accepted']} of {d['prompts']} prompts had a candidate pass the grader "
            f"(acceptance rate {d['acceptance_rate']:.2f})."
        )
    if m["log"]:
        lg = m["log"]
        lines += [
            "",
            "## Query log",
            "",
            f"{lg['rows_in']} rows read, {sum(lg['quarantined'].values())} quarantined, "
            f"{lg['pii_scrubbed']} PII spans scrubbed; {lg['examples_out']} examples ({lg['zero_click_examples']} with no click), "
            f"{lg['merged_into_examples']} rows merged into them.",
            "",
        ]
        lines += [f"- {k}: {v}" for k, v in sorted(lg["quarantined"].items(), key=lambda kv: -kv[1])]
    c = m["catalog"]
    lines += [
        "",
        "## Catalog",
        "",
        f"{c['rows_in']} rows read, {c['rows_out']} SKUs kept, "
        f"{sum(c['quarantined'].values())} quarantined, {sum(c['removed'].values())} duplicate SKUs.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in c["quarantined"].items()]
    lines += ["", "## Sample removed rows", ""]
    for reason, rows in report["samples"].items():
        lines.append(f"**{reason}**")
        lines += [f"- `{r['query']}`" + (f" ({r['detail']})" if r["detail"] else "") for r in rows]
        lines.append("")
    lines += ["## Histograms", "", "![lengths](curation_lengths.png)", "", "![scores](curation_scores.png)", ""]
    return "\n".join(lines)
