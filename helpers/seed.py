"""Reproducibility: one call seeds every random number generator (all episodes).

Every notebook draws its randomness through ``set_seed`` and ``seeded_generator``. Both add
the integer in the environment variable ``HELPERS_SEED_OFFSET`` (default 0) to the seed
they are given, so ``make test-seeds`` can re-run every notebook with other random starts
and check that what the episodes claim does not hang on one lucky seed.
"""

import os
import random

import numpy as np
import torch

SEED_OFFSET_VARIABLE = "HELPERS_SEED_OFFSET"


def seed_offset() -> int:
    """The integer in HELPERS_SEED_OFFSET (0 when unset), added to every seed."""
    text = os.environ.get(SEED_OFFSET_VARIABLE, "").strip()
    if not text:
        return 0
    try:
        offset = int(text)
    except ValueError:
        raise ValueError(
            f"{SEED_OFFSET_VARIABLE} must be a whole number such as 1, got {text!r}"
        ) from None
    if offset < 0:
        raise ValueError(f"{SEED_OFFSET_VARIABLE} must not be negative, got {offset}")
    return offset


def _check_seed(seed: int) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return seed + seed_offset()


def set_seed(seed: int) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU); returns the seed used.

    The seed used is ``seed`` plus HELPERS_SEED_OFFSET.
    """
    used = _check_seed(seed)
    random.seed(used)
    np.random.seed(used)
    torch.manual_seed(used)  # also seeds every CUDA device
    return used


def seeded_generator(seed: int) -> torch.Generator:
    """A fresh CPU ``torch.Generator`` seeded with ``seed`` plus HELPERS_SEED_OFFSET.

    For a stream of random draws of its own (batches, sampling) that must not disturb,
    or be disturbed by, the global generator that ``set_seed`` seeds.
    """
    return torch.Generator().manual_seed(_check_seed(seed))
