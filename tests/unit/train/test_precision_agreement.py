"""Workers that train together agree on bf16: where one measures that it pays and another does
not, neither uses it (two real gloo processes, no Ray). A rank that had cast its frozen weights
to bf16 beside one that had not hung DDP's first broadcast."""

import json
import os
import socket
from pathlib import Path

import torch.multiprocessing as mp


def _worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from skutune.train.step import uses_bf16

    os.environ["SKUTUNE_BF16"] = "1" if rank == 0 else "0"  # rank 0 measured that bf16 pays, rank 1 did not
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    import torch

    Path(out, f"{rank}.json").write_text(json.dumps(uses_bf16(torch.device("cpu"), "auto")))
    dist.destroy_process_group()


def test_workers_agree_on_bf16(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # spawned, and verdicts in files: no fork of this process (a Ray driver, later in the suite)
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    assert {rank: json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)} == {0: False, 1: False}
