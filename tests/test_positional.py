"""helpers.positional: sinusoidal and learned positional encodings."""

import math

import pytest
import torch

from helpers.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    positional_module,
    sinusoid,
    sinusoid_wavelength,
    sinusoidal_encoding,
)


def test_shape_and_bounds():
    pe = sinusoidal_encoding(50, 16)
    assert pe.shape == (50, 16)
    assert pe.abs().max() <= 1.0


def test_known_values():
    pe = sinusoidal_encoding(3, 4)
    # position 0: sin(0)=0, cos(0)=1 in every pair
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    # position 1, pair 0 has angle 1; pair 1 has angle 1/10000^(2/4) = 0.01
    expected = [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]
    assert torch.allclose(pe[1], torch.tensor(expected), atol=1e-6)


def test_odd_width_and_offset():
    assert sinusoidal_encoding(4, 5).shape == (4, 5)
    assert torch.allclose(sinusoidal_encoding(2, 6, offset=3), sinusoidal_encoding(5, 6)[3:])


def test_module_equals_function_exactly():
    module = SinusoidalPositionalEncoding(8)
    assert torch.equal(module(torch.arange(10)), sinusoidal_encoding(10, 8))
    assert torch.equal(module(torch.tensor([7, 2])), sinusoidal_encoding(10, 8)[[7, 2]])


@pytest.mark.parametrize("dim", [0, 1, 4, 5])
def test_a_dimension_repeats_after_its_wavelength(dim):
    d_model = 8
    wavelength = sinusoid_wavelength(dim, d_model)
    assert wavelength == pytest.approx(2 * math.pi * 10000 ** ((dim - dim % 2) / d_model))
    positions = torch.tensor([3.0, 3.0 + wavelength], dtype=torch.float64)
    pe = sinusoid(positions, d_model)  # (2, d_model)
    assert pe[0, dim].item() == pytest.approx(pe[1, dim].item(), abs=1e-9)
    assert pe[0, dim].item() != pytest.approx(0.0, abs=1e-3), "not a trivial zero crossing"


def test_learned_embedding_refuses_positions_it_never_learned():
    emb = LearnedPositionalEmbedding(4, 8)
    assert emb(torch.arange(4)).shape == (4, 8)
    with pytest.raises(ValueError, match="position 5 is beyond the 4 positions"):
        emb(torch.arange(6))


def test_kind_names():
    assert positional_module("none", 8, 4) is None
    with pytest.raises(ValueError, match="'rotary'"):
        positional_module("rotary", 8, 4)
