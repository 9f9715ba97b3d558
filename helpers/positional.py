"""Positional encodings: sinusoidal (fixed, from a formula) and learned (episode 04).

Episode 04 builds them: the sinusoidal encoding by hand (section 2), learned position
embeddings (section 4). Both map integer positions (T,) to vectors (T, d_model) that
are added to the token embeddings, so attention can tell "dog bites man" from "man
bites dog". The formula lives in ``sinusoid`` only; everything else calls it.
"""

import math

import torch
from torch import nn

SINUSOID_BASE = 10000.0  # the base of "Attention Is All You Need"


def sinusoid(positions: torch.Tensor, d_model: int, base: float = SINUSOID_BASE) -> torch.Tensor:
    """The sinusoidal encoding of ``positions`` (T,): (T, d_model), in positions' dtype.

    PE[pos, 2i] = sin(pos / base^(2i/d_model)), PE[pos, 2i+1] = cos(same angle).
    """
    two_i = torch.arange(0, d_model, 2, device=positions.device, dtype=positions.dtype)
    angles = positions[:, None] / base ** (two_i / d_model)  # (T, ceil(d/2))
    pe = torch.zeros(len(positions), d_model, device=positions.device, dtype=positions.dtype)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe


def sinusoid_wavelength(dim: int, d_model: int, base: float = SINUSOID_BASE) -> float:
    """How many positions one period of dimension ``dim`` spans: 2 pi base^(2i/d_model)."""
    return 2 * math.pi * base ** ((dim - dim % 2) / d_model)  # the pair 2i, 2i+1 share it


def sinusoidal_encoding(
    T: int, d_model: int, base: float = SINUSOID_BASE, offset: int = 0
) -> torch.Tensor:
    """Return the (T, d_model) sinusoidal encoding of positions offset..offset+T-1.

    Computed in float64 and rounded to float32, so it prints the same on every CPU.
    """
    if T < 0 or d_model < 1 or offset < 0:
        raise ValueError(f"need T >= 0, d_model >= 1 and offset >= 0, got {T}, {d_model}, {offset}")
    positions = torch.arange(offset, offset + T, dtype=torch.float64)  # (T,)
    return sinusoid(positions, d_model, base).float()


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed encodings (``sinusoid``): nothing to learn, defined for any position."""

    def __init__(self, d_model: int, base: float = SINUSOID_BASE):
        super().__init__()
        self.d_model, self.base = d_model, base

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """Map positions (T,) to encodings (T, d_model)."""
        if positions.dim() != 1:
            raise ValueError(f"positions must be 1-D (T,), got {tuple(positions.shape)}")
        # float64 where the device has it (MPS has not): the same numbers as sinusoidal_encoding
        exact = torch.float32 if positions.device.type == "mps" else torch.float64
        return sinusoid(positions.to(exact), self.d_model, self.base).float()  # (T, d_model)


class LearnedPositionalEmbedding(nn.Module):
    """One trained vector per position, for positions 0..max_len-1 only."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        if max_len < 1 or d_model < 1:
            raise ValueError(f"max_len and d_model must be positive, got {max_len}, {d_model}")
        self.max_len = max_len
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """Map positions (T,) to their learned vectors (T, d_model)."""
        if positions.dim() != 1:
            raise ValueError(f"positions must be 1-D (T,), got {tuple(positions.shape)}")
        # the check reads a value back from the tensor: skip it inside torch.compile's graph
        checkable = not torch.compiler.is_compiling()
        if checkable and len(positions) and int(positions.max()) >= self.max_len:
            raise ValueError(
                f"position {int(positions.max())} is beyond the {self.max_len} positions "
                f"this embedding learned (max_len={self.max_len})"
            )
        return self.table(positions)


def positional_module(kind: str, d_model: int, max_len: int) -> nn.Module | None:
    """Return the encoding for ``kind`` ('learned', 'sinusoidal') or None for 'none'."""
    if kind == "learned":
        return LearnedPositionalEmbedding(max_len, d_model)
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(d_model)
    if kind == "none":
        return None
    raise ValueError(f"position kind must be 'learned', 'sinusoidal' or 'none', got {kind!r}")
