"""Distillation with rejection sampling: a teacher writes N candidate answers per prompt in a
Ray Data actor pool; the catalog-grounded grader (grader.py) keeps the best one that passes.

The teacher is a local model directory ("embedded" is SmolLM2) loaded once per actor, or any
OpenAI-compatible server (`curate.distill.teacher: http://host:port/v1`), asked for `n`
sampled choices per prompt. The key is read from the environment variable the config names,
never from the config itself.
"""

import json
import os

import pandas as pd
import requests

from skutune.data.grader import Grader
from skutune.prompts import answer_text, prompt_messages
from skutune.runtime.paths import load_jsonl
from skutune.runtime.precision import autocast_bf16


class LocalTeacher:
    def __init__(self, model_dir: str, cfg):
        import torch

        from skutune.generate import load_model

        self.cfg, self.torch = cfg, torch
        self.tok, self.model = load_model(model_dir, threads=1)  # left padding, eval mode, on the GPU if there is one

    def candidates(self, messages: list[list[dict]]) -> list[list[str]]:
        torch = self.torch
        prompts = [self.tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        torch.manual_seed(self.cfg.seed)
        with torch.inference_mode(), autocast_bf16(self.model.device.type):
            out = self.model.generate(
                **enc,
                do_sample=True,
                temperature=self.cfg.temperature,
                top_p=0.95,
                num_return_sequences=self.cfg.candidates,
                max_new_tokens=self.cfg.max_new_tokens,
                pad_token_id=self.tok.pad_token_id,
            )
        texts = self.tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        n = self.cfg.candidates
        return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]


class HttpTeacher:
    """POST {url}/chat/completions, as vLLM, Ray Serve LLM, LiteLLM and OpenAI serve it."""

    def __init__(self, url: str, cfg, key: str):
        self.url, self.cfg = url.rstrip("/") + "/chat/completions", cfg
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def candidates(self, messages: list[list[dict]]) -> list[list[str]]:
        out = []
        for m in messages:
            body = {
                "model": self.cfg.api_model,
                "messages": m,
                "n": self.cfg.candidates,
                "temperature": self.cfg.temperature,
                "max_tokens": self.cfg.max_new_tokens,
                "seed": self.cfg.seed,
            }
            resp = requests.post(self.url, json=body, headers=self.headers, timeout=self.cfg.timeout_s)
            resp.raise_for_status()
            out.append([c["message"]["content"] or "" for c in resp.json()["choices"]])
        return out


def remote(cfg) -> bool:
    return cfg.teacher.startswith(("http://", "https://"))


def source_and_key(cfg) -> tuple[str, str]:
    """(the teacher's URL or model directory, the API key), resolved where the job starts: Ray
    workers may not share the driver's environment or model cache. "embedded" is
    SmolLM2-135M-Instruct, converted once from its wheel (model_import.py)."""
    from skutune.config import ModelConfig
    from skutune.runtime.model_import import resolve_model_dir

    if remote(cfg):
        return cfg.teacher, os.environ.get(cfg.api_key_env, "")
    return str(
        resolve_model_dir(ModelConfig())
        if cfg.teacher == "embedded"
        else resolve_model_dir(ModelConfig(path=cfg.teacher))
    ), ""


class Distill:
    """Ray Data actor (map_batches, pandas) over the rows chosen for distillation: the teacher
    answers each, the grader scores every candidate. A row whose best candidate passes gets it
    as its target; a row with none passing is dropped with the most common reason."""

    def __init__(self, cfg, source: str, catalog_path: str, key: str, store):
        self.teacher = HttpTeacher(source, cfg, key) if remote(cfg) else LocalTeacher(source, cfg)
        self.grader, self.store = Grader(load_jsonl(catalog_path), store), store

    def __call__(self, df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        mine = df["drop"] == ""
        rows = [json.loads(r) for r in df.loc[mine, "row_json"]]
        texts = self.teacher.candidates([prompt_messages(r["query"], r["region"], r["date"], self.store) for r in rows])
        for i, row, cands in zip(df.index[mine], rows, texts):
            best, grades = self.grader.best(cands, row)
            df.at[i, "candidates"] = len(cands)
            df.at[i, "accepted"] = sum(g.passed for g in grades)
            df.at[i, "score"] = max(g.score for g in grades)
            df.at[i, "candidate_scores"] = ",".join(f"{g.score:.3f}" for g in grades)
            if best is None:
                reasons = [r for g in grades for r in g.reasons[:1]]
                df.at[i, "drop"] = "distill: no candidate passed the grader"
                df.at[i, "detail"] = max(set(reasons), key=reasons.count) if reasons else ""
                continue
            row["target"] = best.answer
            row["relevant"] = row["relevant"] or best.answer.get("skus", [])
            df.at[i, "row_json"] = json.dumps(row, ensure_ascii=False)
            df.at[i, "text"] = f"{row['query']} {answer_text(best.answer)}"
            df.at[i, "changes"] = "distilled"
        return df
