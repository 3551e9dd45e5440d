"""Every tuning method on a tiny random model (real tokenizer), without Ray: the trainable
parameter count is what the method says, frozen weights stay bit-identical after training
steps, the loss falls, and the saved artefact reloads to the same logits."""

import pytest
import torch

from helpers import demo_store
from skutune.config import METHOD_CONFIG
from skutune.data.curate import Tokenize
from skutune.demo.examples import build_examples
from skutune.train.batches import LeftPadCollate
from skutune.train.methods import build_model, load_tuned, parameter_counts, save_artefact
from skutune.train.step import mean_target_loss

LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CASES = {  # method config, learning rate
    "full": ({"name": "full"}, 3e-3),
    "lora": ({"name": "lora", "r": 4, "alpha": 8}, 3e-2),
    "dora": ({"name": "dora", "r": 4, "alpha": 8}, 3e-2),
    "qlora": ({"name": "qlora", "r": 4, "alpha": 8, "compute_dtype": "float32"}, 3e-2),
    "ia3": ({"name": "ia3"}, 1e-1),
    "prefix": ({"name": "prefix", "num_virtual_tokens": 8}, 1e-1),
    "prefix-text-init": ({"name": "prefix", "num_virtual_tokens": 8, "init_text": "Answer with catalog SKUs."}, 3e-2),
    "prompt": ({"name": "prompt", "num_virtual_tokens": 8, "init_text": "Answer with catalog SKUs in JSON."}, 1e-1),
    "bottleneck-houlsby": ({"name": "bottleneck", "size": 8, "placement": "houlsby"}, 3e-2),
    "bottleneck-pfeiffer": ({"name": "bottleneck", "size": 8, "placement": "pfeiffer"}, 3e-2),
    "bitfit": ({"name": "bitfit"}, 1e-1),
    "hybrid": ({"name": "hybrid", "r": 4, "alpha": 8, "num_virtual_tokens": 8}, 3e-2),
    "hybrid-prefix-only": (
        {
            "name": "hybrid",
            "r": 4,
            "alpha": 8,
            "num_virtual_tokens": 8,
            "train": "prefix",
            "init_text": "Answer with catalog SKUs.",
        },
        1e-1,
    ),
}


def expected_trainable(method: dict, c) -> int:
    """The trainable parameter count each method's definition implies for config `c`."""
    kv, d, f, L = c.num_key_value_heads * c.head_dim, c.hidden_size, c.intermediate_size, c.num_hidden_layers
    shapes = {
        "q_proj": (d, d),
        "k_proj": (d, kv),
        "v_proj": (d, kv),
        "o_proj": (d, d),
        "gate_proj": (d, f),
        "up_proj": (d, f),
        "down_proj": (f, d),
    }  # (in, out)
    lora = L * sum(method.get("r", 0) * (i + o) for i, o in shapes.values())
    prefix = L * 2 * kv * method.get("num_virtual_tokens", 0)  # a key and a value per layer and virtual token
    name = method["name"]
    if name in ("lora", "qlora"):
        return lora
    if name == "dora":
        return lora + L * sum(o for _, o in shapes.values())  # one magnitude per output feature
    if name == "ia3":
        return L * (kv + kv + f)  # keys, values, and the input of down_proj
    if name == "prefix":
        return prefix
    if name == "prompt":
        return method["num_virtual_tokens"] * d
    if name == "bottleneck":
        return L * {"houlsby": 2, "pfeiffer": 1}[method["placement"]] * (2 * d * method["size"] + method["size"] + d)
    if name == "bitfit":
        return L * sum(o for _, o in shapes.values())
    if name == "hybrid":
        return {"both": lora + prefix, "prefix": prefix, "lora": lora}[method.get("train", "both")]
    raise AssertionError(name)


@pytest.fixture(scope="module")
def batch(tiny_model_dir):
    tok = Tokenize(str(tiny_model_dir), 160, demo_store())
    rows = [ex for ex in build_examples() if ex["split"] == "train"][:6]
    ids, labels = zip(*(tok.encode(ex) for ex in rows))
    return LeftPadCollate(tok.tok.pad_token_id)({"input_ids": list(ids), "labels": list(labels)})


@pytest.mark.parametrize("case", list(CASES))
def test_method_trains_only_its_parameters_and_reloads(case, tiny_model_dir, batch, tmp_path):
    raw, lr = CASES[case]
    cfg = METHOD_CONFIG.validate_python(raw)
    torch.manual_seed(0)
    model = build_model(tiny_model_dir, cfg)
    counts = parameter_counts(model)
    if cfg.name == "full":
        assert counts["trainable"] == counts["total"]
    else:
        assert counts["trainable"] == expected_trainable(raw, model.config), counts
        assert counts["trainable_pct"] < 25

    trainable = [p for p in model.parameters() if p.requires_grad]
    with torch.no_grad():  # bitsandbytes repacks 4-bit weights for its CPU kernel on first use
        mean_target_loss(model, batch)
    frozen = {n: bits(p) for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW(trainable, lr=lr)
    losses = []
    for _ in range(12):
        loss = mean_target_loss(model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses
    for name, p in model.named_parameters():
        if name in frozen:
            assert bits(p) == frozen[name], f"{name} is frozen but changed"

    model.eval()
    with torch.no_grad():
        before = sft_logits(model, batch)
    save_artefact(model, tmp_path / case, cfg)
    reloaded = load_tuned(tiny_model_dir, tmp_path / case).eval()
    with torch.no_grad():
        after = sft_logits(reloaded, batch)
    assert torch.allclose(before, after, atol=1e-5), (before - after).abs().max()


def bits(p) -> bytes:
    """The exact bytes of a parameter (4-bit packed ones too)."""
    return p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()


def sft_logits(model, batch):
    return model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        logits_to_keep=8,
    ).logits.float()


def test_prefix_from_text_is_that_text_and_generation_uses_it(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skutune.generate import generate_batch, load_model

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tok.decode(tok("Answer with catalog SKUs as JSON only please", add_special_tokens=False)["input_ids"][:8])
    cfg = METHOD_CONFIG.validate_python({"name": "prefix", "num_virtual_tokens": 8, "init_text": text})
    model = build_model(tiny_model_dir, cfg).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    prefix_ids = tok(text, add_special_tokens=False)["input_ids"]
    x = tok("samzung fridge 345 litre", add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        tuned = model(input_ids=x, attention_mask=torch.ones_like(x)).logits
        reference = base(input_ids=torch.cat([torch.tensor([prefix_ids]), x], dim=1)).logits[:, len(prefix_ids) :]
    assert len(prefix_ids) == 8 and torch.allclose(
        tuned, reference, atol=1e-4
    )  # the prefix is exactly that text, cached

    # Greedy generation of a prefix model must see the prefix: it continues as the base does after the text.
    save_artefact(model, tmp_path / "prefix", cfg)
    tok, reloaded = load_model(tiny_model_dir, tmp_path / "prefix")
    prompt = "samzung fridge 345 litre"
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        first = reloaded(input_ids=x, attention_mask=torch.ones_like(x)).logits[0, -1].argmax().item()
    assert tok(generate_batch(tok, reloaded, [prompt], 3)[0], add_special_tokens=False)["input_ids"][0] == first
