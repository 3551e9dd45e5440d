"""Greedy decoding of one prompt with several tokens per forward pass where they can be guessed.

A grounded parse copies much of itself: the JSON keys and punctuation its grammar forces, and the
spans of the query it echoes. Decoding a token per forward pass pays a full read of the weights
for each (at batch 1 on a CPU, most of a step). Here every pass also scores a draft: the tokens
the grammar forces from its current state (xgrammar's jump-forward), or else the tokens that
followed the latest earlier occurrence of the answer's last few tokens in the prompt or the answer
(prompt lookup), or in a hint of what the answer copies as it writes it (a grounded parse's echo
of the region and the query, the budget a rule reads, a likely category). At each drafted position
the model's own argmax, masked by the grammar, decides: the agreeing prefix is kept and the first
disagreement yields the model's token instead, so the answer is the one one-token-a-pass greedy
decoding under the same grammar gives, up to the float differences of scoring several positions
in one pass (bench_decode counts the answers that differ). transformers' prompt lookup cannot run
under a grammar: its logits processors are called on candidate positions, while a grammar matcher
must see exactly the accepted tokens.
"""

import contextlib
import time
from collections import Counter

import torch
from transformers import DynamicCache

from skutune.runtime.precision import autocast_bf16

NGRAM = 6  # the longest suffix looked up, in the context and in the table of earlier answers
DRAFT = 16  # the most tokens verified in one pass (on 2 CPU cores a pass of 16 costs 1.3x one of 1)
# the prompt's pass drafts further: its draft is mostly the hint's echo, and past the prompt's
# tokens a few more positions cost that pass little
PREFILL_DRAFT = 32


def lookup(ids: list[int], size: int = DRAFT, source=()) -> tuple[int, list[int]]:
    """(n, the tokens that followed) for the latest earlier occurrence of the longest suffix of
    `ids` of n <= NGRAM tokens that recurs, in `ids` itself or else in `source` (a hint of what the
    answer copies); (0, []) when none does."""
    for n in range(min(NGRAM, len(ids) - 1), 0, -1):
        tail = ids[-n:]
        for seq in (ids, source):
            for start in range(len(seq) - n - 1, -1, -1):
                if seq[start : start + n] == tail:
                    return n, seq[start + n : start + n + size]
    return 0, []


class Drafter:
    """Guesses of a continuation: the tokens the grammar forces, then, token by token, whichever
    knows the longer suffix: the request itself or its hint (a span the answer copies, like a
    parse's echo of the query) or an n-gram table of earlier answers (`answers`, token ids: the
    adapter's training targets), which knows the answer format's keys and their usual order."""

    def __init__(self, answers=()):
        counts: Counter = Counter()
        for seq in answers:
            for i in range(1, len(seq)):
                for n in range(1, min(NGRAM, i) + 1):
                    counts[tuple(seq[i - n : i]), seq[i]] += 1
        self.table: dict[tuple, int] = {}
        for (key, token), _ in sorted(counts.items(), key=lambda kv: kv[1]):  # the most frequent wins
            self.table[key] = token

    @classmethod
    def from_texts(cls, tok, texts) -> "Drafter":
        """From answer texts, each tokenized as the model writes it: up to and including EOS."""
        return cls(tok(text + tok.eos_token, add_special_tokens=False)["input_ids"] for text in texts)

    def known(self, ids: list[int]) -> tuple[int, int | None]:
        for n in range(min(NGRAM, len(ids)), 0, -1):
            if tuple(ids[-n:]) in self.table:
                return n, self.table[tuple(ids[-n:])]
        return 0, None

    def __call__(self, context: list[int], forced: list[int], size: int, hint=()) -> list[int]:
        draft = list(forced)
        while len(draft) < size:
            ids = context + draft
            n_copy, span = lookup(ids, size - len(draft), hint)
            n_known, token = self.known(ids)
            if span and n_copy >= n_known:
                draft += span
            elif token is not None:
                draft.append(token)
            else:
                break
        return draft[:size]


class _Picker:
    """The greedy choice at one position, held to the grammar when there is one."""

    def __init__(self, grammar, drafter: Drafter, hint=()):
        self.drafter, self.hint, self.matcher = drafter, hint, None
        if grammar is not None:  # xgrammar only where a grammar is asked for (the GPU check has none)
            import xgrammar as xgr

            self.xgr, self.matcher = xgr, xgr.GrammarMatcher(grammar)
            self.vocab = grammar.tokenizer_info.vocab_size
            self.mask = xgr.allocate_token_bitmask(1, self.vocab)

    def __call__(self, scores: torch.Tensor) -> int:
        if self.matcher is None:
            return int(scores.argmax())
        self.matcher.fill_next_token_bitmask(self.mask)
        scores = scores.float()[None].clone()
        self.xgr.apply_token_bitmask_inplace(scores, self.mask, vocab_size=min(self.vocab, scores.shape[-1]))
        return int(scores.argmax())

    def accept(self, token: int) -> None:
        if self.matcher is not None:
            self.matcher.accept_token(token)

    def draft(self, context: list[int], room: int, most: int = DRAFT) -> list[int]:
        forced = self.matcher.find_jump_forward_tokens() if self.matcher is not None else []
        return self.drafter(context, forced, min(room, most), self.hint)

    def finished(self) -> bool:
        return self.matcher is not None and self.matcher.is_terminated()


@torch.inference_mode()
def greedy(
    model,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    eos_id: int,
    grammar=None,
    deadline: float | None = None,
    streamer=None,
    drafter: Drafter | None = None,
    hint=(),
    **forward,
) -> list[int]:
    """New token ids for one prompt (`input_ids` of shape (1, n)), up to and including EOS.
    `grammar`: an xgrammar CompiledGrammar; `deadline`: a `time.monotonic()` past which decoding
    stops; `streamer`: fed as `generate` feeds it (the prompt first); `drafter`: a Drafter with a
    table of earlier answers (by default the grammar and the request only); `hint`: token ids of
    text the answer likely copies but the prompt does not hold as the answer writes it (a parse's
    echo fields, grounded.parse_hint): drafts only, the model still picks every token; `forward`:
    extra arguments of every forward pass (peft's `adapter_names`)."""
    pick, cache = _Picker(grammar, drafter or Drafter(), hint), DynamicCache()
    context = input_ids[0].tolist()
    autocast = autocast_bf16("cpu") if model.device.type == "cpu" else contextlib.nullcontext()
    if streamer is not None:
        streamer.put(input_ids.cpu())
    new: list[int] = []
    with autocast:
        # the prompt's pass also scores a guess of the answer's opening (the tokens the grammar forces,
        # the hint's echo): a lone parse saves a whole pass for a few more positions in its prefill
        draft = pick.draft(context, max_new_tokens, PREFILL_DRAFT)
        step = torch.tensor([[*context, *draft]], device=input_ids.device)
        keep = torch.arange(-len(draft) - 1, 0)  # by index: a strided slice costs the LM head a weight copy
        logits = model(input_ids=step, cache=cache, logits_to_keep=keep, **forward).logits[0]
        while True:
            kept: list[int] = []  # row i of logits scores the position after draft[:i]
            for guess in draft:
                if pick(logits[len(kept)]) != guess:
                    break
                pick.accept(guess)
                kept.append(guess)
                if guess == eos_id or pick.finished() or len(new) + len(kept) >= max_new_tokens:
                    break
            cache.crop(len(kept) - len(draft))  # negative: the rejected guesses (keys, values) go
            new += kept
            if not new or not (new[-1] == eos_id or pick.finished() or len(new) >= max_new_tokens):
                token = pick(logits[len(kept)])  # the model's own token after the agreed guesses, not yet fed
                pick.accept(token)
                new.append(token)
                kept.append(token)
            if streamer is not None:
                streamer.put(torch.tensor(kept))
            if new[-1] == eos_id or pick.finished() or len(new) >= max_new_tokens:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            draft = pick.draft(context + new, max_new_tokens - len(new))
            step = torch.tensor([[new[-1], *draft]], device=input_ids.device)
            logits = model(input_ids=step, cache=cache, **forward).logits[0]
    if streamer is not None:
        streamer.end()
    return new
