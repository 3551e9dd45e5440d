"""One base model in memory and many adapters over it, for the Serve replica.

LoRA adapters live by name inside one PeftModel over the shared base; a batch of requests for
different LoRA adapters (and the base) runs as one `generate` with peft's per-row
`adapter_names`. Other methods (prefix, prompt, IA3, bottleneck, BitFit, hybrid, QLoRA, full)
are a model of their own, batched per adapter. A per-replica LRU bounds what is loaded, by count
(`max_loaded`) and by memory (`max_bytes`: a non-LoRA artefact is a whole model copy, a LoRA a
few MB): the least recently used adapter is unloaded past either and reloads on demand.
A trained adapter keeps its unversioned name when retrained ("search"), so a loaded adapter
remembers its files' stamp and reloads when they change under it.
A request decoded alone (a lone miss, a stream) takes speculative.greedy: the same greedy answer
in fewer forward passes, its guesses drafted from the grammar, the request and `answers`. For a
LoRA adapter it runs on a copy of the base with the adapter folded in, for the first `merged`
adapters decoded alone (a copy stays until its adapter unloads: building one takes about 1.2 s on
2 CPU cores, so copies are never swapped per request). peft's per-row path runs each LoRA layer
beside its base layer, and at batch 1 on a CPU those small matmuls and their Python cost it 1.77x
a merged model's time (1,450 against 820 ms a parse on one thread, the same 12 parses).
Thread-unsafe by design: the replica calls it under one lock.
"""

import contextlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from transformers import TextIteratorStreamer

from skutune.generate import generate_ids, load_model, merged_lora, prompt_learning
from skutune.serve.cards import shares_base, stamp
from skutune.serve.constrained import Grammars, constraints_for
from skutune.serve.speculative import Drafter, greedy

BASE_ROW = "__base__"  # peft's adapter name for "no adapter" in a mixed batch
# on 2 CPU cores, 16 clients' misses: 0.64 grounded req/s batched, 1.87 one by one (README)
ONE_BY_ONE_CPU = 8


class AdapterLoadError(RuntimeError):
    """A registered adapter that does not fit the base (wrong shapes, unknown modules)."""


@dataclass
class Adapter:
    id: str  # the versioned id it was loaded as ("diwali-tv@3"): a new version is a new key
    own: object = None  # a model of its own; None: a LoRA adapter inside the shared PeftModel
    bytes: int = 0  # what it holds in memory beyond the shared base
    stamp: tuple = ()  # its files when it loaded (stamp()): retrained in place, it reloads
    path: Path | None = None  # the directory it loaded from: a merged copy is built from it


@dataclass
class GenRequest:
    prompt: str
    adapter: Adapter | None  # None: the base model
    max_new_tokens: int
    grammar: object = None  # a compiled xgrammar grammar, or None to decode freely
    deadline: float | None = None  # time.monotonic() past which its generation stops
    hint: str = ""  # text the answer likely copies: drafts for a request decoded alone (speculative.greedy)


@dataclass
class Result:
    text: str
    completion_tokens: int
    prompt_tokens: int
    finish_reason: str  # "stop" or "length", as OpenAI reports it
    decode_ms: float = 0.0  # the engine's time on the batch that decoded it, lock held (0: no model ran)


def nbytes(named_parameters) -> int:
    return sum(p.numel() * p.element_size() for _, p in named_parameters)


class TokenStreamer(TextIteratorStreamer):
    """Text after every token. The stock streamer holds text back to the last space, and compact
    JSON has none: the whole answer would come as one chunk. Only an incomplete UTF-8
    character (decoded as U+FFFD) waits for its next token."""

    def put(self, value):
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        if not text.endswith("\ufffd"):
            self.on_finalized_text(text[self.print_len :])
            self.print_len = len(text)


class ServingEngine:
    def __init__(
        self,
        model_dir: Path,
        catalog: dict,
        store,
        max_loaded: int,
        max_bytes: int | None = None,
        answers=(),
        one_by_one: int | None = None,
        merged: int = 2,
    ):
        """`answers`: texts of earlier answers (training targets) whose n-grams seed the drafts.
        `one_by_one`: a group of up to this many requests on one model decodes a request at a time
        on the speculative path; a larger group decodes as one batched `generate` (None: 8 on a
        CPU, 1 on a GPU). `merged`: how many LoRA adapters keep a merged copy of the base for
        requests decoded alone (0: none)."""
        self.model_dir, self.max_loaded, self.max_bytes = model_dir, max_loaded, max_bytes
        self.merged_max = merged
        self.merged: dict[str, object] = {}  # adapter id -> a base with it folded in
        self.tok, self.base = load_model(model_dir)
        self.one_by_one = one_by_one or (1 if self.base.device.type == "cuda" else ONE_BY_ONE_CPU)
        self.grammars = Grammars(self.tok, self.base.config.vocab_size, catalog, store)
        self.drafter = Drafter.from_texts(self.tok, answers)
        self.peft = None  # the PeftModel wrapping self.base once the first LoRA adapter loads
        self.loaded: OrderedDict[str, Adapter] = OrderedDict()
        self.evictions = 0

    def adapter(self, adapter_id: str, path: Path) -> Adapter:
        """The loaded adapter, loading it (and evicting the least recently used) if needed, and
        loading it again if its files changed since (a retrained unversioned adapter)."""
        now = stamp(path)
        if adapter_id in self.loaded:
            if self.loaded[adapter_id].stamp == now:
                self.loaded.move_to_end(adapter_id)
                return self.loaded[adapter_id]
            self.unload(adapter_id)
        try:
            adapter = self._load(adapter_id, path)
            adapter.stamp, adapter.path = now, path
        except Exception as err:  # whatever peft or torch raised, the shared base must come out as it went in
            self._discard(adapter_id)
            raise AdapterLoadError(f"adapter {adapter_id!r} could not be loaded: {str(err)[:300]}") from err
        self.loaded[adapter_id] = adapter
        while len(self.loaded) > self.max_loaded or (len(self.loaded) > 1 and self.over_memory()):
            self.unload(next(iter(self.loaded)))
        return adapter

    def over_memory(self) -> bool:
        return self.max_bytes is not None and sum(a.bytes for a in self.loaded.values()) > self.max_bytes

    def _load(self, adapter_id: str, path: Path) -> Adapter:
        from peft import PeftModel

        if not shares_base(path):
            own = load_model(self.model_dir, path)[1]
            return Adapter(adapter_id, own=own, bytes=nbytes(own.named_parameters()))
        # peft reads adapter_model.safetensors; registry.py refuses pickled weights
        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.base, str(path), adapter_name=adapter_id).eval()
        else:
            self.peft.load_adapter(str(path), adapter_name=adapter_id)
        mine = (
            (n, p) for n, p in self.peft.named_parameters() if f".{adapter_id}." in n or n.endswith(f".{adapter_id}")
        )
        return Adapter(adapter_id, bytes=nbytes(mine))

    def _discard(self, adapter_id: str) -> None:
        """Undo a failed load. A first LoRA load injects its layers into the shared base before its
        weights are checked, so on failure they are swapped back for the layers they wrap; a later
        one is an adapter inside the PeftModel, deleted by name."""
        from peft.tuners.tuners_utils import BaseTunerLayer

        if self.peft is None:
            for name, module in list(self.base.named_modules()):
                if isinstance(module, BaseTunerLayer):
                    parent, _, child = name.rpartition(".")
                    setattr(self.base.get_submodule(parent), child, module.get_base_layer())
            if hasattr(self.base, "peft_config"):
                del self.base.peft_config
        elif adapter_id in self.peft.peft_config:
            self.peft.delete_adapter(adapter_id)

    def unload(self, adapter_id: str) -> None:
        self.merged.pop(adapter_id, None)
        adapter = self.loaded.pop(adapter_id, None)
        if adapter is not None and adapter.own is None:
            self.peft.delete_adapter(adapter_id)
        self.evictions += adapter is not None

    @contextlib.contextmanager
    def active(self, adapter: Adapter | None):
        """The model with `adapter` switched on, for code that calls the model itself (the reranker)."""
        model = self._model_of(adapter)
        if model is not self.peft:
            yield model
        elif adapter is None:
            with self.peft.disable_adapter():
                yield model
        else:
            self.peft.set_adapter(adapter.id)
            yield model

    def _model_of(self, adapter: Adapter | None):
        if adapter is not None and adapter.own is not None:
            return adapter.own
        return self.peft or self.base

    def run(self, jobs: list[GenRequest]) -> list[Result]:
        """Every job answered, in order: shared-base jobs in one mixed batch, others per model."""
        groups: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(id(self._model_of(job.adapter)), []).append(i)
        ids: list[list[int]] = [[] for _ in jobs]
        for rows in groups.values():
            model = self._model_of(jobs[rows[0]].adapter)
            if len(rows) <= self.one_by_one and not prompt_learning(model):
                for i in rows:
                    ids[i] = self.alone(jobs[i])
                continue
            deadlines = [jobs[i].deadline for i in rows]  # a batch runs until its last job's deadline
            names = None
            if model is self.peft and not prompt_learning(model):
                names = [jobs[i].adapter.id if jobs[i].adapter else BASE_ROW for i in rows]
            out = generate_ids(
                self.tok,
                model,
                [jobs[i].prompt for i in rows],
                max(jobs[i].max_new_tokens for i in rows),
                constraints_for([jobs[i].grammar for i in rows]),
                adapter_names=names,
                deadline=None if None in deadlines else max(deadlines),
            )
            for i, row in zip(rows, out):
                ids[i] = row[: jobs[i].max_new_tokens]  # a job with a smaller budget than its batch's stops at its own
        return [self.result(job, row) for job, row in zip(jobs, ids)]

    def _merged_copy(self, adapter: Adapter):
        """The base with `adapter` folded in (as eval loads a LoRA adapter), built on first use while
        fewer than `merged` copies exist; None once they do."""
        if adapter.id not in self.merged and len(self.merged) < self.merged_max:
            self.merged[adapter.id] = merged_lora(self.model_dir, adapter.path)
        return self.merged.get(adapter.id)

    def alone(self, job: GenRequest, streamer=None) -> list[int]:
        """One request's new token ids, decoded by itself on the speculative path: a LoRA adapter
        of the shared base on its merged copy where it has one, else by peft's per-row path."""
        model, extra = self._model_of(job.adapter), {}
        copy = self._merged_copy(job.adapter) if model is self.peft and job.adapter is not None else None
        if copy is not None:
            model = copy
        elif model is self.peft:
            extra = {"adapter_names": [job.adapter.id if job.adapter else BASE_ROW]}
        prompt = self.tok(job.prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
        hint = self.tok(job.hint, add_special_tokens=False)["input_ids"] if job.hint else []
        eos = self.tok.eos_token_id
        return greedy(
            model, prompt, job.max_new_tokens, eos, job.grammar, job.deadline, streamer, self.drafter, hint, **extra
        )

    def result(self, job: GenRequest, ids: list[int]) -> Result:
        prompt = len(self.tok(job.prompt, add_special_tokens=False)["input_ids"])
        finish = "stop" if ids and ids[-1] == self.tok.eos_token_id else "length"
        return Result(self.tok.decode(ids, skip_special_tokens=True), len(ids), prompt, finish)

    def stream(self, job: GenRequest):
        """Text pieces as they are generated (TextIteratorStreamer), then the Result. Prompt-learning
        models decode without the KV cache (generate.greedy_without_cache) and yield their answer whole."""
        model = self._model_of(job.adapter)
        if prompt_learning(model):
            result = self.run([job])[0]
            yield result.text
            yield result
            return
        streamer = TokenStreamer(self.tok, skip_prompt=True, skip_special_tokens=True)
        ids = []
        worker = threading.Thread(target=lambda: ids.extend(self.alone(job, streamer)))
        worker.start()
        yield from (piece for piece in streamer if piece)
        worker.join()
        yield self.result(job, ids)
