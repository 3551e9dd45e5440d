"""The chat format every stage shares: curate trains on it, eval and serve prompt with it."""

import json

SYSTEM = ('Samsung store search. Reply with JSON only: {"skus":[...]} or {"compare":[a,b],"skus":[...]} '
          'or {"answer":...,"skus":[...]} or {"refusal":reason}.')


def user_content(query: str, region: str, date: str) -> str:
    return f"[{region} {date}] {query}"


def prompt_messages(query: str, region: str, date: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user_content(query, region, date)}]


def answer_text(target: dict) -> str:
    return json.dumps(target, ensure_ascii=False, separators=(",", ":"))


def training_messages(example: dict) -> list[dict]:
    return prompt_messages(example["query"], example["region"], example["date"]) + [
        {"role": "assistant", "content": answer_text(example["target"])}]
