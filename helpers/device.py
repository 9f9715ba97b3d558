"""Where tensors live: CUDA when there is a GPU, then Apple's MPS, else the CPU.

Every episode's training goes through it (``TrainConfig.device``, episode 01 section 8
first); the notebooks' tiny models ask for the CPU on purpose. ``DEVICE_CHOICES`` is
the one list of device names: the ``--device`` flags of ``python -m helpers.train``
and ``python -m helpers.sample`` offer exactly these.
"""

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def choose_device(override: str | None = None) -> torch.device:
    """Return ``override`` as a device, or the best available one (cuda > mps > cpu).

    ``override`` is one of DEVICE_CHOICES, or a device with an index such as "cuda:1"
    (what each process of a multi-GPU run uses).
    """
    if override is None or override == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, colon, index = override.partition(":")
    if kind not in DEVICE_CHOICES or (colon and (kind == "auto" or not index.isdigit())):
        raise ValueError(
            f"device must be one of {DEVICE_CHOICES} (or e.g. 'cuda:1'), got {override!r}"
        )
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {override!r} was asked for, but torch sees no CUDA GPU")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device {override!r} was asked for, but torch sees "
                f"{torch.cuda.device_count()} CUDA GPU(s)"
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for, but torch sees no Apple MPS device")
    return torch.device(override)
