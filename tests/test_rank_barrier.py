"""RankBarrier (workflows.distributed): ranks of one launch meet through a TCPStore, never an older launch's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch.distributed as dist

from monai_ccnet.workflows.distributed import RankBarrier, node_context, shard_context

# each rank writes what its barrier returned to <out>/rank<r>.json
RANK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from monai_ccnet.workflows.distributed import RankBarrier, shard_context

    out, timeout = sys.argv[1], float(sys.argv[2])
    rank, world = shard_context()
    with RankBarrier(rank, world, name=out, timeout_s=timeout) as ranks:
        first = ranks.wait("trained", {"rank": rank, "runs": list(range(rank + 1))})
        second = ranks.wait("fitted", rank * 10)
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"trained": first, "fitted": second}, f)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_single_process_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("world 1 opened a TCPStore")

    monkeypatch.setattr(dist, "TCPStore", refuse)
    with RankBarrier(0, 1) as ranks:
        assert ranks.wait("trained", {"runs": (1, 2)}) == [{"runs": [1, 2]}]  # as JSON gives it to others


def test_two_torchrun_ranks_exchange_payloads(tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for launch in range(2):  # a second launch in the same folder starts from nothing
        out = tmp_path / f"out{launch}"
        out.mkdir()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(out), "60"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        for rank in (0, 1):
            got = json.loads((out / f"rank{rank}.json").read_text())
            assert got["trained"] == [{"rank": 0, "runs": [0]}, {"rank": 1, "runs": [0, 1]}]
            assert got["fitted"] == [0, 10]


def test_without_torchrun_rank_0_serves_the_store(tmp_path):
    """A launch by hand (RANK, WORLD_SIZE, MASTER_ADDR/PORT, no torchrun agent) works the same."""
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHELASTIC")}
    env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2")
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), "60"], env={**env, "RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (1, 0)]  # rank 1 first
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got == {"trained": [{"rank": 0, "runs": [0]}, {"rank": 1, "runs": [0, 1]}], "fitted": [0, 10]}


def test_a_missing_rank_times_out_naming_the_stage_and_the_rank(monkeypatch, tmp_path):
    """Without torchrun's agent rank 0 serves the store itself; rank 1 never comes."""
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    ranks = RankBarrier(0, 2, name=str(tmp_path), timeout_s=1)
    with pytest.raises(TimeoutError, match=r"rank 0: waited 1 s for rank\(s\) \[1\] of 2 to reach 'open'"):
        ranks.open()


def test_barrier_needs_the_rendezvous_address(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(RuntimeError, match="MASTER_ADDR and MASTER_PORT must be set"):
        RankBarrier(1, 2).open()
    with pytest.raises(ValueError, match=r"rank must be in \[0, world\)"):
        RankBarrier(2, 2)


def test_rank_variables_are_read_in_one_place(monkeypatch):
    for name, value in (("RANK", "3"), ("WORLD_SIZE", "8"), ("LOCAL_RANK", "1"), ("LOCAL_WORLD_SIZE", "4")):
        monkeypatch.setenv(name, value)
    assert shard_context() == (3, 8) and node_context() == (1, 4)
    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(ValueError, match="RANK='zero' is not an integer"):
        shard_context()
