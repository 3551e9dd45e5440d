"""Grounded, constrained decoding: generation is held to the task's JSON Schema, with every SKU
an enum of the catalog SKUs sold in the request's region. A constrained answer that finishes
within its token budget can be neither invalid JSON nor name a SKU the region does not sell.

xgrammar rather than lm-format-enforcer: it compiles a schema once into a token-level pushdown
automaton whose masks are mostly precomputed per state (microseconds a step, in C++), handles
enum-heavy schemas (hundreds of SKUs), and is the default structured-output back end of vLLM
and SGLang, so what we measure here carries over. lm-format-enforcer walks a character-level
parser in Python at every step. Both are on the package index here; xgrammar 0.2.8 runs on CPU.
"""

import copy
import json

import torch
import xgrammar as xgr
from transformers import LogitsProcessor

from skutune.parse import parse_schema
from skutune.schemas import SCHEMAS

QA_ANSWER_CHARS = 120  # a free-text QA answer must end inside the token budget, so it is bounded


def grounded_schema(task: str, skus: list[str]) -> dict:
    """The task's published schema with its SKU items restricted to `skus`."""
    schema = copy.deepcopy(SCHEMAS[task])
    props = schema["properties"]
    if "skus" in props:
        props["skus"]["items"] = {"enum": skus}
    if task == "qa":
        props["answer"]["maxLength"] = QA_ANSWER_CHARS
    return schema


class Grammars:
    """Compiled grammars per (task, region), built on first use and kept: compiling the 200-SKU
    enum takes tens of milliseconds, matching with it microseconds."""

    def __init__(self, tok, vocab_size: int, catalog: dict[str, dict], store):
        self.compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab_size))
        self.catalog, self.parse_schema = catalog, parse_schema(store, list(catalog.values()))
        self.cache: dict[tuple[str, str], xgr.CompiledGrammar] = {}

    def skus(self, region: str) -> list[str]:
        return sorted(sku for sku, row in self.catalog.items() if region in row["regions"])

    def get(self, task: str, region: str) -> xgr.CompiledGrammar:
        """`task` is a key of SCHEMAS, or "parse" for grounded mode's query parse."""
        if (task, region) not in self.cache:
            schema = self.parse_schema if task == "parse" else grounded_schema(task, self.skus(region))
            # compact separators, as prompts.answer_text writes every training target: with xgrammar's
            # default ", " and ": " the tuned adapters saw a format they were never trained on and
            # answered worse (grounded parses lost their category); any_whitespace=False: otherwise
            # a small model can spend its whole budget on spaces
            self.cache[task, region] = self.compiler.compile_json_schema(
                json.dumps(schema), any_whitespace=False, separators=(",", ":")
            )
        return self.cache[task, region]


class RowConstraints(LogitsProcessor):
    """xgrammar masks on the rows of a batch that have a grammar; rows with None decode freely,
    so constrained and free requests (and different regions) share one forward pass.
    One instance per `generate` call: the matchers hold each row's parse state."""

    def __init__(self, grammars: list):
        self.matchers = [xgr.GrammarMatcher(g) if g is not None else None for g in grammars]
        vocab = next(g.tokenizer_info.vocab_size for g in grammars if g is not None)
        self.mask = xgr.allocate_token_bitmask(len(grammars), vocab)
        self.vocab, self.started = vocab, False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.mask.fill_(-1)  # every bit set: every token allowed
        for i, matcher in enumerate(self.matchers):
            if matcher is None or matcher.is_terminated():
                continue
            if self.started:
                matcher.accept_token(int(input_ids[i, -1]))
            if not matcher.is_terminated():
                matcher.fill_next_token_bitmask(self.mask, i)
        self.started = True
        out = scores.float().cpu()
        xgr.apply_token_bitmask_inplace(out, self.mask, vocab_size=min(self.vocab, out.shape[-1]))
        return out.to(scores.device, scores.dtype)


def constraints_for(grammars: list) -> list:
    """generate()'s logits_processor list: empty when no row is constrained."""
    return [RowConstraints(grammars)] if any(g is not None for g in grammars) else []
