"""Speculative greedy decoding (serve/speculative.py) on a random tiny model: the answer is the one
`generate` gives, token for token, under a grammar and without one, in fewer forward passes; given
earlier answers to draft from, in far fewer."""

import pytest
import torch

from skutune.serve.constrained import Grammars, constraints_for
from skutune.serve.speculative import Drafter, greedy, lookup


def test_lookup_copies_what_followed_the_longest_recurring_suffix():
    assert lookup([5, 6, 7, 9, 1, 5, 6, 7], size=3) == (3, [9, 1, 5])
    assert lookup([5, 6, 7, 9, 1, 4, 7], size=2) == (1, [9, 1])
    assert lookup([1, 2, 3], size=2) == (0, [])
    # a hint is looked in after the ids themselves, and never drafts past its own end
    assert lookup([5, 8], size=3, source=[1, 8, 4, 5, 6]) == (1, [4, 5, 6])
    assert lookup([8, 3, 8], size=2, source=[8, 4]) == (1, [3, 8])
    assert lookup([4, 5, 6], size=3, source=[4, 5, 6]) == (0, [])


@pytest.mark.parametrize("task", ["parse", "search", None], ids=["parse_grammar", "answer_grammar", "free"])
def test_speculative_greedy_is_generates_answer_in_fewer_passes(task, tiny_model_dir):
    from helpers import demo_store
    from skutune.demo.catalog import build_catalog
    from skutune.generate import generate_ids, load_model, render

    tok, model = load_model(tiny_model_dir, bf16=False)  # fp32: near-tied random logits stay apart
    store = demo_store()
    grammars = Grammars(tok, model.config.vocab_size, {r["sku"]: r for r in build_catalog()}, store)
    grammar = grammars.get(task, "IN") if task else None
    prompt = render(tok, "samzung fridge under 50000", "IN", "2026-09-08", store, target="parse")
    budget = 48
    reference = generate_ids(tok, model, [prompt], budget, constraints_for([grammar]))[0]
    passes = []
    model.register_forward_hook(lambda *_: passes.append(1))
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]

    alone = greedy(model, ids, budget, tok.eos_token_id, grammar)
    alone_passes, passes[:] = len(passes), []
    seeded = greedy(model, ids, budget, tok.eos_token_id, grammar, drafter=Drafter([reference]))
    seeded_passes, passes[:] = len(passes), []
    hinted = greedy(model, ids, budget, tok.eos_token_id, grammar, hint=reference[:-1])  # what the app's hint is

    assert alone == reference and seeded == reference and hinted == reference
    assert len(reference) > 8
    if task:  # the grammar forces keys and punctuation: jump-forward drafts them
        assert alone_passes < len(reference), (alone_passes, len(reference))
    assert seeded_passes <= len(reference) // 4 + 2, (seeded_passes, len(reference))
    assert len(passes) <= len(reference) // 4 + 2 and len(passes) < alone_passes, (len(passes), alone_passes)
    if task:  # the prompt's own pass already scores a guess of the opening (what the grammar forces)
        fed = []
        model.register_forward_pre_hook(lambda _, args, kw: fed.append(kw["input_ids"].shape[1]), with_kwargs=True)
        greedy(model, ids, budget, tok.eos_token_id, grammar)
        assert fed[0] > ids.shape[1], (fed[0], ids.shape[1])


def test_a_deadline_stops_decoding_and_a_streamer_sees_every_token(tiny_model_dir):
    from transformers import TextIteratorStreamer

    from skutune.generate import load_model

    tok, model = load_model(tiny_model_dir, bf16=False)
    ids = tok("samsung fridge", return_tensors="pt")["input_ids"]
    assert greedy(model, ids, 32, tok.eos_token_id, deadline=0.0) == greedy(model, ids, 1, tok.eos_token_id)
    streamer = TextIteratorStreamer(tok, skip_prompt=True)
    out = greedy(model, ids, 24, tok.eos_token_id, streamer=streamer)
    assert "".join(streamer) == tok.decode(out)


def test_every_prefill_hands_the_lm_head_one_contiguous_row_per_prompt(tiny_model_dir):
    """transformers' default `logits_to_keep=1` slices the prompt's last position as a strided
    view; on CPU F.linear then copied the whole lm_head weight once per row (generate.LAST_POSITION:
    2.8 s against 0.4 s for a 16-prompt prefill of the demo). Batched generate and speculative
    greedy ask for the last position by index: the lm_head gets rows of their own, never a view."""
    from helpers import demo_store
    from skutune.generate import generate_ids, load_model, render

    tok, model = load_model(tiny_model_dir, bf16=False)

    def packed(x):  # strides of a tensor that owns its rows (is_contiguous() overlooks size-1 dims)
        return x.stride() == tuple(int(torch.tensor(x.shape[i + 1 :]).prod()) for i in range(x.dim()))

    seen = []
    model.lm_head.register_forward_pre_hook(lambda _, args: seen.append((args[0].shape, packed(args[0]))))
    prompts = [render(tok, q, "IN", "2026-09-08", demo_store(), target="parse") for q in ("s24 ultra", "quiet ac")]
    generate_ids(tok, model, prompts, 4)
    assert tuple(seen[0][0][:2]) == (2, 1)  # the batch's prefill: one position per prompt
    greedy(model, tok(prompts[0], return_tensors="pt", add_special_tokens=False)["input_ids"], 4, tok.eos_token_id)
    assert all(contiguous for _, contiguous in seen), seen
