"""helpers.gpt: the config, the model, the loss, generation and its KV cache."""

import dataclasses
import math

import pytest
import torch

from helpers.attention import scaled_dot_product_attention
from helpers.gpt import GPT, GPTConfig, next_token_probs


def tiny(**kw):
    cfg = dict(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=32)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).eval()


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(n_embd=30, n_head=4), "divisible"),
        (dict(n_layer=0), "n_layer must be a positive int"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(vocab_size=-3), "vocab_size"),
        (dict(position="rope"), "position"),
        (dict(attention="flash"), "attention must be 'fused' or 'written'"),
    ],
)
def test_config_validation(kw, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**kw)


def test_config_round_trip():
    cfg = GPTConfig(n_layer=3, attention="written")
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        GPTConfig.from_dict({**cfg.to_dict(), "n_layers": 3})
    older = {k: v for k, v in cfg.to_dict().items() if k != "attention"}
    assert GPTConfig.from_dict(older).attention == "fused", "a missing field takes its default"


def test_the_attention_path_is_chosen_by_the_config():
    fused, written = tiny(), tiny(attention="written")
    assert all(b.attn.fused for b in fused.blocks)
    assert not any(b.attn.fused for b in written.blocks)
    written.load_state_dict(fused.state_dict())
    x = torch.randint(0, 30, (2, 10))
    assert torch.allclose(fused(x)[0], written(x)[0], atol=1e-5)


def test_a_given_attention_function_runs_in_every_layer():
    calls = []

    def counting(q, k, v, mask):
        calls.append(tuple(q.shape))
        return scaled_dot_product_attention(q, k, v, mask)

    config = GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=32)
    with pytest.raises(ValueError, match="attention='written'"):
        GPT(config, attention_fn=counting)
    written = dataclasses.replace(config, attention="written")
    GPT(written, attention_fn=counting)(torch.zeros(1, 5, dtype=torch.long))
    assert calls == [(1, 2, 5, 16)] * 2, "once per layer, with (B, n_head, T, head_size) queries"


def test_loss_at_init_is_about_ln_vocab():
    model = tiny(vocab_size=65)
    x, y = torch.randint(0, 65, (8, 16)), torch.randint(0, 65, (8, 16))
    _, loss = model(x, y)
    assert abs(loss.item() - math.log(65)) < 0.1


def test_head_is_tied_and_params_counted_once():
    model = tiny()
    assert model.lm_head.weight is model.tok_emb.weight
    assert model.num_params() == sum(p.numel() for p in model.parameters())
    assert model.num_params(non_embedding=True) == model.num_params() - 30 * 32 - 16 * 32


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "none"])
def test_causal_prefix_invariance(position):
    model = tiny(position=position)
    x = torch.randint(0, 30, (1, 10))
    y = x.clone()
    y[0, 6:] = (y[0, 6:] + 1) % 30
    assert torch.allclose(model(x)[0][:, :6], model(y)[0][:, :6], atol=1e-6)


def test_greedy_generation_is_identical_with_and_without_cache():
    model = tiny()
    prompt = torch.randint(0, 30, (2, 3))
    # 40 new tokens run past block_size 16, so the cropping path is covered too
    with_cache = model.generate(prompt, 40, temperature=0, use_cache=True)
    without = model.generate(prompt, 40, temperature=0, use_cache=False)
    assert torch.equal(with_cache, without)
    assert with_cache.shape == (2, 43)


def test_sampling_with_the_same_generator_repeats():
    model = tiny()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    a = model.generate(prompt, 20, top_k=5, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 20, top_k=5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_top_k_keeps_only_k_tokens():
    probs = next_token_probs(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), temperature=1.0, top_k=2)
    assert (probs > 0).sum() == 2
    assert probs[0, 1] > probs[0, 2] > 0


def test_attention_maps_shape_and_rows():
    model = tiny()
    maps = model.attention_maps(torch.randint(0, 30, (1, 7)))
    assert maps.shape == (1, 2, 2, 7, 7)
    assert torch.allclose(maps.sum(-1), torch.ones(1, 2, 2, 7))
    assert maps[0, :, :, 0, 1:].abs().max() == 0  # causal: the first token sees only itself


def test_too_long_input_is_an_error():
    with pytest.raises(ValueError, match="longer than block_size 16"):
        tiny()(torch.zeros(1, 17, dtype=torch.long))


def test_tiny_gpt_overfits_a_short_string():
    torch.manual_seed(0)
    text = "the straw hat pirates set sail. "
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text])
    model = GPT(GPTConfig(vocab_size=len(chars), block_size=31, n_layer=2, n_head=2, n_embd=32))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = ids[:-1][None], ids[1:][None]
    for _ in range(150):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, f"loss {loss.item():.3f} after 150 steps on one string"
