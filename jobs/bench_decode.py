"""Where a grounded search miss spends its time: one query's parse, decoded alone (batch 1) on
this machine, with each latency lever switched on in turn. Needs a run with an understanding
adapter (after `make demo`).

    python jobs/bench_decode.py --config jobs/configs/demo.yaml        (make bench-decode)

Rows (runs/<name>/bench_decode.json and .md):
- fp32 weights under bf16 autocast: how serving decoded before bf16 weights
- bf16 weights, under the parse grammar: how eval decodes, and the Serve app a batch of several (generate.py)
- without the grammar: what xgrammar's masks cost
- transformers' prompt-lookup decoding (spans copied from the prompt, verified in one pass);
  it cannot run under the grammar, so it is compared with the row without one
- a static KV cache with the decode step compiled (torch.compile): per-token cost after a
  one-off compile, printed beside it
- skutune's speculative greedy under the grammar (serve/speculative.py, what the Serve app runs
  for a request decoded alone): drafts from the grammar's forced tokens and the request, then
  also from an n-gram table of the run's training answers
- the same with the request's hint (GroundedSearch.hint: the region, query and budget a parse
  copies, and the category of the best BM25 match, as a parse writes them), which the Serve app
  drafts from
- the same through the Serve app's engine (serve/engine.py), the adapter inside the shared
  PeftModel: by peft's per-row `adapter_names` (merged_adapters 0), and on the engine's merged
  copy (the app's default), without the hint and with it (the app)
and how many of a parse's tokens echo the request (region, query): what a shorter parse saves;
and a batch of 8 parses (a replica under load) as one batched generate against one by one on
the speculative path.
"""

import json
import re
import time

import numpy as np
import torch
from transformers import StaticCache

from skutune.cli import job_args, setup
from skutune.generate import LAST_POSITION, generate_ids, load_model, render
from skutune.runtime.model_import import resolve_model_dir
from skutune.runtime.paths import load_jsonl
from skutune.search.grounded import GroundedSearch
from skutune.search.retrieval import CatalogIndex
from skutune.serve.args import AppArgs
from skutune.serve.constrained import Grammars, constraints_for
from skutune.serve.engine import GenRequest, ServingEngine
from skutune.serve.speculative import Drafter, greedy
from skutune.train.methods import load_tuned

ECHO = re.compile(r'"region":"[^"]*",("query":"(?:[^"\\]|\\.)*",)?')  # what the request already says


def timed(prompts, decode) -> tuple[list[list[int]], list[float]]:
    """Each prompt decoded alone; the first is a warm-up and is not timed."""
    decode(prompts[0])
    outs, seconds = [], []
    for p in prompts[1:]:
        start = time.perf_counter()
        outs.append(decode(p))
        seconds.append(time.perf_counter() - start)
    return outs, seconds


def static_compiled(tok, model, max_len: int = 512):
    """Greedy decoding over a static KV cache with the one-token step compiled; prefill eager."""
    cache = StaticCache(config=model.config, max_cache_len=max_len)

    def step(ids, pos):
        return model(input_ids=ids, past_key_values=cache, cache_position=pos, logits_to_keep=LAST_POSITION).logits[
            :, -1
        ]

    compiled = torch.compile(step, dynamic=False)

    @torch.inference_mode()
    def decode(prompt, max_new_tokens: int = 128):
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids
        cache.reset()
        n, new = ids.shape[1], []
        logits = step(ids, torch.arange(n))
        for i in range(max_new_tokens):
            new.append(int(logits[0].argmax()))
            if new[-1] == tok.eos_token_id:
                break
            logits = compiled(torch.tensor([[new[-1]]]), torch.tensor([n + i]))
        return new

    return decode


def main():
    args = job_args(__doc__)
    cfg = setup(args)
    rd, base = cfg.run_dir(), resolve_model_dir(cfg.model)
    adapter = cfg.adapter_dir(cfg.eval.understand_adapter)
    tests = load_jsonl(rd.test)[:13]
    tok, model = load_model(base, adapter)
    catalog = {r["sku"]: r for r in load_jsonl(rd.catalog)}
    grammars = Grammars(tok, model.config.vocab_size, catalog, cfg.store)
    prompts = [render(tok, e["query"], e["region"], e["date"], cfg.store, target="parse") for e in tests]
    region_of = {p: e["region"] for p, e in zip(prompts, tests)}
    search = GroundedSearch(CatalogIndex.load(cfg.index_dir()), cfg.store)
    hint_of = {p: search.hint(e["query"], e["region"]) for p, e in zip(prompts, tests)}

    def under_grammar(m):
        return lambda p: generate_ids(tok, m, [p], 128, constraints_for([grammars.get("parse", region_of[p])]))[0]

    def speculative(drafter, hinted: bool = False):
        def decode(p):
            ids = tok(p, return_tensors="pt", add_special_tokens=False)["input_ids"]
            hint = tok(hint_of[p], add_special_tokens=False)["input_ids"] if hinted else []
            grammar = grammars.get("parse", region_of[p])
            return greedy(model, ids, 128, tok.eos_token_id, grammar, drafter=drafter, hint=hint)

        return decode

    answers = AppArgs(run_dir=str(rd.root)).answers()

    def on_engine(merged: int, hinted: bool = False):
        engine = ServingEngine(base, catalog, cfg.store, 1, answers=answers, merged=merged)
        lora = engine.adapter(cfg.eval.understand_adapter, adapter)
        return lambda p: engine.alone(
            GenRequest(p, lora, 128, grammars.get("parse", region_of[p]), hint=hint_of[p] if hinted else "")
        )

    fp32 = load_tuned(base, adapter).merge_and_unload().eval()
    compile_start = time.perf_counter()
    compiled = static_compiled(tok, model)
    compiled(prompts[0])
    compile_s = time.perf_counter() - compile_start
    levers = {
        "fp32 weights, bf16 autocast (before)": under_grammar(fp32),
        "bf16 weights, grammar, generate (eval)": under_grammar(model),
        "bf16 weights, no grammar": lambda p: generate_ids(tok, model, [p], 128)[0],
        "bf16, no grammar, prompt lookup (10)": lambda p: prompt_lookup(tok, model, p),
        "bf16, no grammar, static cache, compiled step": compiled,
        "bf16, grammar, speculative: grammar + request drafts": speculative(Drafter()),
        f"bf16, grammar, speculative: + {len(answers)} training answers": speculative(Drafter.from_texts(tok, answers)),
        "bf16, grammar, speculative: + the request's hint (region, query, budget, category)": speculative(
            Drafter.from_texts(tok, answers), hinted=True
        ),
        "the Serve engine: the same, LoRA by peft's adapter_names, no hint": on_engine(0),
        "the Serve engine: the same, on its merged copy, no hint (before)": on_engine(1),
        "the Serve engine: the same, on its merged copy, with the hint (the app)": on_engine(1, hinted=True),
    }
    rows, reference = [], None
    for name, decode in levers.items():
        outs, seconds = timed(prompts, decode)
        reference = reference or outs
        rows.append(
            {
                "lever": name,
                "p50_ms": round(1000 * float(np.median(seconds)), 1),
                "p99_ms": round(1000 * float(np.percentile(seconds, 99)), 1),
                "tokens": round(float(np.mean([len(o) for o in outs])), 1),
                "ms_per_token": round(1000 * sum(seconds) / sum(len(o) for o in outs), 1),
                "same_output": round(sum(a == b for a, b in zip(outs, reference)) / len(outs), 2),
            }
        )
        print(rows[-1], flush=True)
    batch = prompts[1:9]  # what a replica gathers under load (max_batch_size 8): one generate, or one by one
    start = time.perf_counter()
    generate_ids(tok, model, batch, 128, constraints_for([grammars.get("parse", region_of[p]) for p in batch]))
    batched_s = time.perf_counter() - start
    served = speculative(Drafter.from_texts(tok, answers), hinted=True)
    start = time.perf_counter()
    for p in batch:
        served(p)
    one_by_one_s = time.perf_counter() - start
    texts = [tok.decode(o, skip_special_tokens=True) for o in reference]
    echo = [len(tok(m.group(0), add_special_tokens=False).input_ids) for t in texts for m in ECHO.finditer(t)]
    summary = {
        "device": f"CPU, {torch.get_num_threads()} threads" if not torch.cuda.is_available() else "CUDA",
        "queries": len(prompts) - 1,
        "levers": rows,
        "compile_s": round(compile_s, 1),
        "echo_tokens_per_parse": round(sum(echo) / len(texts), 1),
        "batch_of_8_s": {"generate, batched": round(batched_s, 2), "speculative, one by one": round(one_by_one_s, 2)},
    }
    (rd.root / "bench_decode.json").write_text(json.dumps(summary, indent=2))
    lines = [
        "| lever | p50 ms | p99 ms | tokens | ms/token | same output as the first row |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['lever']} | {r['p50_ms']} | {r['p99_ms']} | {r['tokens']} | {r['ms_per_token']} | "
            f"{r['same_output']} |"
            for r in rows
        ),
    ]
    note = (
        f"\n{summary['device']}; {summary['queries']} test queries of {cfg.run.name}, one at a time. Compiling the "
        f"step took {summary['compile_s']} s once. A parse echoes the request in "
        f"{summary['echo_tokens_per_parse']} of its {rows[1]['tokens']} tokens (region, query). A batch of "
        f"{len(batch)} parses: {batched_s:.2f} s as one batched generate under the grammar, {one_by_one_s:.2f} s "
        "one by one on the speculative path (the app's one_by_one)."
    )
    (rd.root / "bench_decode.md").write_text("\n".join(lines) + note + "\n")
    print("\n".join(lines) + note)


@torch.inference_mode()
def prompt_lookup(tok, model, prompt: str) -> list[int]:
    enc = tok([prompt], return_tensors="pt", add_special_tokens=False)
    out = model.generate(
        **enc, max_new_tokens=128, do_sample=False, prompt_lookup_num_tokens=10, pad_token_id=tok.pad_token_id
    )
    ids = out[0, enc["input_ids"].shape[1] :].tolist()
    return ids[: ids.index(tok.eos_token_id) + 1] if tok.eos_token_id in ids else ids


if __name__ == "__main__":
    main()
