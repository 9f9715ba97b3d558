"""helpers.pretrained: GPT-2's state dict in the course's GPT, checked against transformers offline.

No download: every GPT-2 here is a small random ``GPT2LMHeadModel`` built from a
``GPT2Config``. Its weights are redrawn (biases and LayerNorms included, which GPT-2
initialises to 0 and 1) so that a tensor loaded into the wrong place changes the logits.
"""

import sys
import time

import pytest
import torch

from helpers import set_seed
from helpers.blocks import FeedForward
from helpers.gpt import GPT, GPTConfig
from helpers.pretrained import (
    GPT2_IGNORED,
    GPT2_NAMES,
    GPT2UnavailableError,
    gpt2_names_table,
    gpt2_small_config,
    gpt_from_gpt2_state_dict,
    load_gpt2_from_hub,
)

try:
    import transformers
except ModuleNotFoundError:  # the optional extra: pip install -e '.[pretrained]'
    transformers = None
needs_transformers = pytest.mark.skipif(
    transformers is None, reason="transformers is not installed (pip install -e '.[pretrained]')"
)

# (n_layer, n_head, n_embd, n_positions, vocab_size)
CONFIGS = [(1, 1, 8, 8, 11), (2, 4, 48, 32, 97), (3, 3, 36, 20, 64), (2, 8, 64, 64, 257)]


def random_gpt2(n_layer: int, n_head: int, n_embd: int, n_positions: int, vocab_size: int):
    """A GPT2LMHeadModel in eval mode with every weight drawn at a scale that keeps logits ~1."""
    config = transformers.GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=0,
        eos_token_id=None,
        pad_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or "ln_f.w" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.dim() == 1:  # biases and LayerNorm shifts
                p.copy_(0.1 * torch.randn_like(p))
            else:  # wte (n_embd wide), wpe, Conv1D (in, out): rows are the input side
                fan_in = p.shape[1] if name.endswith(("wte.weight", "wpe.weight")) else p.shape[0]
                p.copy_(torch.randn_like(p) / fan_in**0.5)
    return model


@needs_transformers
@pytest.mark.parametrize("shape", CONFIGS, ids=lambda s: "L{}-H{}-C{}-T{}-V{}".format(*s))
def test_logits_equal_gpt2s(shape):
    set_seed(1)
    hf = random_gpt2(*shape)
    n_layer, n_head, n_embd, n_positions, vocab = shape
    ours = gpt_from_gpt2_state_dict(hf.state_dict(), n_head)
    c = ours.config
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == shape
    assert c.gelu == "tanh" and not ours.training
    idx = torch.randint(vocab, (3, n_positions))  # the full context
    with torch.no_grad():
        expected = hf(idx).logits  # (B, T, V)
        got, _ = ours(idx)
    assert expected.std() > 0.3, "logits too flat for the comparison to mean anything"
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    # tied: one Parameter, and the parameter count is GPT-2's
    assert ours.lm_head.weight is ours.tok_emb.weight
    assert ours.num_params() == hf.num_parameters()


@needs_transformers
def test_the_comparison_can_fail():
    """Changing one bias of GPT-2 after conversion, or the GELU, moves the logits past 1e-4."""
    set_seed(2)
    hf = random_gpt2(2, 4, 48, 32, 97)
    ours = gpt_from_gpt2_state_dict(hf.state_dict(), 4)
    idx = torch.randint(97, (2, 32))
    with torch.no_grad():
        before = hf(idx).logits
        hf.transformer.h[1].mlp.c_fc.bias[5] += 0.5
        assert (hf(idx).logits - ours(idx)[0]).abs().max() > 1e-3
        exact = GPT(GPTConfig(**{**ours.config.to_dict(), "gelu": "exact"})).eval()
        exact.load_state_dict(ours.state_dict())
        # the two GELUs differ by < 1e-3 anywhere, yet the 1e-4 comparison tells them apart
        assert (exact(idx)[0] - before).abs().max() > 1e-4, "the exact GELU passed as GPT-2's"


@needs_transformers
def test_a_wrong_head_count_gives_other_logits():
    """n_head is not in any shape: a wrong (dividing) count loads, and computes something else."""
    set_seed(3)
    hf = random_gpt2(2, 4, 48, 32, 97)
    wrong = gpt_from_gpt2_state_dict(hf.state_dict(), 2)
    idx = torch.randint(97, (2, 32))
    with torch.no_grad():
        assert (wrong(idx)[0] - hf(idx).logits).abs().max() > 1e-3


@needs_transformers
@pytest.mark.parametrize("shape, prompt_len", [((2, 4, 48, 32, 97), 3), ((3, 2, 16, 24, 40), 14)])
def test_greedy_generation_matches_transformers(shape, prompt_len):
    """The course's generate (KV cache, temperature 0) picks GPT-2's greedy tokens.

    Ten new tokens; the second prompt is long enough that they fill the context to its end.
    """
    set_seed(4)
    hf = random_gpt2(*shape)
    ours = gpt_from_gpt2_state_dict(hf.state_dict(), shape[1])
    prompt = torch.randint(shape[4], (2, prompt_len))
    new = 10
    with torch.no_grad():
        expected = hf.generate(
            prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new, do_sample=False
        )
    got = ours.generate(prompt, new, temperature=0, use_cache=True)
    assert torch.equal(got, expected)


@needs_transformers
def test_hf_state_dict_buffers_are_ignored():
    """The causal-mask buffers some versions save (attn.bias, attn.masked_bias) are skipped."""
    hf = random_gpt2(2, 2, 16, 8, 20)
    sd = dict(hf.state_dict())
    for i in range(2):
        sd[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(8, 8)).view(1, 1, 8, 8)
        sd[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    idx = torch.randint(20, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(
            gpt_from_gpt2_state_dict(sd, 2)(idx)[0], hf(idx).logits, atol=1e-4, rtol=0
        )


@needs_transformers
def test_half_precision_weights_load_as_float32():
    hf = random_gpt2(1, 2, 16, 8, 20)
    sd = {k: v.half() for k, v in hf.state_dict().items()}
    ours = gpt_from_gpt2_state_dict(sd, 2)
    assert ours.tok_emb.weight.dtype == torch.float32
    assert torch.equal(
        ours.blocks[0].attn.qkv.weight, sd["transformer.h.0.attn.c_attn.weight"].t().float()
    )


def _sd():
    return dict(random_gpt2(2, 4, 32, 16, 50).state_dict())


def _without(name):
    sd = _sd()
    del sd[name]
    return sd


def _with(name, tensor):
    sd = _sd()
    sd[name] = tensor
    return sd


@needs_transformers
@pytest.mark.parametrize(
    "make, n_head, message",
    [
        (
            lambda: _without("transformer.h.1.mlp.c_fc.bias"),
            4,
            "missing tensor transformer.h.1.mlp.c_fc.bias",
        ),
        (lambda: _without("lm_head.weight"), 4, "missing tensor lm_head.weight"),
        (lambda: _without("transformer.wte.weight"), 4, "missing tensor transformer.wte.weight"),
        (
            lambda: {k: v for k, v in _sd().items() if ".h.0." not in k},
            4,
            "missing every tensor of block transformer.h.0",
        ),
        (lambda: {k: v for k, v in _sd().items() if ".h." not in k}, 4, "no blocks"),
        (
            lambda: _with("transformer.h.0.attn.c_attn.extra", torch.zeros(3)),
            4,
            "unexpected tensor transformer.h.0.attn.c_attn.extra",
        ),
        (lambda: _with("score.weight", torch.zeros(2, 32)), 4, "unexpected tensor score.weight"),
        (
            lambda: _with("transformer.h.1.attn.c_proj.weight", torch.zeros(32, 33)),
            4,
            r"transformer.h.1.attn.c_proj.weight has shape \(32, 33\), expected \(32, 32\)",
        ),
        (
            lambda: _with("transformer.h.0.mlp.c_fc.weight", torch.zeros(128, 32)),
            4,
            r"transformer.h.0.mlp.c_fc.weight has shape \(128, 32\), expected \(32, 128\)",
        ),
        (
            lambda: _with("transformer.wpe.weight", torch.zeros(16, 31)),
            4,
            r"transformer.wpe.weight has shape \(16, 31\), expected \(16, 32\)",
        ),
        (
            lambda: _with("transformer.ln_f.bias", torch.zeros(1, 32)),
            4,
            r"transformer.ln_f.bias has shape \(1, 32\), expected \(32,\)",
        ),
        (lambda: _with("transformer.wte.weight", torch.zeros(50 * 32)), 4, "should be 2-D"),
        (
            lambda: _with("lm_head.weight", torch.zeros(50, 32)),
            4,
            "lm_head.weight differs from transformer.wte.weight",
        ),
        (lambda: _with("transformer.ln_f.weight", [1.0] * 32), 4, "is a list, not a tensor"),
        (
            lambda: _with("transformer.wte.weight", [[0.0] * 32] * 50),
            4,
            "transformer.wte.weight is a list, not a tensor",
        ),
        (_sd, 3, "n_head 3 does not divide the width n_embd 32"),
        (_sd, 0, "n_head must be a positive int, got 0"),
    ],
)
def test_what_is_not_gpt2_is_a_one_line_error(make, n_head, message):
    sd = make()
    with pytest.raises(ValueError, match=message) as info:
        gpt_from_gpt2_state_dict(sd, n_head)
    text = str(info.value)
    assert text.startswith("not a GPT-2 state dict: ") and "\n" not in text


def test_a_state_dict_must_be_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        gpt_from_gpt2_state_dict([("transformer.wte.weight", torch.zeros(2, 2))], 1)


def test_gpt2_small_has_124_439_808_parameters():
    """Counted on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        ours = GPT(gpt2_small_config())
    assert ours.num_params() == 124_439_808
    assert ours.num_params(non_embedding=True) == 124_439_808 - 50257 * 768 - 1024 * 768


@needs_transformers
def test_gpt2_small_is_transformers_gpt2_small():
    """Same count as transformers' GPT-2 small, and the loader expects exactly its tensors."""
    with torch.device("meta"):
        theirs = transformers.GPT2LMHeadModel(transformers.GPT2Config())  # defaults: GPT-2 small
    assert theirs.num_parameters() == 124_439_808
    names = {g.format(i=i) for _, g, _ in GPT2_NAMES for i in range(12)}
    assert {k for k in theirs.state_dict() if not GPT2_IGNORED.fullmatch(k)} == names


def test_names_table_lists_every_row():
    table = gpt2_names_table()
    lines = table.splitlines()
    assert len(lines) == len(GPT2_NAMES) + 2  # header, rule, one row per name
    assert "blocks.{i}.attn.qkv.weight" in table and "transformer.h.{i}.attn.c_attn.weight" in table
    assert sum("transpose" in line for line in lines) == 4  # the four Conv1D weights


def test_gelu_option_is_validated():
    assert FeedForward(8, gelu="tanh").act.approximate == "tanh"
    assert FeedForward(8).act.approximate == "none"
    with pytest.raises(ValueError, match="gelu must be 'exact' or 'tanh'"):
        FeedForward(8, gelu="fast")
    with pytest.raises(ValueError, match="GPTConfig.gelu"):
        GPTConfig(gelu="quick")


@needs_transformers
def test_hub_offline_fails_fast_in_one_line(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    with pytest.raises(GPT2UnavailableError, match="no network and no cached copy of 'gpt2'") as e:
        load_gpt2_from_hub("gpt2", cache_dir=tmp_path)
    assert time.perf_counter() - start < 10
    assert "\n" not in str(e.value)
    assert not [f for f in tmp_path.rglob("*") if f.is_file() and f.stat().st_size > 0]


@needs_transformers
def test_hub_without_transformers_says_how_to_install(monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("helpers.pretrained._hub_reachable", lambda: True)
    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(GPT2UnavailableError, match=r"pip install -e '\.\[pretrained\]'"):
        load_gpt2_from_hub(cache_dir=tmp_path)


@needs_transformers
def test_hub_loader_reads_a_saved_folder(tmp_path):
    """The whole success path offline: a folder saved by save_pretrained, with a tiny BPE."""
    set_seed(5)
    hf = random_gpt2(1, 2, 16, 8, 5)
    hf.save_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 1, "ab": 2, "\\u0120": 3, "x": 4}')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    bpe = transformers.GPT2Tokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    bpe.save_pretrained(tmp_path)
    ours, theirs, tokenizer = load_gpt2_from_hub(str(tmp_path))
    assert not ours.training and not theirs.training
    ids = torch.tensor([tokenizer("abab ab")["input_ids"]])
    assert ids.tolist() == [[2, 2, 3, 2]]
    with torch.no_grad():
        torch.testing.assert_close(ours(ids)[0], theirs(ids).logits, atol=1e-4, rtol=0)
        torch.testing.assert_close(ours(ids)[0], hf(ids).logits, atol=1e-4, rtol=0)
