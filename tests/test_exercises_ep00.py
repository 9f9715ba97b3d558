"""helpers.exercises.ep00: episode 00's "Your turn" checks (a linear layer, cross-entropy)."""

import pytest
import torch
import torch.nn.functional as F

from helpers.exercises import EXERCISES, check
from helpers.exercises.core import MISTAKE, WRONG_SHAPE, validate
from helpers.exercises.ep00 import CROSS_ENTROPY, LINEAR, cross_entropy, linear

NAMES = ("linear", "cross_entropy")


@pytest.mark.parametrize("name", NAMES)
def test_registered_and_valid(name):
    exercise = EXERCISES[name]
    assert exercise is {"linear": LINEAR, "cross_entropy": CROSS_ENTROPY}[name]
    assert len(exercise.mistakes) >= 2
    validate(exercise)  # mistakes differ from the reference and from one another


@pytest.mark.parametrize("offset", ["1", "2", "3"])
@pytest.mark.parametrize("name", NAMES)
def test_mistakes_stay_distinct_for_other_seeds(name, offset, monkeypatch):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    validate(EXERCISES[name])


# --- linear ------------------------------------------------------------------------


def test_linear_reference_is_x_times_weight_transposed_plus_bias():
    x, weight, bias = torch.randn(2, 5, 3), torch.randn(4, 3), torch.randn(4)
    assert torch.allclose(linear(x, weight, bias), x @ weight.T + bias, atol=1e-6)
    layer = torch.nn.Linear(3, 4)
    assert torch.allclose(linear(x, layer.weight, layer.bias), layer(x))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w, b: x @ w.T + b,
        lambda x, w, b: torch.matmul(x, w.t()) + b,
        lambda x, w, b: (x[..., None, :] * w).sum(-1) + b,  # one dot product per output
        lambda x, w, b: torch.einsum("...i,oi->...o", x, w) + b,
    ],
)
def test_linear_other_correct_ways_pass(fn):
    assert check("linear", fn, quiet=True).passed


def test_linear_wrong_shape_names_both_shapes():
    result = check("linear", lambda x, w, b: (x @ w.T + b)[..., :1], quiet=True)
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 2), got (1, 1)" in result.message


def test_linear_unrelated_wrong_answer_gets_no_hint():
    result = check("linear", lambda x, w, b: 2 * (x @ w.T) + b, quiet=True)
    assert not result.passed and result.status != MISTAKE and "Hint" not in result.message
    assert "case 1 of 5" in result.message


# --- cross_entropy -----------------------------------------------------------------


def stable_by_hand(logits, targets):
    shifted = logits - logits.max(dim=-1, keepdim=True).values  # (N, V)
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()  # (N, V)
    return -log_probs[torch.arange(len(targets)), targets].mean()


@pytest.mark.parametrize(
    "fn",
    [
        stable_by_hand,
        lambda z, t: (torch.logsumexp(z, -1) - z.gather(1, t[:, None])[:, 0]).mean(),
        lambda z, t: -F.log_softmax(z, dim=-1)[torch.arange(len(t)), t].mean(),
        lambda z, t: F.nll_loss(F.log_softmax(z, -1), t),
        lambda z, t: stable_by_hand(z.double(), t),  # float64 is fine too
    ],
)
def test_cross_entropy_correct_ways_pass(fn):
    assert check("cross_entropy", fn, quiet=True).passed


def test_cross_entropy_reference_is_mean_negative_log_softmax_and_ln_v_when_uniform():
    logits, targets = torch.randn(6, 7), torch.randint(7, (6,))
    expected = -torch.log_softmax(logits, -1)[torch.arange(6), targets].mean()
    assert torch.allclose(cross_entropy(logits, targets), expected)
    uniform = cross_entropy(torch.zeros(3, 7), torch.tensor([0, 3, 6]))
    assert torch.isclose(uniform, torch.log(torch.tensor(7.0)))


def test_cross_entropy_hard_cases_really_break_the_naive_formulas():
    huge = EXERCISES["cross_entropy"].cases[4].build()
    far = EXERCISES["cross_entropy"].cases[5].build()
    for args in (huge, far):
        assert torch.isfinite(cross_entropy(*args.args)), "the reference stays finite"
    naive = {m.name: m.fn for m in CROSS_ENTROPY.mistakes}
    overflow = naive["exp() overflows on large logits (inf / inf = nan)"]
    underflow = next(fn for name, fn in naive.items() if name.startswith("log(softmax"))
    assert torch.isnan(overflow(*huge.args))
    assert torch.isinf(underflow(*far.args)) and torch.isfinite(underflow(*huge.args))


def test_cross_entropy_per_row_losses_are_named_before_the_shape():
    result = check(
        "cross_entropy", lambda z, t: -F.log_softmax(z, -1)[torch.arange(len(t)), t], quiet=True
    )
    assert result.mistake == "the N per-row losses are returned, not their mean"


def test_cross_entropy_wrong_shape_names_both_shapes():
    result = check("cross_entropy", lambda z, t: stable_by_hand(z, t)[None, None], quiet=True)
    assert result.status == WRONG_SHAPE
    assert "expected shape (), got (1, 1)" in result.message


def test_cross_entropy_unrelated_wrong_answer_gets_no_hint():
    result = check("cross_entropy", lambda z, t: stable_by_hand(z, t) + 0.5, quiet=True)
    assert not result.passed and result.status != MISTAKE and "Hint" not in result.message
