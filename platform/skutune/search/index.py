"""The catalog index grounded search retrieves from: BM25 (bm25s) and MiniLM embeddings over
catalog text, plus a faiss IVF index once the catalog is large enough for exact search to cost.

Versioned and incremental. `<index>/CURRENT` names the live version (`v0001`, `v0002`, ...);
a build writes a new version directory and switches CURRENT last, so readers never see half
an index. An update re-embeds only SKUs whose text changed or that are new (Ray Data
`map_batches` over an actor pool), drops removed SKUs from the ANN index by id, and rebuilds
BM25 (seconds even at 100k SKUs). No model is retrained: a new SKU is searchable as soon as
the job ends.
"""

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from skutune.encoder import EMBED_DIM, encode, load_encoder, stopwords
from skutune.runtime.paths import load_jsonl, write_jsonl

log = logging.getLogger(__name__)


DESCRIPTION_CHARS = 600  # enough for a product's key phrases; the rest mostly repeats them and dilutes BM25


def doc_text(row: dict) -> str:
    """What retrieval sees of a SKU: title, category (and the tree above it), family, attributes,
    use cases and the start of its description."""
    attrs = " ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in row.get("attributes", {}).items() if v not in (False, None)
    )
    uses = " ".join(t.replace("_", " ") for t in row.get("tags", []))
    tree = " ".join(p for p in row.get("category_path", []) if p.lower() != row["category"])
    description = row.get("description", "")[:DESCRIPTION_CHARS]
    parts = (row.get("brand", ""), row["title"], row["category"], tree, row["family_name"], attrs, uses, description)
    return " ".join(x for x in parts if x)


def text_hash(row: dict) -> str:
    return hashlib.sha1(doc_text(row).encode()).hexdigest()[:16]


def sku_id(sku: str) -> int:
    """A stable 63-bit id per SKU: the ANN index's ids survive rows being added or removed."""
    return int.from_bytes(hashlib.blake2b(sku.encode(), digest_size=8).digest(), "little") >> 1


class Embed:
    """Ray Data actor: one encoder per actor, reused across batches."""

    def __init__(self, name: str = "minilm", threads: int = 1):
        self.model = load_encoder(name, threads)

    def __call__(self, batch: dict) -> dict:
        return {"sku": batch["sku"], "emb": encode(self.model, batch["text"], batch_size=len(batch["text"]))}


def embed_rows(rows: list[dict], actors: int, encoder: str = "minilm", batch_size: int = 256) -> dict[str, np.ndarray]:
    """SKU -> unit vector, computed with Ray Data over an actor pool of `actors` encoders."""
    import ray

    if not rows:
        return {}
    ds = ray.data.from_items(
        [{"sku": r["sku"], "text": doc_text(r)} for r in rows], override_num_blocks=max(actors * 4, 1)
    )
    out = ds.map_batches(
        Embed,
        fn_constructor_args=(encoder,),
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
        batch_format="numpy",
    )
    vectors = {}
    for batch in out.iter_batches(batch_size=4096, batch_format="numpy"):
        vectors.update(zip(batch["sku"].tolist(), batch["emb"]))
    return vectors


def current_version(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / "CURRENT"
    return Path(index_dir) / pointer.read_text().strip() if pointer.exists() else None


def new_version_dir(root: Path) -> Path:
    """An empty `<root>/v000N`, one past the live version (readers keep the live one meanwhile)."""
    prev = current_version(root)
    out = Path(root) / f"v{int(prev.name[1:]) + 1 if prev else 1:04d}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


def make_live(root: Path, version_dir: Path) -> None:
    """Point CURRENT at `version_dir` atomically: readers see the old version or the new, never half of one."""
    tmp = Path(root) / "CURRENT.tmp"
    tmp.write_text(version_dir.name)
    tmp.replace(Path(root) / "CURRENT")


def build_index(
    rows: list[dict],
    index_dir: Path,
    actors: int = 1,
    ann_min_rows: int = 20000,
    encoder: str = "minilm",
    stopwords: str = "en",
) -> dict:
    """Write a new index version for `rows` (the whole catalog as it is now), reusing the
    previous version's embeddings for SKUs whose text did not change. Returns its meta, which
    records the encoder and stopword language (a store profile's) that readers must use."""
    start = time.time()
    index_dir = Path(index_dir)
    prev_dir = current_version(index_dir)
    prev_vec, prev_hash, prev_ann = {}, {}, None
    if prev_dir is not None:
        prev_rows = load_jsonl(prev_dir / "rows.jsonl")
        prev_emb = np.load(prev_dir / "emb.npy")
        prev_vec = {r["sku"]: prev_emb[i] for i, r in enumerate(prev_rows)}
        prev_hash = {r["sku"]: h for r, h in zip(prev_rows, json.loads((prev_dir / "hashes.json").read_text()))}
        if (prev_dir / "ann.faiss").exists():
            import faiss

            prev_ann = faiss.read_index(str(prev_dir / "ann.faiss"))
    rows = sorted(rows, key=lambda r: r["sku"])
    hashes = [text_hash(r) for r in rows]
    stale = [r for r, h in zip(rows, hashes) if prev_hash.get(r["sku"]) != h]
    removed = sorted(set(prev_hash) - {r["sku"] for r in rows})
    t_embed = time.time()
    fresh = embed_rows(stale, actors, encoder)
    t_embed = time.time() - t_embed
    emb = (
        np.stack([fresh[r["sku"]] if r["sku"] in fresh else prev_vec[r["sku"]] for r in rows])
        if rows
        else np.zeros((0, EMBED_DIM), np.float32)
    )

    out = new_version_dir(index_dir)
    version = int(out.name[1:])
    write_jsonl(out / "rows.jsonl", rows)
    (out / "hashes.json").write_text(json.dumps(hashes))
    np.save(out / "emb.npy", emb.astype(np.float32))
    t_bm25 = time.time()
    _build_bm25(rows, stopwords).save(str(out / "bm25"), show_progress=False)
    t_bm25 = time.time() - t_bm25
    ann = None
    if len(rows) >= ann_min_rows:
        changed = [r["sku"] for r in stale if r["sku"] in prev_hash] + removed
        ann = _update_ann(prev_ann, emb, rows, fresh, changed)
        import faiss

        faiss.write_index(ann, str(out / "ann.faiss"))
    meta = {
        "version": version,
        "rows": len(rows),
        "dim": int(emb.shape[1]),
        "ann": type(ann).__name__ if ann is not None else None,
        "parent": prev_dir.name if prev_dir else None,
        "embedded": len(stale),
        "added": len([r for r in stale if r["sku"] not in prev_hash]),
        "changed": len([r for r in stale if r["sku"] in prev_hash]),
        "removed": len(removed),
        "encoder": encoder,
        "stopwords": stopwords,
        "seconds": {"embed": round(t_embed, 2), "bm25": round(t_bm25, 2), "total": round(time.time() - start, 2)},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    make_live(index_dir, out)
    return meta


def _build_bm25(rows, language: str):
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index(
        bm25s.tokenize([doc_text(r) for r in rows], stopwords=stopwords(language), show_progress=False),
        show_progress=False,
    )
    return bm25


def _update_ann(prev, emb, rows, fresh, changed):
    """IVF-Flat over inner product, keyed by sku_id. With a previous index, only the changed,
    removed and new vectors move; the coarse clusters stay as trained."""
    import faiss

    if prev is None:
        nlist = int(4 * np.sqrt(len(rows)))
        ann = faiss.IndexIVFFlat(faiss.IndexFlatIP(emb.shape[1]), emb.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        sample = emb[np.random.default_rng(0).choice(len(emb), min(len(emb), 40 * nlist), replace=False)]
        ann.train(sample)
        ann.add_with_ids(emb, np.array([sku_id(r["sku"]) for r in rows], dtype=np.int64))
        return ann
    if changed:
        prev.remove_ids(np.array([sku_id(s) for s in changed], dtype=np.int64))
    if fresh:
        skus = list(fresh)
        prev.add_with_ids(np.stack([fresh[s] for s in skus]), np.array([sku_id(s) for s in skus], dtype=np.int64))
    return prev
