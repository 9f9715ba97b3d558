"""helpers.multihead: multi-head attention equals torch's, heads by reshape, the KV cache."""

import pytest
import torch
from torch import nn

from helpers.attention import causal_mask, padding_mask, scaled_dot_product_attention
from helpers.multihead import KVCache, MultiHeadAttention


def pair(d=8, h=2, **kw):
    mine = MultiHeadAttention(d, h, **kw)
    ref = nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(mine.qkv.weight)
        ref.in_proj_bias.copy_(mine.qkv.bias)
        ref.out_proj.weight.copy_(mine.out.weight)
        ref.out_proj.bias.copy_(mine.out.bias)
    return mine.eval(), ref.eval()


@pytest.mark.parametrize("fused", [True, False])
def test_self_attention_equals_torch_multihead(fused):
    mine, ref = pair(fused=fused)
    x = torch.randn(2, 5, 8)
    out, _ = mine(x)
    expected, _ = ref(x, x, x)
    assert torch.allclose(out, expected, atol=1e-6)


def test_causal_weights_equal_torch_per_head():
    mine, ref = pair()
    x = torch.randn(2, 5, 8)
    out, w = mine(x, causal=True, need_weights=True)
    expected, w_ref = ref(x, x, x, attn_mask=~causal_mask(5), average_attn_weights=False)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(w, w_ref, atol=1e-6)
    assert w.shape == (2, 2, 5, 5)


def test_padding_mask_equals_torch_key_padding_mask():
    mine, ref = pair()
    x = torch.randn(2, 5, 8)
    mask = padding_mask([5, 3], 5)  # (B, 1, T)
    out, _ = mine(x, mask=mask)
    expected, _ = ref(x, x, x, key_padding_mask=~mask[:, 0])
    assert torch.allclose(out[0], expected[0], atol=1e-6)
    assert torch.allclose(out[1], expected[1], atol=1e-6)


def test_cross_attention_takes_keys_and_values_from_memory():
    mine, ref = pair()
    x, memory = torch.randn(2, 3, 8), torch.randn(2, 7, 8)
    out, w = mine(x, memory=memory, need_weights=True)
    expected, _ = ref(x, memory, memory)
    assert torch.allclose(out, expected, atol=1e-6)
    assert w.shape == (2, 2, 3, 7)


def test_heads_by_reshape_equal_separate_heads_concatenated():
    mine, _ = pair(d=8, h=2)
    x = torch.randn(1, 4, 8)
    W = mine.qkv.weight.T  # (C, 3C): row-vector form, x @ W
    b = mine.qkv.bias
    heads = []
    for h in range(2):
        cols = slice(4 * h, 4 * h + 4)
        q = x @ W[:, 0:8][:, cols] + b[0:8][cols]
        k = x @ W[:, 8:16][:, cols] + b[8:16][cols]
        v = x @ W[:, 16:24][:, cols] + b[16:24][cols]
        w = torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1)
        heads.append(w @ v)
    by_hand = mine.out(torch.cat(heads, dim=-1))
    assert torch.allclose(mine(x)[0], by_hand, atol=1e-6)


def test_kv_cache_gives_the_same_outputs_one_token_at_a_time():
    mine, _ = pair()
    x = torch.randn(1, 6, 8)
    full, _ = mine(x, causal=True)
    cache = KVCache()
    prefix, _ = mine(x[:, :4], causal=True, cache=cache)
    steps = [mine(x[:, t : t + 1], causal=True, cache=cache)[0] for t in (4, 5)]
    assert len(cache) == 6
    assert torch.allclose(torch.cat([prefix, *steps], dim=1), full, atol=1e-6)


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        MultiHeadAttention(8, 2)(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="memory"):
        MultiHeadAttention(8, 2)(torch.randn(2, 5, 8), memory=torch.randn(3, 5, 8))


def test_the_written_out_path_calls_the_attention_function_it_was_given():
    calls = []

    def doubled_values(q, k, v, mask):
        calls.append(mask is not None)
        return scaled_dot_product_attention(q, k, 2 * v, mask)

    torch.manual_seed(0)
    plain = MultiHeadAttention(8, 2, fused=False, bias=False)
    torch.manual_seed(0)
    mine = MultiHeadAttention(8, 2, fused=False, bias=False, attention_fn=doubled_values)
    x = torch.randn(2, 5, 8)
    out, _ = mine(x, causal=True)
    assert calls == [True], "called once, with the causal mask"
    assert torch.allclose(out, 2 * plain(x, causal=True)[0], atol=1e-6)  # W_O is linear


def test_fused_and_written_out_paths_give_the_same_output():
    fused, _ = pair(fused=True)
    written = MultiHeadAttention(8, 2, fused=False).eval()
    written.load_state_dict(fused.state_dict())
    x = torch.randn(2, 5, 8)
    assert torch.allclose(fused(x, causal=True)[0], written(x, causal=True)[0], atol=1e-6)


def test_an_attention_function_needs_the_written_out_path():
    with pytest.raises(ValueError, match="pass fused=False"):
        MultiHeadAttention(8, 2, attention_fn=scaled_dot_product_attention)
