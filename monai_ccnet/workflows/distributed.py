"""Processes launched together (torchrun): which rank and node slot this process is
(:func:`shard_context`, :func:`node_context`, the only readers of torchrun's rank variables) and
how the ranks of one launch meet (:class:`RankBarrier`)."""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["shard_context", "node_context", "RankBarrier"]


def _torchrun_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer (set by torchrun).") from None


def shard_context() -> tuple[int, int]:
    """(rank, world size) of this process from torchrun's ``RANK`` / ``WORLD_SIZE`` ((0, 1) without torchrun).

    With :func:`node_context`, the only readers of torchrun's rank variables. Sharded sweeps
    deliberately run without a ``torch.distributed`` process group: inside one, MONAI's metrics
    all-gather their buffers across ranks, so every rank would score the mix of all ranks'
    (different) networks, and ranks evaluating at different times would hang.

    Raises:
        RuntimeError: a process group is already initialised (e.g. by a config's ``initialize``).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        raise RuntimeError(
            "a torch.distributed process group is initialised: a sharded sweep must run without one "
            "(MONAI metrics would all-gather across ranks). Remove the init_process_group call from the config."
        )
    return _torchrun_int("RANK", 0), _torchrun_int("WORLD_SIZE", 1)


def node_context() -> tuple[int, int]:
    """(local rank, processes on this node) from torchrun's ``LOCAL_RANK`` / ``LOCAL_WORLD_SIZE``
    ((0, 1) without torchrun): which GPU is this process's, how many share the node's cores."""
    return _torchrun_int("LOCAL_RANK", 0), _torchrun_int("LOCAL_WORLD_SIZE", 1)


class RankBarrier:
    """The ranks of one launch wait for each other and exchange small JSON payloads, through a
    ``torch.distributed.TCPStore`` (no process group, no files, no polling).

    Under torchrun (``TORCHELASTIC_USE_AGENT_STORE=True``) the ranks are clients of the store
    torchrun's agent serves at ``MASTER_ADDR:MASTER_PORT`` for the lifetime of the launch, under
    keys named by the run id, the restart count and ``name``; otherwise rank 0 serves a store of
    its own there. Either way the store is born with the launch, so an earlier run's ranks can
    never be taken for this one's. With ``world == 1`` nothing is opened (no network).

    Args:
        rank, world: this process's rank and the number of ranks (:func:`shard_context`).
        name: what the ranks coordinate (e.g. the sweep's output folder), so that two barriers
            of one launch do not share keys.
        timeout_s: how long to wait for the other ranks, at connection and at every :meth:`wait`.
            None: as long as they run (torchrun's agent stops every rank when one fails; a
            launch without torchrun should set it).

    Example::

        rank, world = shard_context()
        with RankBarrier(rank, world, name=str(output_dir)) as ranks:  # waits for every rank
            ...
            payloads = ranks.wait("trained", my_result)  # every rank's my_result, by rank
    """

    #: ``timeout_s=None``: TCPStore needs a finite timeout; a year outlasts any run
    UNLIMITED_S = 365 * 24 * 3600.0

    def __init__(self, rank: int, world: int, name: str = "barrier", timeout_s: float | None = None):
        self.rank, self.world, self.name = int(rank), int(world), str(name)
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank must be in [0, world) = [0, {self.world}), got {self.rank}.")
        self.timeout_s = self.UNLIMITED_S if timeout_s is None else float(timeout_s)
        self._store = None
        self._address = ""
        self._calls = 0  # keys are numbered by call, so ranks calling different stages cannot match

    def open(self) -> "RankBarrier":
        """Connect to the store and wait until every rank has (returns ``self``)."""
        if self.world > 1 and self._store is None:
            self._store = self._connect()
        self.wait("open")
        return self

    def _connect(self):
        import datetime
        import hashlib

        import torch.distributed as dist

        host, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
        if not host or not port:
            raise RuntimeError(
                f"rank {self.rank} of {self.world}: MASTER_ADDR and MASTER_PORT must be set to coordinate the ranks "
                "(torchrun sets them; launch with torchrun or export them)."
            )
        self._address = f"{host}:{port}"
        agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
        timeout = datetime.timedelta(seconds=self.timeout_s)
        try:
            store = dist.TCPStore(host, int(port), self.world, is_master=self.rank == 0 and not agent_store,
                                  timeout=timeout, wait_for_workers=False)
        except dist.DistError as err:
            raise RuntimeError(f"rank {self.rank}: cannot reach the rank store at {self._address}: {err}") from None
        launch = f"{os.environ.get('TORCHELASTIC_RUN_ID', 'none')}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:16]
        return dist.PrefixStore(f"monai_ccnet/{launch}/{digest}/", store)

    def wait(self, stage: str, payload: Any = None) -> list:
        """Announce ``stage`` done with ``payload`` (JSON-able); block until every rank has;
        return every rank's payload, in rank order.

        Raises:
            TimeoutError: not every rank reached ``stage`` within ``timeout_s`` (naming the missing ranks).
            RuntimeError: the store went away (rank 0 or torchrun's agent ended).
        """
        call, self._calls = self._calls, self._calls + 1
        if self.world == 1:
            return [json.loads(json.dumps(payload))]  # what the others would receive
        if self._store is None:
            raise RuntimeError(f"rank {self.rank}: RankBarrier.wait({stage!r}) before open().")
        import datetime

        import torch.distributed as dist

        keys = [f"{call}:{stage}/{r}" for r in range(self.world)]
        try:
            self._store.set(keys[self.rank], json.dumps(payload))
            self._store.wait(keys, datetime.timedelta(seconds=self.timeout_s))
            return [json.loads(self._store.get(key)) for key in keys]
        except dist.DistStoreError:
            missing = [r for r, key in enumerate(keys) if not self._store.check([key])]
            raise TimeoutError(
                f"rank {self.rank}: waited {self.timeout_s:.0f} s for rank(s) {missing} of {self.world} to reach "
                f"{stage!r} (barrier {self.name!r}, store {self._address}); they are slow, stopped, or run another stage."
            ) from None
        except dist.DistError as err:
            raise RuntimeError(
                f"rank {self.rank}: lost the rank store at {self._address} while waiting for {stage!r} "
                f"(rank 0 or torchrun's agent ended?): {err}"
            ) from None

    def close(self) -> None:
        """Leave together (a last :meth:`wait`): rank 0, when it serves the store itself (no
        torchrun agent), stops serving only once every rank has read its payloads."""
        if self._store is not None:
            self.wait("close")
            # the last wait's reads happen after its barrier: a rank 0 that served the store and
            # left at once could cut another rank's read short, so every rank says it has left
            # the store alone and rank 0 stops serving only after all have
            import datetime

            left = [f"{self._calls}:left/{r}" for r in range(self.world)]
            self._store.set(left[self.rank], "1")
            if self.rank == 0:
                self._store.wait(left, datetime.timedelta(seconds=self.timeout_s))
        self._store = None

    def __enter__(self) -> "RankBarrier":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
