"""Packing as pure logic: best-fit-decreasing bins, and a packed batch's loss and gradients equal
the unpacked batch's (attention never crosses examples). No Ray."""

import numpy as np
import pytest
import torch

from helpers import demo_store, tiny_config
from skutune.data.curate import Tokenize
from skutune.demo.examples import build_examples
from skutune.train.batches import (
    LeftPadCollate,
    PackedCollate,
    best_fit_decreasing,
    collate_for,
    pack_examples,
    runs_eagerly,
)
from skutune.train.methods import build_model
from skutune.train.step import mean_target_loss


def test_best_fit_decreasing_fills_bins_tightly():
    bins = best_fit_decreasing([5, 4, 3, 3, 2, 1], capacity=6)
    assert sorted(sorted([5, 4, 3, 3, 2, 1][i] for i in b) for b in bins) == [[1, 5], [2, 4], [3, 3]]
    lengths = list(np.random.default_rng(0).integers(1, 100, size=500))
    bins = best_fit_decreasing(lengths, capacity=256)
    assert sorted(i for b in bins for i in b) == list(range(500))
    assert max(sum(lengths[i] for i in b) for b in bins) <= 256
    assert len(bins) <= int(np.ceil(sum(lengths) / 256)) + 1  # next to no space wasted
    with pytest.raises(ValueError, match="does not fit"):
        best_fit_decreasing([300], capacity=256)


def test_packed_rows_come_out_shuffled_not_longest_first():
    """Trained in best-fit-decreasing order, an epoch would end on short examples only."""
    lengths = np.random.default_rng(1).integers(4, 120, size=400)
    batch = {"input_ids": [np.full(n, i) for i, n in enumerate(lengths)], "labels": [np.zeros(n) for n in lengths]}
    packed = pack_examples(batch, capacity=256, seed=3)
    longest = [int(lengths[row].max()) for row in (np.unique(ids) for ids in packed["input_ids"])]
    tail = len(longest) // 4
    assert np.mean(longest[-tail:]) > 0.5 * np.mean(longest[:tail])  # BFD order: the last rows hold ~10-token examples
    again = pack_examples(batch, capacity=256, seed=3)  # seeded: a rerun and a resume see the same order
    assert [r.tolist() for r in packed["input_ids"]] == [r.tolist() for r in again["input_ids"]]
    assert sorted(np.concatenate(packed["input_ids"]).tolist()) == sorted(np.concatenate(batch["input_ids"]).tolist())


@pytest.fixture(scope="module")
def examples(tiny_model_dir):
    tok = Tokenize(str(tiny_model_dir), 160, demo_store())
    rows = [ex for ex in build_examples() if ex["split"] == "train"][:12]
    ids, labels = zip(*(tok.encode(ex) for ex in rows))
    return {"input_ids": [np.array(x) for x in ids], "labels": [np.array(y) for y in labels]}, tok.tok.pad_token_id


def test_packed_loss_and_gradients_equal_unpacked(examples, tiny_model_dir):
    batch, pad = examples
    packed = pack_examples(batch, capacity=400)
    assert len(packed["input_ids"]) < len(batch["input_ids"]) / 2 and packed["examples"].sum() == 12
    torch.manual_seed(0)
    model = build_model(tiny_model_dir, tiny_config("/tmp/unused").method)

    def loss_and_grads(collated):
        model.zero_grad()
        loss = mean_target_loss(model, collated)
        loss.backward()
        return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])

    unpacked_loss, unpacked_grad = loss_and_grads(LeftPadCollate(pad)(batch))
    rows = PackedCollate(pad)(packed)
    assert "attention_mask" not in rows and (rows["position_ids"] == 0).sum() >= 12
    packed_loss, packed_grad = loss_and_grads(rows)
    assert packed_loss == pytest.approx(unpacked_loss, rel=1e-5)
    assert torch.allclose(packed_grad, unpacked_grad, rtol=1e-3, atol=1e-6)

    # the same rows with positions that do not restart let attention cross examples: not the same loss
    crossing = {**rows, "position_ids": torch.arange(rows["input_ids"].shape[1]).expand_as(rows["input_ids"])}
    assert abs(loss_and_grads(crossing)[0] - unpacked_loss) > 1e-3


def test_a_compiled_runs_short_last_batch_runs_eagerly_without_recompiling(examples, tiny_model_dir, tmp_path):
    """Compiled layers see one width; a full batch compiles once, and the epoch's short last batch
    (fewer rows) runs eagerly at its own size instead of recompiling or paying for padded rows."""
    batch, pad = examples
    cfg = tiny_config(tmp_path, **{"train.compile": True, "train.batch_size": 8})
    collate = collate_for(cfg, pad)
    full = collate({k: v[:8] for k, v in batch.items()})
    short = collate({k: v[8:11] for k, v in batch.items()})
    assert full["input_ids"].shape == (8, 160) and short["input_ids"].shape == (3, 160)  # no all-padding rows
    assert not runs_eagerly(cfg, [full]) and runs_eagerly(cfg, [short])
    torch._dynamo.reset()
    model = build_model(tiny_model_dir, cfg.method)
    for layer in model.get_base_model().model.layers:
        layer.compile(backend="eager")  # dynamo's graph capture, without inductor's C++ build
    graphs = torch._dynamo.utils.counters["stats"]
    try:
        mean_target_loss(model, full).backward()
        compiled = graphs["unique_graphs"]
        assert compiled > 0
        with torch.compiler.set_stance("force_eager"):
            mean_target_loss(model, short).backward()
        assert graphs["unique_graphs"] == compiled  # nothing recompiled
        mean_target_loss(model, short).backward()  # what the short batch would cost compiled: new graphs
        assert graphs["unique_graphs"] > compiled
    finally:
        torch._dynamo.reset()
