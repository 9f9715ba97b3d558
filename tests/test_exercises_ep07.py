"""helpers.exercises.ep07: the "attention_from_gpt2" and "induction_score" exercises of episode 07.

What every exercise keeps (reference passes, each mistake named with its hint, stub, errors)
is checked for these too by test_exercises_contract.py; here is what is particular to them.
"""

import pytest
import torch

from helpers.exercises import check
from helpers.exercises.core import ERROR, MISTAKE, WRONG_SHAPE, WRONG_VALUES
from helpers.exercises.ep07 import attention_from_gpt2, induction_score
from helpers.induction import AttentionOnlyTransformer, RepeatedTokensTask
from helpers.multihead import MultiHeadAttention


def quiet_check(name, fn, **kwargs):
    return check(name, fn, quiet=True, **kwargs)


# --- attention_from_gpt2 -----------------------------------------------------------------


def _conv1d(x, weight, bias):
    """GPT-2's Conv1D: x (..., in) @ weight (in, out) + bias (out,)."""
    return x @ weight + bias


def test_reference_makes_multihead_attention_compute_what_gpt2_computes():
    # GPT-2's attention written with Conv1D layouts vs the course's layer loaded by the reference
    torch.manual_seed(0)
    C, n_head, T = 8, 2, 5
    w_attn, b_attn = torch.randn(C, 3 * C) * 0.3, torch.randn(3 * C) * 0.1
    w_proj, b_proj = torch.randn(C, C) * 0.3, torch.randn(C) * 0.1
    x = torch.randn(2, T, C)  # (B, T, C)
    q, k, v = _conv1d(x, w_attn, b_attn).split(C, dim=-1)  # each (B, T, C)
    heads = lambda t: t.view(2, T, n_head, C // n_head).transpose(1, 2)  # noqa: E731
    y = torch.nn.functional.scaled_dot_product_attention(
        heads(q), heads(k), heads(v), is_causal=True
    )
    expected = _conv1d(y.transpose(1, 2).reshape(2, T, C), w_proj, b_proj)

    layer = MultiHeadAttention(C, n_head)
    layer.load_state_dict(attention_from_gpt2(w_attn, b_attn, w_proj, b_proj))
    got, _ = layer(x, causal=True)
    assert torch.allclose(got, expected, atol=1e-5)


def _learner_linear_modules(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    C = c_proj_weight.shape[0]
    qkv, out = torch.nn.Linear(C, 3 * C), torch.nn.Linear(C, C)
    with torch.no_grad():
        qkv.weight.copy_(c_attn_weight.T)
        qkv.bias.copy_(c_attn_bias)
        out.weight.copy_(c_proj_weight.T)
        out.bias.copy_(c_proj_bias)
    return {
        "qkv.weight": qkv.weight.detach(),
        "qkv.bias": qkv.bias.detach(),
        "out.weight": out.weight.detach(),
        "out.bias": out.bias.detach(),
    }


def _learner_transpose_call(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    names = ("qkv.weight", "qkv.bias", "out.weight", "out.bias")
    tensors = (
        c_attn_weight.transpose(0, 1).contiguous(),
        c_attn_bias,
        c_proj_weight.mT,
        c_proj_bias,
    )
    return dict(zip(names, tensors, strict=True))


@pytest.mark.parametrize(
    "learner", [_learner_linear_modules, _learner_transpose_call], ids=["nn.Linear", "transpose"]
)
def test_other_correct_conversions_pass(learner):
    assert quiet_check("attention_from_gpt2", learner).passed


def _learner_view(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    C = c_proj_weight.shape[0]
    return {
        "qkv.weight": c_attn_weight.view(-1, C),
        "qkv.bias": c_attn_bias,
        "out.weight": c_proj_weight.view(C, C),
        "out.bias": c_proj_bias,
    }


def _learner_only_where_the_shape_complains(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    fixed = {}
    for name, w, b, out in (
        ("qkv", c_attn_weight, c_attn_bias, 3 * c_proj_weight.shape[0]),
        ("out", c_proj_weight, c_proj_bias, c_proj_weight.shape[0]),
    ):
        fixed[f"{name}.weight"] = w if w.shape[0] == out else w.T
        fixed[f"{name}.bias"] = b
    return fixed


@pytest.mark.parametrize(
    ("learner", "mistake"),
    [
        (_learner_view, "the weights are reshaped, not transposed"),
        (_learner_only_where_the_shape_complains, "c_attn is transposed but c_proj is not"),
    ],
    ids=["view", "transpose when the shape differs"],
)
def test_conversion_mistakes_as_learners_write_them_are_named(learner, mistake):
    result = quiet_check("attention_from_gpt2", learner)
    assert result.status == MISTAKE and result.mistake == mistake


def test_conversion_missing_key_and_exception_are_reported():
    def no_biases(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
        return {"qkv.weight": c_attn_weight.T, "out.weight": c_proj_weight.T}

    result = quiet_check("attention_from_gpt2", no_biases)
    assert not result.passed and result.mistake is None

    def raises(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
        if c_proj_weight.shape[0] > 2:
            raise KeyError("qkv")
        return attention_from_gpt2(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias)

    result = quiet_check("attention_from_gpt2", raises)
    assert (
        result.status == ERROR
        and "KeyError" in result.message
        and "case 2 of 3 (C=6)" in result.message
    )


def test_conversion_scaled_weights_get_no_hint():
    def scaled(*args):
        return {k: v * 1.5 for k, v in attention_from_gpt2(*args).items()}

    result = quiet_check("attention_from_gpt2", scaled)
    assert result.status == WRONG_VALUES and result.mistake is None and "Hint" not in result.message


# --- induction_score -----------------------------------------------------------------------


def test_a_perfect_induction_head_scores_one_and_a_previous_token_head_zero():
    L, T = 5, 12
    induction = torch.zeros(T, T)
    previous = torch.zeros(T, T)
    for t in range(T):
        induction[t, t - L + 1 if t >= L else 0] = 1.0
        previous[t, max(t - 1, 0)] = 1.0
    assert induction_score(induction, L).item() == 1.0
    assert induction_score(previous, L).item() == 0.0


def test_score_of_a_trained_shape_model_keeps_the_leading_axes():
    task = RepeatedTokensTask(vocab_size=8, min_length=3, max_length=5, n_tokens=12)
    model = AttentionOnlyTransformer(8, task.seq_len, n_layer=2, n_head=3, d_model=12)
    x, _ = task.fixed(4, 5)
    maps = model.attention_maps(x)  # (4, 2, 3, 11, 11)
    assert induction_score(maps, 5).shape == (4, 2, 3)


def _learner_loop(weights, length):
    total = torch.zeros(weights.shape[:-2])
    for t in range(length, 2 * length):
        total = total + weights[..., t, t - length + 1]
    return total / length


def _learner_diagonal_slice(weights, length):
    diag = weights.diagonal(offset=-(length - 1), dim1=-2, dim2=-1)  # queries L-1 .. T-1
    return diag[..., 1 : length + 1].mean(-1)


@pytest.mark.parametrize(
    "learner", [_learner_loop, _learner_diagonal_slice], ids=["loop", "diagonal"]
)
def test_other_correct_scores_pass(learner):
    assert quiet_check("induction_score", learner).passed


def _learner_loop_from_l_minus_1(weights, length):
    total = torch.zeros(weights.shape[:-2])
    for t in range(length, 2 * length):
        total = total + weights[..., t, t - length]
    return total / length


def test_score_mistake_as_a_learner_writes_it_is_named():
    result = quiet_check("induction_score", _learner_loop_from_l_minus_1)
    assert result.status == MISTAKE and result.mistake.startswith(
        "it measures attention to the previous occurrence"
    )


def test_score_wrong_shape_names_both_shapes():
    result = quiet_check("induction_score", lambda w, length: induction_score(w, length)[..., None])
    assert result.status == WRONG_SHAPE
    assert "expected shape (), got (1,)" in result.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda w, length: induction_score(w, length) * 0.5,
        lambda w, length: torch.rand(w.shape[:-2]),
    ],
    ids=["half", "random"],
)
def test_an_unrelated_wrong_score_gets_no_hint(learner):
    result = quiet_check("induction_score", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
