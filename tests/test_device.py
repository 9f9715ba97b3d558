"""helpers.device: choose_device picks cuda > mps > cpu, or what it is told."""

import pytest
import torch

from helpers import choose_device


def test_device_choice():
    assert choose_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        expected = "cuda"
    elif torch.backends.mps.is_available():
        expected = "mps"
    else:
        expected = "cpu"
    assert choose_device("auto").type == expected, "auto takes CUDA, then MPS, then the CPU"
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
