"""The OpenAI-compatible surface: request models for /v1/chat/completions and the response and
stream-chunk shapes the `openai` client parses.

`model` is "<base>" or "<base>:<adapter>" (adapter ids as in registry.py, "name" or "name@3").
skutune's own fields ride along as extra body keys (`extra_body=` in the openai client): `region`,
`date`, `task` (the answer schema) and `constrained`. Decoding is greedy; `temperature` and
`top_p` are accepted for client compatibility and do not change it.
"""

import datetime as dt
import json
import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from skutune.generate import defang
from skutune.prompts import prompt_messages

MAX_MESSAGE_CHARS = 4000


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)
    name: str | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object"]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=128)
    messages: list[Message] = Field(min_length=1, max_length=32)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: Literal[1] = 1
    seed: int | None = None
    user: str | None = Field(None, max_length=256)
    response_format: ResponseFormat | None = None
    # skutune's fields
    region: str | None = Field(None, max_length=3, description="a region of the store profile; default its first")
    date: dt.date | None = None
    task: Literal["search", "compare", "qa", "refusal"] = "search"
    constrained: bool | None = Field(
        None,
        description="hold the answer to the task's schema and the region's SKUs "
        "(default: the app's `constrained`); json_object implies it",
    )


def split_model(model: str, base_name: str) -> str | None:
    """The adapter id in "<base>:<adapter>", or None for the base name alone; ValueError otherwise."""
    base, _, adapter = model.partition(":")
    if base != base_name:
        raise ValueError(f"unknown model {model!r}: this app serves {base_name!r} and {base_name!r}:<adapter>")
    if _ and not adapter:
        raise ValueError(f"empty adapter in {model!r}")
    return adapter or None


def chat_prompt(tok, req: ChatRequest, region: str, day: dt.date, store) -> str:
    """A conversation that is one user message is a shopper's query: it gets the system prompt
    and the `[REGION DATE]` prefix the adapters were trained with. With a system message the
    client's conversation is rendered as is."""
    messages = [{**m.model_dump(exclude_none=True), "content": defang(tok, m.content)} for m in req.messages]
    if len(messages) == 1 and messages[0]["role"] == "user":
        messages = prompt_messages(messages[0]["content"], region, day.isoformat(), store)
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def completion(model: str, text: str, finish: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish, "logprobs": None}
        ],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class Chunks:
    """Server-sent events of chat.completion.chunk objects, ending with `data: [DONE]`."""

    def __init__(self, model: str):
        self.base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def event(self, delta: dict, finish: str | None = None, **extra) -> str:
        chunk = {
            **self.base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    def usage(self, prompt_tokens: int, completion_tokens: int) -> str:
        return f"data: {json.dumps({**self.base, 'choices': [], 'usage': usage(prompt_tokens, completion_tokens)})}\n\n"

    done = "data: [DONE]\n\n"
