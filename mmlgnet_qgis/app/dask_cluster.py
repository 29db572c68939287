"""Reaching a Dask cluster: a LocalCluster of worker processes, or an existing scheduler's address."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..core.errors import InputError
from ..core.reporter import Reporter
from .distributed_requests import LOCAL

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

CONNECT_TIMEOUT_S = 5
WORKERS_TIMEOUT_S = 60  # a LocalCluster's workers start in seconds; a remote one must already have them


def local_workers(cluster: str) -> int | None:
    """Workers of a 'local' / 'local:N' cluster (None: not local).

    Args:
        cluster: the request's cluster field.

    Returns:
        N (the CPU count for bare 'local'), or None for a scheduler address.

    Raises:
        InputError: 'local:' followed by anything but a positive whole number.
    """
    text = cluster.strip()
    if text == LOCAL:
        import os
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if not text.startswith(LOCAL + ":"):
        return None
    n = text[len(LOCAL) + 1:]
    if not n.isdigit() or int(n) < 1:
        raise InputError(f"cluster {cluster!r}: 'local:N' takes a number of worker processes >= 1")
    return int(n)


def _start_local(n: int) -> LocalCluster:
    from distributed import LocalCluster
    # one thread per worker process: torch and GDAL scale by processes, without sharing the GIL;
    # the HTTP server (metrics, dashboard) on any free port: two runs at once must not collide
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                        silence_logs=logging.ERROR)


def _connect(address: str) -> Client:
    from distributed import Client
    if "://" not in address:
        raise InputError(f"cluster {address!r} is neither 'local', 'local:N' nor a scheduler address "
                         f"such as tcp://host:8786")
    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s ({exc}); "
                         f"is it running (dask scheduler) and the address right?") from None


@contextmanager
def cluster_client(cluster: str, threads: int, gdal_cachemax: int, reporter: Reporter) -> Iterator[Client]:
    """A Dask client whose workers have MMLGNet's settings; a LocalCluster is closed afterwards.

    Args:
        cluster: 'local', 'local:N' or a scheduler address.
        threads: torch threads per worker.
        gdal_cachemax: GDAL cache per worker, MB.
        reporter: logs the cluster.

    Yields:
        The client.

    Raises:
        InputError: an unreachable scheduler, or one without workers.
    """
    from .dask_tasks import WorkerSetup
    n = local_workers(cluster)
    local = _start_local(n) if n else None
    client = None
    try:
        from distributed import Client
        client = Client(local, set_as_default=False) if local else _connect(cluster)
        client.register_plugin(WorkerSetup(threads, gdal_cachemax), name=WorkerSetup.name)
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S if local else CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise InputError(f"the Dask scheduler at {cluster} has no workers; start some "
                             f"(dask worker {client.scheduler.address})") from None
        workers = client.scheduler_info().get("workers", {})
        reporter.log(f"Dask cluster {'LocalCluster' if local else cluster}: {len(workers)} worker(s), "
                     f"{threads} torch thread(s) and {gdal_cachemax} MB GDAL cache each")
        yield client
    finally:
        if client is not None:
            client.close()
        if local is not None:
            local.close()
