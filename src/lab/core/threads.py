"""One thread guard for every study: BLAS/OpenMP pools and torch's intra-op pool limited together."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits


@contextmanager
def limit_threads(n_threads: int = 1) -> Iterator[None]:
    """Run the block with at most ``n_threads`` threads in NumPy's BLAS, OpenMP and torch.

    Small fits are fastest on one thread, and a limit keeps parallel runs from oversubscribing a
    shared machine. The previous torch setting is restored on the way out.
    """
    if not isinstance(n_threads, int) or isinstance(n_threads, bool) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        torch.set_num_threads(previous)
