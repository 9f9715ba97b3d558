"""Where tensors live: CUDA when there is a GPU, then Apple's MPS, else the CPU."""

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def choose_device(override: str | None = None) -> torch.device:
    """Return ``override`` as a device, or the best available one (cuda > mps > cpu)."""
    if override is None or override == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if override not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {override!r}")
    if override == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    if override == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for, but torch sees no Apple MPS device")
    return torch.device(override)
