"""The chat format every stage shares: curate trains on it, eval and serve prompt with it."""

import json

# Short on purpose: every training example carries it, and prompt tokens cost training time.
# The answer format is taught by the examples (schemas.py), not described here.
SYSTEM = "Samsung store search. Answer in JSON with catalog SKUs."
# Query understanding (grounded search): the model parses, the catalog index answers.
PARSE_SYSTEM = "Samsung store search. Parse the query into JSON."
SYSTEMS = {"answer": SYSTEM, "parse": PARSE_SYSTEM}  # training target -> system prompt


def normalize_query(query: str) -> str:
    """Lower case, single spaces: shoppers type "Buy iPhone 15 Pro" and "buy iphone 15 pro" alike."""
    return " ".join(query.lower().split())


def user_content(query: str, region: str, date: str) -> str:
    return f"[{region} {date}] {normalize_query(query)}"


def prompt_messages(query: str, region: str, date: str, target: str = "answer") -> list[dict]:
    return [{"role": "system", "content": SYSTEMS[target]}, {"role": "user", "content": user_content(query, region, date)}]


def answer_text(target: dict) -> str:
    return json.dumps(target, ensure_ascii=False, separators=(",", ":"))


def training_messages(example: dict, target: str = "answer") -> list[dict]:
    """`target` "answer": the closed-book JSON answer; "parse": the query understood (understand.py)."""
    answer = example["target"] if target == "answer" else example["parse"]
    return prompt_messages(example["query"], example["region"], example["date"], target) + [
        {"role": "assistant", "content": answer_text(answer)}]
