"""The chat format every stage shares: curate trains on it, eval and serve prompt with it.

The system prompt names the store (`StoreProfile.system`): "answer" for closed-book SKU answers,
"parse" for query understanding (grounded search: the model parses, the catalog index answers).
"""

import json


def normalize_query(query: str) -> str:
    """Lower case, single spaces: shoppers type "Buy iPhone 15 Pro" and "buy iphone 15 pro" alike."""
    return " ".join(query.lower().split())


def user_content(query: str, region: str, date: str) -> str:
    return f"[{region} {date}] {normalize_query(query)}"


def prompt_messages(query: str, region: str, date: str, store, target: str = "answer") -> list[dict]:
    return [
        {"role": "system", "content": store.system(target)},
        {"role": "user", "content": user_content(query, region, date)},
    ]


def answer_text(target: dict) -> str:
    return json.dumps(target, ensure_ascii=False, separators=(",", ":"))


def training_messages(example: dict, store, target: str = "answer") -> list[dict]:
    """`target` "answer": the closed-book JSON answer; "parse": the query understood (parse.py)."""
    answer = example["target"] if target == "answer" else example["parse"]
    return prompt_messages(example["query"], example["region"], example["date"], store, target) + [
        {"role": "assistant", "content": answer_text(answer)}
    ]
