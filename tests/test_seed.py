"""helpers.seed: set_seed, seeded_generator and the HELPERS_SEED_OFFSET shift."""

import random

import numpy as np
import pytest
import torch

from helpers import set_seed
from helpers.seed import seed_offset, seeded_generator


def test_set_seed_repeats_every_generator(monkeypatch):
    monkeypatch.delenv("HELPERS_SEED_OFFSET", raising=False)
    set_seed(3)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    set_seed(4)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) != a


def test_offset_shifts_every_seed(monkeypatch):
    monkeypatch.delenv("HELPERS_SEED_OFFSET", raising=False)
    assert set_seed(5) == 5
    shifted = torch.rand(3)
    gen_shifted = torch.rand(3, generator=seeded_generator(5))
    monkeypatch.setenv("HELPERS_SEED_OFFSET", "2")
    assert seed_offset() == 2
    assert set_seed(3) == 5
    assert torch.equal(torch.rand(3), shifted), "set_seed(3) with offset 2 is set_seed(5)"
    assert torch.equal(torch.rand(3, generator=seeded_generator(3)), gen_shifted)
    monkeypatch.setenv("HELPERS_SEED_OFFSET", "0")
    assert not torch.equal(torch.rand(3, generator=seeded_generator(3)), gen_shifted)


@pytest.mark.parametrize("text", ["one", "1.5", "-1"])
def test_bad_offset_names_the_variable(monkeypatch, text):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", text)
    with pytest.raises(ValueError, match="HELPERS_SEED_OFFSET"):
        set_seed(0)


@pytest.mark.parametrize("bad", [-1, 1.0, True, "3"])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        set_seed(bad)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        seeded_generator(bad)
