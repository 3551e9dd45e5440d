"""Exact, near-duplicate (MinHash LSH) and semantic (MiniLM) dedup on Ray Data.

Every stage works by hash shuffles (`repartition(keys=...)`): rows that could be duplicates
meet in one block, wherever they started, and no structure on the driver ever holds the data
set. A duplicate is not deleted here: its `drop` column is set to the stage and its `detail`
to the query of the row it duplicates, so the report can count and show it.

Within a group of candidates the row with the smallest id is kept; a later row is dropped
when it is within the threshold of a row kept before it. Near duplicates chain (A~B, B~C with
A and C apart drops both B and C); that rare over-removal is the price of no global
connected-components pass.
"""

import zlib

import numpy as np
import pandas as pd

PRIME = (1 << 31) - 1  # hash values stay below 2**32, so a*h + b fits in uint64


def normalised(text: str) -> str:
    """Lower case, punctuation dropped, single spaces."""
    return " ".join("".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text.lower()).split())


def live(df: pd.DataFrame) -> pd.Series:
    """Rows no earlier stage has dropped, in the train split (test rows are never deduplicated
    away: decontamination protects them)."""
    return (df["drop"] == "") & (df["split"] == "train")


def exact(df: pd.DataFrame) -> pd.DataFrame:
    """map_batches after a shuffle on `key`: all but the first (smallest id) of each key dropped."""
    df = df.sort_values("id", kind="stable")
    alive = df["drop"] == ""
    groups = df.loc[alive].groupby("key")
    first, first_query = groups["id"].transform("first"), groups["query"].transform("first")
    dup = first[first != df.loc[alive, "id"]].index
    df.loc[dup, "drop"] = "exact dedup: duplicate"
    df.loc[dup, "detail"] = "duplicate of: " + first_query[dup]
    return df


def minhash(texts, num_perm: int, shingle: int, seed: int = 1) -> np.ndarray:
    """MinHash signatures (len(texts), num_perm) of character `shingle`-grams, vectorised over
    the batch: one (shingles x permutations) product, then a min per text."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, PRIME, num_perm, dtype=np.uint64)
    b = rng.integers(0, PRIME, num_perm, dtype=np.uint64)
    hashes, counts = [], []
    for t in texts:
        grams = {zlib.crc32(t[i : i + shingle].encode()) for i in range(max(1, len(t) - shingle + 1))}
        hashes.extend(grams)
        counts.append(len(grams))
    h = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
    values = (h[:, None] * a[None, :] + b[None, :]) % PRIME
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return np.minimum.reduceat(values, starts, axis=0).astype(np.uint32)


def band_rows(df: pd.DataFrame, num_perm: int, bands: int, shingle: int) -> pd.DataFrame:
    """map_batches: one row per (candidate row, LSH band): bucket = split|region|band|hash of
    the band's slice of the signature. Rows that share any bucket are candidate duplicates."""
    df = df[live(df)]
    if df.empty:
        return pd.DataFrame(
            {
                "bucket": pd.Series(dtype=str),
                "id": pd.Series(dtype=str),
                "query": pd.Series(dtype=str),
                "sig": pd.Series(dtype=object),
            }
        )
    sig = minhash(df["text"].tolist(), num_perm, shingle)
    width = num_perm // bands
    mult = np.uint64(1_000_003) ** np.arange(width, dtype=np.uint64)  # wraps mod 2**64, on purpose
    prefix = (df["split"] + "|" + df["region"] + "|").to_numpy()
    out = []
    for band in range(bands):
        h = (sig[:, band * width : (band + 1) * width].astype(np.uint64) * mult).sum(axis=1)
        out.append(
            pd.DataFrame(
                {
                    "bucket": prefix + f"{band}|" + h.astype(str),
                    "id": df["id"].to_numpy(),
                    "query": df["query"].to_numpy(),
                    "sig": [s.tobytes() for s in sig],
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def _first_within(ids, queries, vectors, similarity, threshold: float):
    """(dropped id, "duplicate of: <kept query>") pairs: each row against the rows kept before
    it, in id order."""
    order = np.argsort(ids, kind="stable")
    kept, pairs = [], []
    for i in order:
        if kept:
            sims = similarity(vectors[kept], vectors[i])
            j = int(sims.argmax())
            if sims[j] >= threshold:
                pairs.append((ids[i], f"duplicate of: {queries[kept[j]]}"))
                continue
        kept.append(i)
    return pairs


def _bucket_pairs(df: pd.DataFrame, vectors_of, similarity, threshold: float) -> pd.DataFrame:
    df = df[df.duplicated("bucket", keep=False)]  # a bucket of one has nothing to compare
    pairs = []
    for _, group in df.groupby("bucket", sort=False):
        pairs += _first_within(
            group["id"].to_numpy(), group["query"].to_numpy(), vectors_of(group), similarity, threshold
        )
    return (
        pd.DataFrame(pairs, columns=["id", "detail"]).drop_duplicates("id")
        if pairs
        else pd.DataFrame({"id": pd.Series(dtype=str), "detail": pd.Series(dtype=str)})
    )


def near_pairs(df: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """map_batches after a shuffle on `bucket`: candidates whose estimated Jaccard similarity
    (the share of equal MinHash values) with a kept row reaches `threshold`."""
    return _bucket_pairs(
        df,
        lambda g: np.stack([np.frombuffer(s, dtype=np.uint32) for s in g["sig"]]),
        lambda kept, row: (kept == row).mean(axis=1),
        threshold,
    )


def semantic_pairs(df: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """map_batches after a shuffle on `bucket` (split|region|answer): queries with the same
    answer whose MiniLM cosine similarity with a kept row reaches `threshold`."""
    return _bucket_pairs(df, lambda g: np.stack(g["emb"].to_numpy()), lambda kept, row: kept @ row, threshold)


class Embed:
    """Ray Data actor: MiniLM embeddings of live rows' queries, bucketed by split, region and
    answer, so only paraphrases that give the same answer are compared."""

    def __init__(self, threads: int = 1):
        from skutune.encoder import load_encoder

        self.model = load_encoder(threads=threads)

    def __call__(self, df: pd.DataFrame) -> pd.DataFrame:
        from skutune.encoder import encode

        df = df[live(df)]
        emb = (
            encode(self.model, df["query"].tolist(), batch_size=max(len(df), 1))
            if len(df)
            else np.zeros((0, 384), np.float32)
        )
        return pd.DataFrame(
            {
                "bucket": (df["split"] + "|" + df["region"] + "|" + df["answer"]).to_numpy(),
                "id": df["id"].to_numpy(),
                "query": df["query"].to_numpy(),
                "emb": list(emb.astype(np.float32)),
            }
        )


def apply_marks(df: pd.DataFrame, reason: str) -> pd.DataFrame:
    """map_batches after a shuffle on `id` of rows and (id, detail) marks: marked live rows get
    `drop` = reason. An anti-join without a join library."""
    rows = df[df["role"] == "row"].drop(columns="role")
    marks = df[df["role"] == "mark"].drop_duplicates("id").set_index("id")["detail"]
    hit = rows["id"].isin(marks.index) & (rows["drop"] == "")
    rows.loc[hit, "drop"] = reason
    rows.loc[hit, "detail"] = rows.loc[hit, "id"].map(marks)
    return rows
