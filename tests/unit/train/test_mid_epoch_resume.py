"""Step checkpoints and mid-epoch resume in skutune's loop, without Ray: a run cut inside an
epoch resumes at its last step checkpoint and trains each of that epoch's rows once, whatever
order the rows come in after the restart; ranks left with uneven rows stay in step."""

import json
import shutil

import pytest
import torch
import torch.multiprocessing as mp

from helpers import tiny_config
from skutune.train.loop import (
    LOG_FILE,
    POSITION_FILE,
    _in_step,
    _untrained,
    _windows,
    fingerprint,
    load_ledgers,
    run_loop,
)

ROWS, BATCH = 10, 2


def _rows(tok) -> list[list[int]]:
    return [tok(f"[US 2026-05-0{i % 9 + 1}] phone number {i}").input_ids for i in range(ROWS)]


def _fit(cfg, model_dir, rows, checkpoint, saved: list, cut_after: int | None = None, reverse_from: int = 99):
    """One run of the loop; epochs from `reverse_from` on see their rows in reverse order, and
    with `cut_after` the second epoch's data fails after that many batches (a lost worker)."""
    epochs = iter(range(cfg.train.epochs))

    def batches(collate):
        epoch = next(epochs)
        order = rows[::-1] if epoch >= reverse_from else rows
        for i in range(0, ROWS, BATCH):
            if cut_after is not None and epoch == 1 and i // BATCH == cut_after:
                raise RuntimeError("worker lost")
            chunk = order[i : i + BATCH]
            yield collate({"input_ids": chunk, "labels": chunk})

    def report(metrics, d):
        kept = saved[0] / f"checkpoint-{len(saved) - 1}"
        shutil.copytree(d, kept)
        saved.append((metrics, kept))

    run_loop(cfg, model_dir, ROWS, 0, 1, torch.device("cpu"), batches, checkpoint, report)


def test_a_run_cut_mid_epoch_resumes_at_its_step_checkpoint_and_trains_each_row_once(tmp_path, tiny_model_dir):
    from ray.train import Checkpoint
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = _rows(tok)
    cfg = tiny_config(tmp_path, **{"train.epochs": 2, "train.batch_size": BATCH, "train.checkpoint_every_steps": 2})
    saved = [tmp_path / "storage"]
    with pytest.raises(RuntimeError, match="worker lost"):
        _fit(cfg, tiny_model_dir, rows, None, saved, cut_after=3)
    reports = [m for m, _ in saved[1:]]
    # epoch 0: steps 2 and 4 inside it, 5 at its end (no step checkpoint there); epoch 1: step 6
    assert [(m["step"], m.get("mid_epoch", False)) for m in reports] == [(2, True), (4, True), (5, False), (6, True)]
    latest = saved[-1][1]
    assert json.loads((latest / POSITION_FILE).read_text()) == {"epoch": 1, "step": 6, "mid_epoch": True}

    # The restarted run gets the epoch's rows in another order: the two trained before the cut come last.
    resumed = [tmp_path / "restarted"]
    _fit(cfg, tiny_model_dir, rows, Checkpoint.from_directory(str(latest)), resumed, reverse_from=1)
    final = resumed[-1][1]
    history = [json.loads(line) for line in (final / LOG_FILE).read_text().splitlines()]
    assert [h["step"] for h in history] == list(range(1, 11))  # as an uninterrupted run: 2 epochs x 5 steps
    assert [h.get("resumed_at") for h in history if "resumed_at" in h] == [6] and history[6]["step"] == 7
    everything = sorted(fingerprint(r, tok.pad_token_id) for r in rows)
    ledger = load_ledgers(final)[0]
    for epoch in ("0", "1"):
        assert sorted(ledger[epoch]["rows"]) == everything, f"epoch {epoch}: a row skipped or trained twice"
    assert json.loads((final / POSITION_FILE).read_text()) == {"epoch": 2, "step": 10}


def _ranks(rank: int, out: str, rows_on_one: bool) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{out}/pg", rank=rank, world_size=2)
    try:
        batch = {
            "input_ids": torch.ones(2, 4, dtype=torch.int64),
            "labels": torch.ones(2, 4, dtype=torch.int64),
            "real_tokens": torch.full((2,), 4),
        }
        mine = [batch] * 5 if rank == 0 else [batch] if rows_on_one else []  # rank 1 runs out, or has none
        first: list = []  # filled by _untrained as the loop reads, as in _epoch_windows
        windows = _windows(_untrained(iter(mine), {"a row trained before the cut"}, 0, first), 2)
        steps = [
            [(int(b["real_tokens"].sum()), int((b["labels"] != -100).sum()), b["input_ids"].shape[1]) for b in window]
            for window in _in_step(windows, first, "cpu", pad_id=0)
        ]
        with open(f"{out}/rank{rank}.json", "w") as f:
            json.dump(steps, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("rows_on_one", [True, False], ids=["rank1_ran_out", "rank1_had_no_rows"])
def test_ranks_with_uneven_rows_after_a_resume_run_the_same_steps(tmp_path, rows_on_one):
    mp.spawn(_ranks, args=(str(tmp_path), rows_on_one), nprocs=2, join=True)  # spawned: no fork of this process
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert [len(w) for w in zero] == [len(w) for w in one] == [2, 2, 1]  # the same forwards, the same steps
    assert zero == [[[8, 8, 4], [8, 8, 4]], [[8, 8, 4], [8, 8, 4]], [[8, 8, 4]]]
    # blanks: no real or target tokens, shaped like the rank's own first batch (no new compiled
    # shape), or one pad token where the rank was handed nothing
    width = 4 if rows_on_one else 1
    first = [[8, 8, 4], [0, 0, 4]] if rows_on_one else [[0, 0, 1], [0, 0, 1]]
    assert one == [first, [[0, 0, width], [0, 0, width]], [[0, 0, width]]]
