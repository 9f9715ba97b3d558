"""helpers.exercises.ep03: the "split_heads", "merge_heads" and "multi_head_attention" exercises."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.attention import causal_mask
from helpers.exercises import EXERCISES, check
from helpers.exercises.core import ERROR, MISTAKE, WRONG_SHAPE, WRONG_VALUES
from helpers.exercises.ep03 import merge_heads, multi_head_attention, split_heads
from helpers.multihead import MultiHeadAttention

NAMES = ("split_heads", "merge_heads", "multi_head_attention")


def quiet_check(name, fn, **kwargs):
    return check(name, fn, quiet=True, **kwargs)


# --- the references are the episode's module ---------------------------------------


@pytest.mark.parametrize(("C", "n_head"), [(4, 2), (6, 3), (8, 1), (12, 4)])
def test_split_and_merge_references_are_the_module_s_own(C, n_head):
    layer = MultiHeadAttention(C, n_head)
    x = torch.randn(2, 5, C)
    split = split_heads(x, n_head)
    assert torch.equal(split, layer.split_heads(x))
    assert torch.equal(merge_heads(split), layer.merge_heads(split))
    assert torch.equal(merge_heads(split), x)  # merge undoes split


def test_multi_head_attention_reference_is_separate_heads_concatenated_then_w_o():
    B, T, C, n_head = 2, 5, 8, 2
    hs = C // n_head
    x, W_QKV, W_O = torch.randn(B, T, C), torch.randn(C, 3 * C), torch.randn(C, C)
    mask = causal_mask(T)
    heads = []
    for i in range(n_head):
        cols = [slice(part * C + i * hs, part * C + (i + 1) * hs) for part in range(3)]
        q, k, v = (x @ W_QKV[:, c] for c in cols)  # each (B, T, hs)
        scores = (q @ k.mT / math.sqrt(hs)).masked_fill(~mask, float("-inf"))
        heads.append(torch.softmax(scores, dim=-1) @ v)
    expected = torch.cat(heads, dim=-1) @ W_O  # (B, T, C)
    assert torch.allclose(multi_head_attention(x, W_QKV, W_O, n_head, mask), expected, atol=1e-5)


def test_references_name_sizes_that_do_not_split():
    with pytest.raises(ValueError, match=r"C \(6\) must split evenly into n_head \(4\)"):
        split_heads(torch.randn(1, 2, 6), 4)
    with pytest.raises(ValueError, match="n_head"):
        multi_head_attention(torch.randn(1, 2, 6), torch.randn(6, 18), torch.randn(6, 6), 4)


# --- every exercise, other seeds (the rest of the contract: test_exercises_contract.py) ---


@pytest.mark.parametrize("offset", ["1", "2", "3"])
@pytest.mark.parametrize("name", NAMES)
def test_mistakes_are_named_under_other_seeds(monkeypatch, name, offset):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    assert quiet_check(name, EXERCISES[name].reference).passed
    for mistake in EXERCISES[name].mistakes:
        assert quiet_check(name, mistake.fn).mistake == mistake.name


def test_verdicts_that_the_notebook_shows_are_the_same_under_any_seed(monkeypatch):
    def stub(*args, **kwargs):
        raise NotImplementedError

    seen = set()
    for offset in ("0", "5"):
        monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
        seen.add(
            tuple(
                (quiet_check(n, EXERCISES[n].reference).message, quiet_check(n, stub).message)
                for n in NAMES
            )
        )
    assert len(seen) == 1


# --- split_heads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "learner",
    [
        lambda x, n_head: torch.stack(x.chunk(n_head, dim=-1), dim=1),
        lambda x, n_head: x.reshape(*x.shape[:2], n_head, -1).permute(0, 2, 1, 3),
        lambda x, n_head: torch.einsum("bthd->bhtd", x.unflatten(-1, (n_head, -1))),
    ],
    ids=["chunk and stack", "reshape and permute", "unflatten and einsum"],
)
def test_other_correct_ways_of_splitting_pass(learner):
    assert quiet_check("split_heads", learner).passed


def test_split_with_split_n_head_is_named_as_the_swapped_sizes():
    # x.split(n_head) cuts runs of n_head features: the (hs, n_head) mistake written another way
    result = quiet_check("split_heads", lambda x, n: torch.stack(x.split(n, dim=-1), dim=1))
    assert result.status == MISTAKE and result.mistake.startswith("C is cut into runs")


def test_split_heads_wrong_shape_names_both_shapes():
    result = quiet_check("split_heads", lambda x, n_head: split_heads(x, n_head)[0])
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 2, 4, 2), got (2, 4, 2)" in result.message


def test_split_heads_exception_names_type_message_and_case():
    def learner(x, n_head):
        if n_head == 1:
            raise ValueError("one head needs no split")
        return split_heads(x, n_head)

    result = quiet_check("split_heads", learner)
    assert result.status == ERROR
    assert "ValueError: one head needs no split" in result.message
    assert "case 5 of 6 (one head: x (2, 3, 4) into 1 head of 4)" in result.message
    with pytest.raises(ValueError, match="one head needs no split"):
        quiet_check("split_heads", learner, raise_errors=True)


@pytest.mark.parametrize(
    "learner",
    [
        lambda x, n_head: split_heads(x, n_head) * 1.0001,
        lambda x, n_head: split_heads(x.flip(1), n_head),  # tokens reversed
        # two mistakes at once (no transpose, sizes swapped) is neither of them
        lambda x, n_head: x.view(x.shape[0], x.shape[1], -1, n_head),
    ],
    ids=["scaled", "tokens reversed", "two mistakes at once"],
)
def test_an_unrelated_wrong_split_gets_no_hint(learner):
    result = quiet_check("split_heads", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status in (WRONG_VALUES, WRONG_SHAPE)
    assert "compared exactly" in result.message or result.status == WRONG_SHAPE


# --- merge_heads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "learner",
    [
        lambda x: x.transpose(1, 2).contiguous().view(x.shape[0], x.shape[2], -1),
        lambda x: torch.cat(x.unbind(dim=1), dim=-1),
        lambda x: x.permute(0, 2, 1, 3).flatten(2),
    ],
    ids=["contiguous then view", "cat of the heads", "permute and flatten"],
)
def test_other_correct_ways_of_merging_pass(learner):
    assert quiet_check("merge_heads", learner).passed


def test_merge_heads_view_mistake_is_recognised_by_its_error_and_its_one_head_answers():
    result = quiet_check(
        "merge_heads", lambda x: x.transpose(1, 2).view(x.shape[0], x.shape[2], -1)
    )
    assert result.mistake == "view after a transpose (the memory is not in the new order)"


def test_merge_heads_wrong_shape_names_both_shapes():
    result = quiet_check("merge_heads", lambda x: merge_heads(x)[:, None])
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 4, 4), got (1, 1, 4, 4)" in result.message


def test_merge_heads_exception_names_type_message_and_case():
    def learner(x):
        if x.shape[2] == 1:
            raise IndexError("no tokens to merge")
        return merge_heads(x)

    result = quiet_check("merge_heads", learner)
    assert result.status == ERROR and "IndexError: no tokens to merge" in result.message
    assert "case 6 of 6 (one position: (2, 2, 1, 3))" in result.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda x: merge_heads(x) + 1e-3,
        lambda x: merge_heads(x.flip(1)),  # heads in reverse order
    ],
    ids=["shifted", "heads reversed"],
)
def test_an_unrelated_wrong_merge_gets_no_hint(learner):
    result = quiet_check("merge_heads", learner)
    assert result.status == WRONG_VALUES and result.mistake is None
    assert "Hint" not in result.message and "compared exactly" in result.message


# --- multi_head_attention --------------------------------------------------------------


def _learner_sdpa(x, W_QKV, W_O, n_head, mask=None):
    B, T, C = x.shape
    q, k, v = (x @ W_QKV).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, T, hs)
    return y.transpose(1, 2).reshape(B, T, C) @ W_O


def _learner_loop_over_heads(x, W_QKV, W_O, n_head, mask=None):
    C = x.shape[-1]
    hs = C // n_head
    W_Q, W_K, W_V = W_QKV.split(C, dim=1)
    outs = []
    for i in range(n_head):
        cols = slice(i * hs, (i + 1) * hs)
        q, k, v = x @ W_Q[:, cols], x @ W_K[:, cols], x @ W_V[:, cols]
        scores = q @ k.transpose(-2, -1) / hs**0.5
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        outs.append(scores.softmax(-1) @ v)
    return torch.cat(outs, dim=-1) @ W_O


def _learner_nanogpt_bug(x, W_QKV, W_O, n_head, mask=None):
    # written as a learner might, with the famous lecture's scale
    B, T, C = x.shape
    q, k, v = (x @ W_QKV).split(C, dim=2)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-2, -1)) * C**-0.5
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    y = F.softmax(att, dim=-1) @ v
    return y.transpose(1, 2).contiguous().view(B, T, C) @ W_O


@pytest.mark.parametrize(
    "learner", [_learner_sdpa, _learner_loop_over_heads], ids=["torch sdpa", "loop over heads"]
)
def test_other_correct_multi_head_attentions_pass(learner):
    assert quiet_check("multi_head_attention", learner).passed


def test_the_famous_bug_as_a_learner_writes_it_is_named():
    result = quiet_check("multi_head_attention", _learner_nanogpt_bug)
    assert result.status == MISTAKE and "sqrt(C)" in result.mistake


def test_multi_head_attention_wrong_shape_names_both_shapes():
    # forgot to split x @ W_QKV into q, k, v at all
    result = quiet_check("multi_head_attention", lambda x, W_QKV, W_O, n_head, mask=None: x @ W_QKV)
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 4, 4), got (1, 4, 12)" in result.message


def test_multi_head_attention_exception_names_type_message_and_case():
    def learner(x, W_QKV, W_O, n_head, mask=None):
        if mask is not None:
            raise ValueError("masks are for later")
        return multi_head_attention(x, W_QKV, W_O, n_head)

    result = quiet_check("multi_head_attention", learner)
    assert result.status == ERROR and "ValueError: masks are for later" in result.message
    assert "case 2 of 6 (x (2, 5, 8), 4 heads of 2, causal mask (5, 5))" in result.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda x, W_QKV, W_O, n_head, mask=None: (
            multi_head_attention(x, W_QKV, W_O, n_head, mask) + 0.01
        ),
        # values averaged with equal weights: no attention at all
        lambda x, W_QKV, W_O, n_head, mask=None: (
            (x @ W_QKV[:, 2 * x.shape[-1] :]).mean(1, keepdim=True).expand_as(x) @ W_O
        ),
        # two mistakes at once (sqrt(C) and no W_O) is neither of them
        lambda x, W_QKV, W_O, n_head, mask=None: _two_mistakes(x, W_QKV, n_head, mask),
    ],
    ids=["shifted", "plain average of the values", "sqrt(C) and no W_O"],
)
def test_an_unrelated_wrong_multi_head_attention_gets_no_hint(learner):
    result = quiet_check("multi_head_attention", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


def _two_mistakes(x, W_QKV, n_head, mask):
    B, T, C = x.shape
    q, k, v = (x @ W_QKV).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(C)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
