"""helpers.seed and helpers.device."""

import random

import numpy as np
import pytest
import torch

from helpers import choose_device, set_seed


def test_set_seed_repeats_every_generator():
    set_seed(3)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        set_seed(-1)


def test_device_choice():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type in ("cpu", "cuda", "mps")
    for bad in ("tpu", "auto:0", "cuda:x", "cpu:"):
        with pytest.raises(ValueError, match="one of"):
            choose_device(bad)
    assert choose_device("cpu:0") == torch.device("cpu:0")
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:1"):
            with pytest.raises(ValueError, match="no CUDA"):
                choose_device(name)
    else:
        assert choose_device(f"cuda:{torch.cuda.device_count() - 1}").type == "cuda"
        with pytest.raises(ValueError, match="CUDA GPU"):
            choose_device(f"cuda:{torch.cuda.device_count()}")
