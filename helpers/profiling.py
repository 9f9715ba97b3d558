"""What a computation costs: its longest chain of operations, its time, its peak memory.

Episode 01 measures these to compare an RNN with attention: ``critical_path`` walks an
autograd graph for the longest chain of operations that must run one after another
(section 3, "What 'parallel' means, concretely"); ``best_time`` and
``interleaved_best_times`` time a call on a busy machine (sections 4 and 7); and
``peak_bytes`` reads ``torch.profiler``'s allocation events for the most CPU memory a
call held at once (section 7, "The price of attention"). ``stderr_silenced`` keeps the
profiler's log lines out of a notebook's output.
"""

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile


def critical_path(y: torch.Tensor) -> int:
    """The longest chain of operations in y's autograd graph: how many must run in order.

    Every node of the graph that autograd recorded for ``y`` (one per operation that
    needs a gradient) waits for the nodes it takes its inputs from; the result is the
    number of nodes on the longest such chain, ending at ``y``.
    """
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"critical_path needs a tensor, got {type(y).__name__}")
    if y.grad_fn is None:
        raise ValueError(
            "critical_path needs a tensor computed from inputs that require a gradient "
            "(y.grad_fn is None: autograd recorded no graph for it)"
        )
    depth: dict[Any, int] = {}  # graph node -> length of the longest chain that ends there
    stack = [y.grad_fn]
    while stack:  # depth first, without recursion: a chain can be thousands of nodes long
        node = stack[-1]
        if node in depth:
            stack.pop()
            continue
        inputs = [n for n, _ in node.next_functions if n is not None]
        waiting = [n for n in inputs if n not in depth]
        if waiting:
            stack.extend(waiting)
        else:
            stack.pop()
            depth[node] = 1 + max((depth[n] for n in inputs), default=0)
    return depth[y.grad_fn]


def best_time(fn: Callable[..., Any], *args: Any, reps: int = 5, **kwargs: Any) -> float:
    """The fastest of ``reps`` runs of fn(*args, **kwargs) after one warm-up, in seconds.

    The fastest run is the one least disturbed by whatever else the machine was doing.
    """
    if not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    fn(*args, **kwargs)  # warm-up: first-call costs (allocations, caches) are not the point
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved_best_times(
    fns: Mapping[str, Callable[[], Any]], reps: int = 10
) -> dict[str, float]:
    """The fastest of ``reps`` runs of each function, in seconds, the functions taking turns.

    Each round runs every function once, in the order given, so a burst of load from
    elsewhere slows all of them alike instead of one; the minimum over the rounds keeps
    each function's least disturbed run. One warm-up round comes first.
    """
    if not fns:
        raise ValueError("interleaved_best_times needs at least one function")
    if not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    for fn in fns.values():
        fn()  # warm-up round
    best = {name: float("inf") for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Send what is written to file descriptor 2 (stderr) to /dev/null inside the block.

    ``torch.profiler`` prints two log lines per run from C++, straight to the process's
    stderr, past ``sys.stderr``; a notebook shows them under the cell.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def peak_bytes(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """The most CPU memory, in bytes, that fn(*args, **kwargs) held at once.

    From ``torch.profiler``'s allocation events (``profile_memory=True``): every
    allocation and free PyTorch makes on the CPU, a kernel's internal scratch buffers
    included. An allocation counts from the start of the operation that made it, a free
    from its end, so the peak is never underestimated. Memory the call's result still
    holds counts; memory allocated before the call does not.
    """
    with stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn(*args, **kwargs)
    changes = []  # (time, bytes)
    for event in prof.events():
        size = event.self_cpu_memory_usage
        if size > 0:
            changes.append((event.time_range.start, size))
        elif size < 0:
            changes.append((event.time_range.end, size))
    live = peak = 0
    for _, size in sorted(changes, key=lambda c: (c[0], c[1] < 0)):  # at a tie, allocate first
        live += size
        peak = max(peak, live)
    return peak
