"""helpers.exercises.ep05: episode 05's "Your turn" checks (LayerNorm, a pre-LN block)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.blocks import TransformerBlock
from helpers.exercises import EXERCISES, check
from helpers.exercises.core import ERROR, MISTAKE, WRONG_SHAPE, validate
from helpers.exercises.ep05 import LAYER_NORM, PRE_LN_BLOCK, layer_norm, pre_ln_block

NAMES = ("layer_norm", "pre_ln_block")


@pytest.mark.parametrize("name", NAMES)
def test_registered_and_valid(name):
    exercise = EXERCISES[name]
    assert exercise is {"layer_norm": LAYER_NORM, "pre_ln_block": PRE_LN_BLOCK}[name]
    assert len(exercise.mistakes) >= 2
    validate(exercise)  # mistakes differ from the reference and from one another


@pytest.mark.parametrize("offset", ["1", "2", "3"])
@pytest.mark.parametrize("name", NAMES)
def test_mistakes_stay_distinct_for_other_seeds(name, offset, monkeypatch):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    validate(EXERCISES[name])


def test_hints_do_not_give_the_answer_away():
    for name in NAMES:
        for mistake in EXERCISES[name].mistakes:
            assert "unbiased=False" not in mistake.hint and "dim=-1" not in mistake.hint
            assert "x + " not in mistake.hint, "no formula of the answer in a hint"


# --- layer_norm ---------------------------------------------------------------------


def test_layer_norm_reference_matches_nn_layer_norm_and_the_formula():
    norm = nn.LayerNorm(6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(6))
        norm.bias.copy_(torch.randn(6))
    x = torch.randn(2, 3, 6) * 4 + 1
    assert torch.allclose(layer_norm(x, norm.weight, norm.bias), norm(x), atol=1e-6)
    by_formula = (x - x.mean(-1, keepdim=True)) / torch.sqrt(
        x.var(-1, keepdim=True, unbiased=False) + 1e-5
    )
    assert torch.allclose(layer_norm(x, torch.ones(6), torch.zeros(6)), by_formula, atol=1e-5)


def _by_hand(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


@pytest.mark.parametrize(
    "fn",
    [
        _by_hand,
        lambda x, g, b, eps=1e-5: (
            g
            * (x - x.mean(-1, keepdim=True))
            * torch.rsqrt(x.var(-1, keepdim=True, unbiased=False) + eps)
            + b
        ),
        lambda x, g, b, eps=1e-5: F.layer_norm(x, (x.shape[-1],), g, b, eps),
        lambda x, g, b, eps=1e-5: _by_hand(x.double(), g.double(), b.double(), eps),
    ],
    ids=["by hand", "rsqrt", "F.layer_norm", "float64"],
)
def test_layer_norm_other_correct_ways_pass(fn):
    assert check("layer_norm", fn, quiet=True).passed


def test_layer_norm_eps_case_really_needs_eps_inside():
    args = LAYER_NORM.cases[4].build()
    x = args.args[0]
    assert x.var(-1, unbiased=False).max() < 1e-5, "the spread is below eps: eps decides the scale"


def test_layer_norm_ignoring_the_eps_argument_is_caught_on_the_eps_case():
    result = check("layer_norm", lambda x, g, b, eps=1e-5: _by_hand(x, g, b), quiet=True)
    assert not result.passed and result.status != MISTAKE
    assert "case 6 of 6 (eps=0.5 given" in result.message


def test_layer_norm_wrong_shape_names_both_shapes():
    result = check(
        "layer_norm", lambda x, g, b, eps=1e-5: _by_hand(x, g, b, eps)[..., :1], quiet=True
    )
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 3, 4), got (1, 3, 1)" in result.message


def test_layer_norm_unrelated_wrong_answer_gets_no_hint():
    result = check("layer_norm", lambda x, g, b, eps=1e-5: 0.9 * _by_hand(x, g, b, eps), quiet=True)
    assert not result.passed and result.status != MISTAKE and "Hint" not in result.message


# --- pre_ln_block -------------------------------------------------------------------


def _learner_block(x, block):
    h = x + block.attn(block.ln1(x), causal=block.causal)[0]  # (B, T, C)
    return h + block.ffn(block.ln2(h))


def test_pre_ln_block_reference_is_the_formula():
    block = TransformerBlock(8, 2).eval()
    x = torch.randn(2, 5, 8)
    a, _ = block.attn(block.ln1(x))
    h = x + a
    assert torch.allclose(pre_ln_block(x, block), h + block.ffn(block.ln2(h)), atol=1e-6)


def test_pre_ln_block_reference_refuses_a_post_ln_block():
    with pytest.raises(ValueError, match="pre-LN"):
        pre_ln_block(torch.randn(1, 2, 8), TransformerBlock(8, 2, post_ln=True))


def test_pre_ln_block_learner_s_version_passes():
    assert check("pre_ln_block", _learner_block, quiet=True).passed


def test_pre_ln_block_cases_tell_the_two_layer_norms_apart():
    block = PRE_LN_BLOCK.cases[0].build().args[1]
    assert not torch.allclose(block.ln1.weight, block.ln2.weight)
    assert not block.training, "the cases use the block in eval mode"
    assert any(case.build().args[1].causal for case in PRE_LN_BLOCK.cases)


def test_pre_ln_block_wrong_shape_names_both_shapes():
    result = check("pre_ln_block", lambda x, block: _learner_block(x, block)[:, -1], quiet=True)
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 4, 8), got (1, 8)" in result.message


def test_pre_ln_block_unrelated_wrong_answer_gets_no_hint():
    result = check("pre_ln_block", lambda x, block: x + block.ffn(block.ln2(x)), quiet=True)
    assert not result.passed and result.status != MISTAKE and "Hint" not in result.message


def test_pre_ln_block_forgetting_that_attention_returns_a_pair_is_reported():
    def adds_a_tuple(x, block):
        h = x + block.attn(block.ln1(x))  # a (output, weights) pair, not a tensor
        return h + block.ffn(block.ln2(h))

    result = check("pre_ln_block", adds_a_tuple, quiet=True)
    assert result.status == ERROR and "TypeError" in result.message
