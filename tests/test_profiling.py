"""helpers.profiling: the longest chain of operations, best-of timings, peak memory."""

import os
import subprocess
import sys

import pytest
import torch

from helpers.profiling import (
    best_time,
    critical_path,
    interleaved_best_times,
    peak_bytes,
    stderr_silenced,
)


def test_critical_path_of_a_chain_counts_every_operation():
    x = torch.ones(3, requires_grad=True)
    y = x
    for _ in range(5):
        y = y * 2  # five operations, each waiting for the one before
    # the five multiplications and the leaf's AccumulateGrad node
    assert critical_path(y) == 6


def test_critical_path_takes_the_longest_of_parallel_branches():
    x = torch.ones(3, requires_grad=True)
    short = x * 2  # one operation
    long = ((x + 1) * 3).exp()  # three operations in a row
    assert critical_path(short + long) == critical_path(long) + 1
    assert critical_path(long) == 4  # three operations and the leaf


def test_critical_path_of_a_loop_grows_by_the_same_amount_per_step():
    W = torch.randn(4, 4, requires_grad=True)
    x = torch.randn(16, 4)  # (T, C)

    def run(T):
        h = torch.zeros(4)
        for t in range(T):
            h = torch.tanh(x[t] @ W + h)  # step t waits for step t - 1
        return critical_path(h)

    lengths = [run(T) for T in (2, 4, 8, 16)]
    steps = [b - a for a, b in zip(lengths, lengths[1:], strict=False)]
    per_step = steps[0] / 2
    assert per_step == int(per_step) > 0
    assert steps == [per_step * 2, per_step * 4, per_step * 8]


def test_critical_path_of_a_batched_product_does_not_grow_with_the_batch():
    W = torch.randn(4, 4, requires_grad=True)
    short = critical_path(torch.tanh(torch.randn(2, 4) @ W))
    assert short == critical_path(torch.tanh(torch.randn(512, 4) @ W))


def test_critical_path_of_a_graph_that_reuses_nodes_counts_each_chain_once():
    x = torch.ones(2, requires_grad=True)
    y = x * 1
    for _ in range(30):  # a ladder of diamonds: 2^30 paths, 61 nodes on the longest
        y = (y * 2) + (y * 3)
    assert critical_path(y) == 2 + 2 * 30


def test_critical_path_rejects_what_has_no_graph():
    with pytest.raises(ValueError, match="grad_fn is None"):
        critical_path(torch.ones(3))
    with pytest.raises(TypeError, match="tensor"):
        critical_path([1.0])


def test_best_time_warms_up_once_then_keeps_the_fastest_run():
    calls = []
    seconds = best_time(lambda a, b=0: calls.append((a, b)), 1, reps=4, b=2)
    assert calls == [(1, 2)] * 5  # one warm-up and four timed runs
    assert 0 <= seconds < 0.1
    with pytest.raises(ValueError, match="reps"):
        best_time(lambda: None, reps=0)


def test_interleaved_best_times_take_turns_and_keep_each_minimum():
    order = []
    times = interleaved_best_times(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, reps=3
    )
    assert order == ["a", "b"] * 4  # a warm-up round, then three rounds taking turns
    assert set(times) == {"a", "b"} and all(0 <= t < 0.1 for t in times.values())


def test_interleaved_best_times_sees_which_function_is_slower():
    x = torch.randn(256, 256)
    times = interleaved_best_times(
        {"one product": lambda: x @ x, "twenty": lambda: [x @ x for _ in range(20)]}, reps=3
    )
    assert times["twenty"] > 5 * times["one product"]


def test_interleaved_best_times_rejects_nothing_to_time_and_bad_reps():
    with pytest.raises(ValueError, match="at least one"):
        interleaved_best_times({})
    with pytest.raises(ValueError, match="reps"):
        interleaved_best_times({"a": lambda: None}, reps=0)


def test_peak_bytes_counts_a_tensor_held_until_the_end():
    n = 1 << 20  # one million float32 numbers: 4 MiB

    def two_at_once():
        a = torch.ones(n)
        b = torch.ones(n)
        return a + b  # a, b and the result alive together

    peak = peak_bytes(two_at_once)
    assert 3 * 4 * n <= peak < 4 * 4 * n


def test_peak_bytes_of_a_computation_that_frees_as_it_goes_is_one_buffer_at_a_time():
    n = 1 << 20

    def one_at_a_time():
        for _ in range(4):
            torch.ones(n)  # made and dropped at once

    assert 4 * n <= peak_bytes(one_at_a_time) < 2 * 4 * n


def test_peak_bytes_passes_its_arguments_on():
    x = torch.ones(1000)
    assert peak_bytes(torch.mul, x, 2.0) >= 4000
    assert peak_bytes(lambda: None) == 0


def test_stderr_silenced_drops_what_c_code_writes_to_fd_2_and_restores_it():
    code = (
        "import os, sys\n"
        "from helpers.profiling import stderr_silenced\n"
        "with stderr_silenced():\n"
        "    os.write(2, b'hidden\\n')\n"
        "os.write(2, b'shown\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert done.stderr == "shown\n"


def test_stderr_silenced_restores_stderr_after_an_error():
    before = os.fstat(2)
    with pytest.raises(RuntimeError), stderr_silenced():
        raise RuntimeError("inside")
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
