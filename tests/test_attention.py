"""helpers.attention: scaled dot-product attention and its masks."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.attention import (
    attention_scores,
    causal_mask,
    online_attention,
    padding_mask,
    scaled_dot_product_attention,
    sliding_window_mask,
)


def qkv(B=2, T=5, d=4, dv=3):
    return torch.randn(B, T, d), torch.randn(B, T, d), torch.randn(B, T, dv)


def test_matches_torch_sdpa_without_mask():
    q, k, v = qkv()
    out, _ = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6)


def test_matches_torch_sdpa_with_causal_mask():
    q, k, v = qkv()
    out, _ = scaled_dot_product_attention(q, k, v, causal_mask(5))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(out, ref, atol=1e-6)


def test_matches_torch_sdpa_with_padding_mask():
    q, k, v = qkv()
    mask = padding_mask([5, 3], 5)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-6)


def test_rows_sum_to_one_and_masked_positions_get_zero():
    q, k, v = qkv()
    mask = causal_mask(5) & padding_mask([5, 2], 5)  # (B, 5, 5)
    _, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(w.sum(-1), torch.ones(2, 5))
    assert (w[~mask.expand_as(w)] == 0).all()


def test_scores_are_divided_by_sqrt_of_key_width_not_model_width():
    q, k = torch.randn(3, 16), torch.randn(3, 16)
    assert torch.allclose(attention_scores(q, k), (q @ k.T) / math.sqrt(16))
    assert torch.allclose(attention_scores(q, k, scale=False), q @ k.T)


def test_causal_mask_is_lower_triangular_and_aligns_bottom_right_for_a_cache():
    assert causal_mask(3).tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    # 2 new queries after 3 cached positions: they are positions 3 and 4
    assert causal_mask(2, 5).tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]


def test_padding_mask_shape_and_values():
    m = padding_mask([2, 4], 4)
    assert m.shape == (2, 1, 4)
    assert m[:, 0].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((2, 5, 4), (2, 5, 3), (2, 5, 3)), "same width d_k"),
        (((2, 5, 4), (2, 5, 4), (2, 6, 3)), "same length T_k"),
    ],
)
def test_wrong_shapes_are_named(shapes, message):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(ValueError, match=message):
        scaled_dot_product_attention(q, k, v)


def test_bad_masks_are_rejected():
    q, k, v = qkv()
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, torch.zeros(5, 5))
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, v, causal_mask(4))
    with pytest.raises(ValueError, match="1..4"):
        padding_mask([0, 4], 4)


def test_sliding_window_mask_is_a_causal_band_of_window_keys():
    m = sliding_window_mask(5, 2)
    assert m.tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 1, 1],
    ]
    assert torch.equal(sliding_window_mask(6, 6), causal_mask(6))  # a window as wide as T
    assert torch.equal(sliding_window_mask(6, 9), causal_mask(6))
    for T, w in ((1, 1), (7, 3), (40, 16)):
        allowed = sliding_window_mask(T, w).sum().item()
        expected = T * w - w * (w - 1) // 2 if T >= w else T * (T + 1) // 2
        assert allowed == expected  # the count the docstring gives
    with pytest.raises(ValueError, match="window"):
        sliding_window_mask(5, 0)


@pytest.mark.parametrize("block_size", [1, 2, 3, 5, 9])
def test_online_attention_equals_attention_over_all_keys_at_once(block_size):
    q, k, v = torch.randn(6), torch.randn(9, 6), torch.randn(9, 4)
    whole, _ = scaled_dot_product_attention(q[None], k, v)  # (1, d_v)
    assert torch.allclose(online_attention(q, k, v, block_size), whole[0], atol=1e-6)


def test_online_attention_stays_finite_where_exp_of_the_scores_overflows():
    q, k, v = torch.ones(4), torch.randn(8, 4), torch.randn(8, 2)
    k[-1] = 100.0  # scaled score 200: exp(200) is inf in float32
    assert torch.isinf(torch.exp(k @ q / 2)).any()
    assert torch.allclose(online_attention(q, k, v, 4), v[-1], atol=1e-5)


@pytest.mark.parametrize(
    ("q", "k", "v", "block_size", "message"),
    [
        (torch.randn(1, 4), torch.randn(8, 4), torch.randn(8, 2), 4, r"q \(d_k,\)"),
        (torch.randn(4), torch.randn(8, 3), torch.randn(8, 2), 4, r"k \(8, 3\)"),
        (torch.randn(4), torch.randn(8, 4), torch.randn(8, 2), 0, "block_size must be"),
    ],
)
def test_online_attention_rejects_bad_input(q, k, v, block_size, message):
    with pytest.raises(ValueError, match=message):
        online_attention(q, k, v, block_size)
