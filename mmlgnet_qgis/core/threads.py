"""torch's CPU thread count, scoped to one run."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use n CPU threads for torch inside the block, then restore.

    On a busy machine fewer threads than cores can be many times faster: OpenMP workers spin
    at barriers while other processes hold the cores.

    Args:
        n: threads; 0 or None leaves torch's setting as it is.
    """
    import torch
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
