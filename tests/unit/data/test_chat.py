"""Chat data in (data/chat.py): messages, ShareGPT and Alpaca rows become example rows, a
Hugging Face DatasetDict saved to disk is read with its splits, and a row that is not one
exchange with a JSON answer raises the reason curate quarantines it with."""

import json

import pytest

from skutune.config import ChatInput
from skutune.data.chat import from_chat
from skutune.data.readers import arrow_rows, files_of

ANSWER = '{"skus":["SM-S918B"]}'


def _messages(user: str, answer: str = ANSWER, **extra) -> dict:
    system = {"role": "system", "content": "Some other store's prompt."}
    return {"messages": [system, {"role": "user", "content": user}, {"role": "assistant", "content": answer}], **extra}


def test_messages_rows_as_skutune_writes_them_keep_id_kind_split_region_and_date():
    row = _messages("[IN 2026-10-20] samzung s23 ultra", id="ex-1", kind="typo", split="test")
    assert from_chat(row, ChatInput(format="messages")) == {
        "id": "ex-1",
        "kind": "typo",
        "task": "search",
        "split": "test",
        "query": "samzung s23 ultra",
        "region": "IN",
        "date": "2026-10-20",
        "target": {"skus": ["SM-S918B"]},
        "relevant": [],
        "parse": None,
    }
    parse = {"intent": "search", "region": "IN", "query": "samsung s23 ultra", "product": "galaxy s23 ultra"}
    assert from_chat({**row, "parse": parse}, ChatInput(format="messages"))["parse"] == parse  # it trains both


def test_sharegpt_and_alpaca_map_onto_the_same_example():
    chat = ChatInput(format="sharegpt", region="US", date="2026-05-01")
    sharegpt = {"conversations": [{"from": "human", "value": "s23 ultra"}, {"from": "gpt", "value": ANSWER}]}
    alpaca = {"instruction": "s23", "input": "ultra", "output": ANSWER}
    a = from_chat(sharegpt, chat)
    b = from_chat(alpaca, chat.model_copy(update={"format": "alpaca"}))
    assert a == b and a["query"] == "s23 ultra" and a["region"] == "US" and a["kind"] == "logged"
    assert a["id"].startswith("chat-") and a["split"] in ("train", "test")
    renamed = ChatInput(format="messages", columns={"messages": "chat"}, region="US", date="2026-05-01")
    assert from_chat({"chat": _messages("s23 ultra")["messages"]}, renamed)["target"] == a["target"]
    compare = '{"compare":["Galaxy S23 Ultra","iPhone 15 Pro Max"],"skus":["SM-S918B"]}'
    assert from_chat(_messages("[US 2026-05-01] s23 vs iphone", compare), ChatInput(format="messages"))["kind"] == (
        "comparison"
    )


def test_the_split_of_a_row_without_one_is_a_stable_hash():
    chat = ChatInput(format="messages", test_fraction=0.5)
    splits = [from_chat(_messages(f"[US 2026-05-01] phone {i}"), chat)["split"] for i in range(200)]
    assert splits == [from_chat(_messages(f"[US 2026-05-01] phone {i}"), chat)["split"] for i in range(200)]
    assert 60 < splits.count("test") < 140


@pytest.mark.parametrize(
    "row, reason",
    [
        (_messages("[US 2026-05-01] tv", "the best tv is SM-1"), "assistant turn: not JSON"),
        (_messages("[US 2026-05-01] tv", '{"price": 3}'), "JSON in none of the answer schemas"),
        (  # a parse-only chat (messages/train_parse.jsonl): the answer chats carry the parse
            _messages("[US 2026-05-01] tv", '{"intent": "search", "region": "US", "query": "tv"}'),
            "a query parse, not an answer",
        ),
        (_messages("just a query"), "no [REGION DATE] prefix"),
        ({"messages": _messages("[US 2026-05-01] tv")["messages"] * 2}, "not one user turn then one assistant turn"),
        ({"messages": "hello"}, "messages: not a list of turns"),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": ANSWER}]}, "is not text"),
        (_messages("[US 2026-05-01] tv", parse={"intent": "buy", "region": "US"}), "parse: not a query parse"),
    ],
)
def test_a_row_that_is_not_one_exchange_with_a_json_answer_says_why(row, reason):
    with pytest.raises(ValueError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        from_chat(row, ChatInput(format="messages"))


def test_unknown_chat_keys_fail_when_the_config_loads():
    with pytest.raises(ValueError, match="unknown chat keys"):
        ChatInput(format="sharegpt", columns={"conversation": "turns"})


def test_a_saved_dataset_dict_is_read_with_its_splits_and_without_its_bookkeeping(tmp_path):
    import datasets

    turns = [{"from": "human", "value": "[US 2026-05-01] s23"}, {"from": "gpt", "value": ANSWER}]
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"conversations": turns, "id": "a"}]),
            "test": datasets.Dataset.from_list([{"conversations": turns, "id": "b"}]),
        }
    ).save_to_disk(str(tmp_path / "hf"))
    files = files_of(tmp_path / "hf")
    assert [f.rsplit("/", 2)[1:] for f in files] == [
        ["test", "data-00000-of-00001.arrow"],
        ["train", "data-00000-of-00001.arrow"],
    ]
    rows = []
    for path in files:
        with open(path, "rb") as f:
            rows += [json.loads(r) for r in arrow_rows(f, path.rsplit("/", 2)[1])]
    examples = [from_chat(r, ChatInput(format="sharegpt")) for r in rows]
    assert [(e["id"], e["split"], e["query"]) for e in examples] == [("b", "test", "s23"), ("a", "train", "s23")]
    with open(files[0], "rb") as f:
        truncated = f.read()[:-40]
    (tmp_path / "cut.arrow").write_bytes(truncated)
    with open(tmp_path / "cut.arrow", "rb") as f:
        assert list(arrow_rows(f, None))[-1].startswith("\x00")  # a bad row with its reason, not a failed read
