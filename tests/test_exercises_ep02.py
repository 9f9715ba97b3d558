"""helpers.exercises.ep02: the "attention" and "causal_mask" exercises of episode 02."""

import math

import pytest
import torch
import torch.nn.functional as F

import helpers.attention
from helpers.exercises import EXERCISES, check
from helpers.exercises.core import ERROR, MISTAKE, WRONG_SHAPE, WRONG_VALUES
from helpers.exercises.ep02 import attention, causal_mask, online_attention


def quiet_check(name, fn, **kwargs):
    return check(name, fn, quiet=True, **kwargs)


# --- attention -------------------------------------------------------------------


def test_attention_has_the_issue_s_case_shapes():
    names = " ".join(case.name for case in EXERCISES["attention"].cases)
    for wanted in ("no batch", "batch of 2", "heads", "T_q=3 != T_k=6", "causal mask"):
        assert wanted in names
    assert "padding mask" in names and "one position" in names


@pytest.mark.parametrize(
    "learner",
    [
        lambda q, k, v, mask=None: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        lambda q, k, v, mask=None: (
            torch.softmax(
                (q @ k.mT / q.size(-1) ** 0.5).masked_fill(
                    torch.zeros((), dtype=torch.bool) if mask is None else mask == 0, -1e9
                ),
                dim=-1,
            )
            @ v
        ),
        lambda q, k, v, mask=None: torch.einsum(
            "...qk,...kd->...qd",
            torch.softmax(
                torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(k.shape[-1])
                + (0 if mask is None else torch.where(mask, 0.0, float("-inf"))),
                dim=-1,
            ),
            v,
        ),
    ],
    ids=["torch sdpa", "-1e9 fill", "einsum and an additive mask"],
)
def test_other_correct_ways_of_writing_attention_pass(learner):
    assert quiet_check("attention", learner).passed


def _learner_with_dot_t(q, k, v, mask=None):
    scores = q @ k.T / math.sqrt(q.shape[-1])  # right for (T, d) only
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _learner_with_mm(q, k, v, mask=None):
    scores = torch.mm(q, k.t()) / math.sqrt(q.shape[-1])  # 2-D only
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.mm(torch.softmax(scores, dim=-1), v)


def _learner_with_model_width(q, k, v, mask=None):
    d_model = v.shape[-1]  # the output's width, not the keys'
    scores = q @ k.transpose(-2, -1) / d_model**0.5
    if mask is not None:
        scores = scores.masked_fill(mask == False, -1e9)  # noqa: E712
    return F.softmax(scores, dim=-1) @ v


@pytest.mark.parametrize(
    ("learner", "mistake"),
    [
        (_learner_with_dot_t, "the keys are transposed on fixed axes"),
        (_learner_with_mm, "the keys are transposed on fixed axes"),
        (_learner_with_model_width, "the scale uses the width of the values"),
    ],
    ids=["k.T", "torch.mm", "model width"],
)
def test_mistakes_as_learners_write_them_are_named(learner, mistake):
    with pytest.warns(UserWarning) if learner is _learner_with_dot_t else _NoWarning():
        result = quiet_check("attention", learner)
    assert result.status == MISTAKE and result.mistake.startswith(mistake)


class _NoWarning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_attention_wrong_shape_names_both_shapes():
    result = quiet_check("attention", lambda q, k, v, mask=None: attention(q, k, v, mask).mT)
    assert result.status == WRONG_SHAPE
    assert "expected shape (4, 2), got (2, 4)" in result.message


def test_attention_exception_names_type_message_and_case():
    def learner(q, k, v, mask=None):
        if mask is not None:
            raise ValueError("masks are next week")
        return attention(q, k, v)

    result = quiet_check("attention", learner)
    assert result.status == ERROR
    assert "ValueError: masks are next week" in result.message
    assert "case 3 of 8 (batch of 2: T=5, d_k=4, d_v=6, causal mask (5, 5))" in result.message
    with pytest.raises(ValueError, match="masks are next week"):
        quiet_check("attention", learner, raise_errors=True)


@pytest.mark.parametrize(
    "learner",
    [
        lambda q, k, v, mask=None: attention(q, k, v, mask) + 0.1,
        lambda q, k, v, mask=None: v.mean(-2, keepdim=True).expand(*q.shape[:-1], v.shape[-1]),
        # two known mistakes at once is neither of them
        lambda q, k, v, mask=None: (
            torch.softmax(
                q @ k.mT if mask is None else (q @ k.mT).masked_fill(mask, float("-inf")), -1
            )
            @ v
        ),
    ],
    ids=["off by 0.1", "plain average of the values", "unscaled and mask inverted"],
)
def test_an_unrelated_wrong_attention_gets_no_hint(learner):
    result = quiet_check("attention", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


@pytest.mark.parametrize("offset", ["1", "2", "3"])
def test_attention_mistakes_are_named_under_other_seeds(monkeypatch, offset):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    assert quiet_check("attention", attention).passed
    for mistake in EXERCISES["attention"].mistakes:
        assert quiet_check("attention", mistake.fn).mistake == mistake.name


def test_verdicts_that_notebooks_show_are_the_same_under_any_seed(monkeypatch):
    def stub(q, k, v, mask=None):
        raise NotImplementedError

    seen = set()
    for offset in ("0", "7"):
        monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
        seen.add(
            (quiet_check("attention", attention).message, quiet_check("attention", stub).message)
        )
    assert len(seen) == 1


# --- causal_mask -----------------------------------------------------------------


def test_causal_mask_written_by_hand_passes():
    def by_hand(T):
        i = torch.arange(T)
        return i[:, None] >= i[None, :]  # (T, T): key j <= query i

    assert quiet_check("causal_mask", by_hand).passed


def test_causal_mask_wrong_shape_and_exception():
    batched = quiet_check("causal_mask", lambda T: causal_mask(T)[None])
    assert (
        batched.status == WRONG_SHAPE and "expected shape (1, 1), got (1, 1, 1)" in batched.message
    )
    broken = quiet_check("causal_mask", lambda T: torch.ones(T, T).tril(T - 9).bool()[T])
    assert broken.status == ERROR and "IndexError" in broken.message and "T=1" in broken.message


def test_an_unrelated_wrong_causal_mask_gets_no_hint():
    result = quiet_check("causal_mask", lambda T: torch.ones(T, T, dtype=torch.bool))
    assert result.status == WRONG_VALUES and result.mistake is None
    assert "Hint" not in result.message and "compared exactly" in result.message


# --- online_softmax ------------------------------------------------------------------


def test_online_softmax_reference_is_helpers_attention_s_own():
    # still importable from the exercise module, but defined once, in helpers.attention
    assert online_attention is helpers.attention.online_attention
    assert EXERCISES["online_softmax"].reference is helpers.attention.online_attention


def test_online_softmax_cases_make_every_mistake_show():
    names = " ".join(case.name for case in EXERCISES["online_softmax"].cases)
    for wanted in ("blocks of 3 (the last block holds one key)", "one at a time", "large scores"):
        assert wanted in names
    assert "best-matching key in the last block" in names  # the maximum rises late


def _learner_online(q, k, v, block_size):
    # written the way a learner might: Python floats for the running state
    m, total, acc = float("-inf"), 0.0, torch.zeros(v.shape[1])
    for i in range(0, len(k), block_size):
        s = (q @ k[i : i + block_size].T) / math.sqrt(len(q))
        m_new = max(m, s.max().item())
        p = torch.exp(s - m_new)
        total = total * math.exp(m - m_new) + p.sum().item()
        acc = acc * math.exp(m - m_new) + p @ v[i : i + block_size]
        m = m_new
    return acc / total


def test_online_softmax_written_another_way_passes():
    assert quiet_check("online_softmax", _learner_online).passed


@pytest.mark.parametrize("offset", ["1", "2", "3"])
def test_online_softmax_mistakes_are_named_under_other_seeds(monkeypatch, offset):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    assert quiet_check("online_softmax", online_attention).passed
    for mistake in EXERCISES["online_softmax"].mistakes:
        assert quiet_check("online_softmax", mistake.fn).mistake == mistake.name


def test_online_softmax_wrong_shape_and_exception():
    kept_a_row = quiet_check(
        "online_softmax", lambda q, k, v, b: online_attention(q, k, v, b)[None]
    )
    assert kept_a_row.status == WRONG_SHAPE
    assert "expected shape (5,), got (1, 5)" in kept_a_row.message

    def learner(q, k, v, block_size):
        if len(k) % block_size:
            raise IndexError("block out of range")
        return online_attention(q, k, v, block_size)

    result = quiet_check("online_softmax", learner)
    assert result.status == ERROR and "IndexError: block out of range" in result.message
    assert "case 2 of 6 (7 keys in blocks of 3" in result.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda q, k, v, block_size: online_attention(q, k, v, block_size) * 1.1,
        lambda q, k, v, block_size: v.mean(0),
        # two mistakes at once (unscaled and never rescaled) is neither of them
        lambda q, k, v, block_size: _two_mistakes(q, k, v, block_size),
    ],
    ids=["10% too large", "plain average of the values", "unscaled and not rescaled"],
)
def test_an_unrelated_wrong_online_softmax_gets_no_hint(learner):
    result = quiet_check("online_softmax", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


def _two_mistakes(q, k, v, block_size):
    m, total, acc = torch.tensor(float("-inf")), torch.zeros(()), torch.zeros(v.shape[1])
    for i in range(0, len(k), block_size):
        s = k[i : i + block_size] @ q  # not scaled
        m = torch.maximum(m, s.max())
        p = torch.exp(s - m)
        total, acc = total + p.sum(), acc + p @ v[i : i + block_size]  # not rescaled
    return acc / total
