"""helpers.blocks: feed-forward, the pre-LN block, the decoder block, the encoder-decoder."""

import pytest
import torch

from helpers.blocks import DecoderBlock, EncoderDecoder, FeedForward, TransformerBlock


def test_feed_forward_sees_one_position_at_a_time():
    ffn = FeedForward(8)
    x = torch.randn(1, 5, 8)
    y = x.clone()
    y[0, 1:] = torch.randn(4, 8)  # change every token but the first
    assert torch.allclose(ffn(x)[0, 0], ffn(y)[0, 0])


def test_block_by_hand_equals_block():
    block = TransformerBlock(8, 2).eval()
    x = torch.randn(2, 4, 8)
    a, _ = block.attn(block.ln1(x))
    h = x + a
    expected = h + block.ffn(block.ln2(h))
    assert torch.allclose(block(x)[0], expected, atol=1e-6)


def test_causal_block_prefix_invariance():
    block = TransformerBlock(8, 2, causal=True).eval()
    x = torch.randn(1, 6, 8)
    y = x.clone()
    y[0, 4:] = torch.randn(2, 8)
    assert torch.allclose(block(x)[0][:, :4], block(y)[0][:, :4], atol=1e-6)


def test_post_ln_block_is_layer_norm_after_each_residual_add():
    block = TransformerBlock(8, 2, post_ln=True).eval()
    with torch.no_grad():  # LayerNorms that are not the identity at init, as after training
        for norm in (block.ln1, block.ln2):
            norm.weight.copy_(torch.randn(8))
            norm.bias.copy_(torch.randn(8))
    x = torch.randn(2, 4, 8) * 3
    h = block.ln1(x + block.attn(x)[0])
    expected = block.ln2(h + block.ffn(h))
    out, weights = block(x, need_weights=True)
    assert torch.allclose(out, expected, atol=1e-6)
    assert weights.shape == (2, 2, 4, 4)
    pre = TransformerBlock(8, 2).eval()
    pre.load_state_dict(block.state_dict())  # the same weights, the other order
    assert not torch.allclose(pre(x)[0], out, atol=1e-3)


def test_post_ln_causal_block_keeps_its_prefix_and_needs_norm():
    block = TransformerBlock(8, 2, causal=True, post_ln=True).eval()
    x = torch.randn(1, 6, 8)
    y = x.clone()
    y[0, 4:] = torch.randn(2, 8)
    assert torch.allclose(block(x)[0][:, :4], block(y)[0][:, :4], atol=1e-6)
    with pytest.raises(ValueError, match="needs norm=True"):
        TransformerBlock(8, 2, post_ln=True, norm=False)


def test_switches_remove_residual_and_norm():
    block = TransformerBlock(8, 2, residual=False, norm=False).eval()
    x = torch.randn(1, 3, 8)
    a, _ = block.attn(x)
    assert torch.allclose(block(x)[0], block.ffn(a), atol=1e-6)


def test_decoder_block_cross_attention_shape():
    block = DecoderBlock(8, 2)
    out, cross = block(torch.randn(2, 3, 8), torch.randn(2, 7, 8), need_weights=True)
    assert out.shape == (2, 3, 8)
    assert cross.shape == (2, 2, 3, 7)
    assert torch.allclose(cross.sum(-1), torch.ones(2, 2, 3))


def test_encoder_decoder_learns_to_copy():
    torch.manual_seed(0)
    model = EncoderDecoder(src_vocab=6, tgt_vocab=7, d_model=32, n_head=2, max_len=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    bos = 6
    for _ in range(300):
        src = torch.randint(0, 6, (32, 5))
        tgt_in = torch.cat([torch.full((32, 1), bos), src[:, :-1]], dim=1)
        _, loss = model(src, tgt_in, src)
        opt.zero_grad()
        loss.backward()
        opt.step()
    src = torch.randint(0, 6, (16, 5))
    accuracy = (model.greedy_decode(src, bos, 5) == src).float().mean().item()
    assert accuracy > 0.9, f"copy accuracy {accuracy:.2f}"
