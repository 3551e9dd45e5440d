"""Chat data in: rows in TRL's conversational `messages` format, ShareGPT or Alpaca become
skutune's example rows before validation, so they pass the same curate stages as skutune's own
(validation and quarantine, filters, dedup, decontamination, tokenization with the chat template
and assistant-only labels).

Each format is a column mapping (FORMATS), and `data.chat.columns` renames its keys. A row is one
exchange: a user turn and the assistant turn after it; system turns are dropped, because the
store profile's system prompt is the prompt contract. The user turn is `[REGION DATE] query`, as
skutune writes it (data/messages/*.jsonl), or a bare query when `data.chat.region` and
`data.chat.date` say where and when. The assistant turn is an answer in one of the tasks' JSON
schemas. A row that is not one exchange in that shape raises ValueError, which curate
quarantines with its reason. A `parse` key beside the turns (skutune's own answer chats carry
one) is the query's understanding target: the row then trains the parse target too.
"""

import hashlib
import json
import re

import jsonschema

from skutune.parse import PARSE_SCHEMA
from skutune.schemas import SCHEMAS, TASK_OF_KIND, is_valid
from skutune.store import LOGGED

FORMATS = {
    "messages": {
        "messages": "messages",
        "role": "role",
        "content": "content",
        "user": "user",
        "assistant": "assistant",
    },
    "sharegpt": {"messages": "conversations", "role": "from", "content": "value", "user": "human", "assistant": "gpt"},
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output"},
}
KEYS = {key for keys in FORMATS.values() for key in keys}
USER = re.compile(r"^\[(\S+) (\d{4}-\d{2}-\d{2})\] (.+)$", re.S)
KIND_OF_TASK = {task: kind for kind, task in TASK_OF_KIND.items()}


def from_chat(obj: dict, chat) -> dict:
    """One chat row (`chat`: the config's data.chat) -> an example row for ExampleRow."""
    keys = {**FORMATS[chat.format], **chat.columns}
    user, assistant = _exchange(obj, keys) if chat.format != "alpaca" else _instruction(obj, keys)
    region, date, query = _where_and_when(user, chat)
    try:
        answer = json.loads(assistant)
    except ValueError:
        raise ValueError("assistant turn: not JSON") from None
    task = next((t for t in SCHEMAS if is_valid(answer, t)), None)
    if task is None and _is_parse(answer):
        raise ValueError(
            "assistant turn: a query parse, not an answer; a row needs its answer (skutune's answer chats "
            "carry the parse beside the turns, so messages/*_answer.jsonl trains both targets)"
        )
    if task is None:
        raise ValueError("assistant turn: JSON in none of the answer schemas (search, compare, qa, refusal)")
    kind = obj.get("kind") or chat.kind or KIND_OF_TASK.get(task, LOGGED)
    digest = hashlib.blake2b(f"{region} {date} {query}\n{assistant}".encode(), digest_size=8).hexdigest()
    return {
        "id": str(obj.get("id") or f"chat-{digest}"),
        "kind": kind,
        "task": task,
        "split": obj.get("split") or ("test" if int(digest[:8], 16) / 2**32 < chat.test_fraction else "train"),
        "query": query,
        "region": region,
        "date": date,
        "target": answer,
        "relevant": obj.get("relevant") or [],  # skutune's own JSONL keeps the graded SKU labels
        "parse": _parse_of(obj),
    }


def _is_parse(obj) -> bool:
    return jsonschema.Draft202012Validator(PARSE_SCHEMA).is_valid(obj)


def _parse_of(obj: dict) -> dict | None:
    parse = obj.get("parse")
    if parse is not None and not _is_parse(parse):
        raise ValueError("parse: not a query parse in the parse schema")
    return parse


def _exchange(obj: dict, keys: dict) -> tuple[str, str]:
    turns = obj.get(keys["messages"])
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise ValueError(f"{keys['messages']}: not a list of turns")
    said = [(t.get(keys["role"]), t.get(keys["content"])) for t in turns]
    said = [(role, text) for role, text in said if role in (keys["user"], keys["assistant"])]
    if [role for role, _ in said] != [keys["user"], keys["assistant"]]:
        raise ValueError(f"{keys['messages']}: not one {keys['user']} turn then one {keys['assistant']} turn")
    (_, user), (_, assistant) = said
    if not isinstance(user, str) or not isinstance(assistant, str):
        raise ValueError(f"{keys['messages']}: a turn's {keys['content']} is not text")
    return user, assistant


def _instruction(obj: dict, keys: dict) -> tuple[str, str]:
    user, extra, assistant = obj.get(keys["instruction"]), obj.get(keys["input"]) or "", obj.get(keys["output"])
    if not isinstance(user, str) or not isinstance(extra, str) or not isinstance(assistant, str):
        raise ValueError(f"{keys['instruction']} and {keys['output']} must be text")
    return f"{user} {extra}".strip(), assistant


def _where_and_when(user: str, chat) -> tuple[str, str, str]:
    found = USER.match(user.strip())
    if found:
        return found.group(1), found.group(2), found.group(3)
    if chat.region and chat.date:
        return chat.region, chat.date, user.strip()
    raise ValueError("user turn: no [REGION DATE] prefix, and data.chat.region and data.chat.date are not set")
