"""Resuming never unpickles code: a poisoned optimizer file in checkpoint storage is refused."""

import pickle

import pytest
import torch

from skutune.train.strategies import load_state


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # what unpickling would run
        return (open, (self.marker, "w"))


def test_a_poisoned_optimizer_state_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"optimizer": Payload(str(marker)), "scheduler": {}}, tmp_path / "optim.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_state(tmp_path / "optim.pt")
    assert not marker.exists()


def test_real_optimizer_and_scheduler_state_round_trips(tmp_path):
    model = torch.nn.Linear(4, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    sched.step()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "optim.pt")
    state = load_state(tmp_path / "optim.pt")
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    assert state["scheduler"]["last_epoch"] == 1
