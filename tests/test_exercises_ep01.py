"""helpers.exercises.ep01: episode 01's "rnn_step", "rnn_forward" and "causal_average"."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.exercises import EXERCISES, check
from helpers.exercises.core import ERROR, MISTAKE, WRONG_SHAPE, WRONG_VALUES
from helpers.exercises.ep01 import causal_average, rnn_forward, rnn_step

NAMES = ("rnn_step", "rnn_forward", "causal_average")


def quiet_check(name, fn, **kwargs):
    return check(name, fn, quiet=True, **kwargs)


# --- every exercise, other seeds (the rest of the contract: test_exercises_contract.py) ---


@pytest.mark.parametrize("offset", ["1", "2", "3"])
@pytest.mark.parametrize("name", NAMES)
def test_mistakes_are_named_under_other_seeds(monkeypatch, offset, name):
    monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
    assert quiet_check(name, EXERCISES[name].reference).passed
    for mistake in EXERCISES[name].mistakes:
        assert quiet_check(name, mistake.fn).mistake == mistake.name


@pytest.mark.parametrize("name", NAMES)
def test_verdicts_that_the_notebook_shows_are_the_same_under_any_seed(monkeypatch, name):
    def stub(*args):
        raise NotImplementedError

    seen = set()
    for offset in ("0", "5"):
        monkeypatch.setenv("HELPERS_SEED_OFFSET", offset)
        reference = EXERCISES[name].reference
        seen.add((quiet_check(name, reference).message, quiet_check(name, stub).message))
    assert len(seen) == 1


# --- rnn_step --------------------------------------------------------------------


def test_rnn_step_equals_one_step_of_nn_rnn():
    rnn = nn.RNN(3, 4, batch_first=True)
    x = torch.randn(2, 1, 3)  # (B, T, C) with T = 1
    h0 = torch.randn(1, 2, 4)  # nn.RNN's (layers, B, H)
    expected, _ = rnn(x, h0)
    assert torch.allclose(rnn_step(x[:, 0], h0[0], rnn), expected[:, 0], atol=1e-6)


@pytest.mark.parametrize(
    "learner",
    [
        lambda x_t, h, rnn: torch.tanh(
            F.linear(x_t, rnn.weight_ih_l0, rnn.bias_ih_l0)
            + F.linear(h, rnn.weight_hh_l0, rnn.bias_hh_l0)
        ),
        lambda x_t, h, rnn: rnn(x_t[:, None], h[None])[0][:, 0],  # nn.RNN itself, one step
        lambda x_t, h, rnn: torch.tanh(
            torch.cat([x_t, h], -1) @ torch.cat([rnn.weight_ih_l0, rnn.weight_hh_l0], 1).T
            + (rnn.bias_ih_l0 + rnn.bias_hh_l0)
        ),
    ],
    ids=["F.linear", "nn.RNN itself", "one product of [x_t, h]"],
)
def test_other_correct_rnn_steps_pass(learner):
    assert quiet_check("rnn_step", learner).passed


def _learner_untransposed(x_t, h, rnn):
    W_xh, W_hh = rnn.weight_ih_l0, rnn.weight_hh_l0  # used as stored: (out, in)
    return torch.tanh(x_t @ W_xh + h @ W_hh + rnn.bias_ih_l0 + rnn.bias_hh_l0)


def _learner_one_bias(x_t, h, rnn):
    params = dict(rnn.named_parameters())
    return torch.tanh(
        x_t @ params["weight_ih_l0"].T + h @ params["weight_hh_l0"].T + params["bias_ih_l0"]
    )


@pytest.mark.parametrize(
    ("learner", "mistake"),
    [
        (_learner_untransposed, "the weights are used as stored"),
        (_learner_one_bias, "the hidden-to-hidden bias is missing"),
    ],
    ids=["weights as stored", "one bias"],
)
def test_rnn_step_mistakes_as_learners_write_them_are_named(learner, mistake):
    result = quiet_check("rnn_step", learner)
    assert result.status == MISTAKE and result.mistake.startswith(mistake)


def test_rnn_step_wrong_shape_names_both_shapes():
    result = quiet_check("rnn_step", lambda x_t, h, rnn: rnn_step(x_t, h, rnn)[None])
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 2), got (1, 1, 2)" in result.message


def test_rnn_step_exception_names_type_message_and_case():
    def learner(x_t, h, rnn):
        if h.abs().sum() > 0:
            raise RuntimeError("only first steps so far")
        return rnn_step(x_t, h, rnn)

    result = quiet_check("rnn_step", learner)
    assert result.status == ERROR
    assert "RuntimeError: only first steps so far" in result.message
    assert "case 2 of 4 (B=4, C=5, H=3)" in result.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda x_t, h, rnn: rnn_step(x_t, h, rnn) * 0.9,
        lambda x_t, h, rnn: torch.sigmoid(
            x_t @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        ),
        # two mistakes at once (no hidden bias and no tanh) is neither of them
        lambda x_t, h, rnn: x_t @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T,
    ],
    ids=["scaled by 0.9", "sigmoid instead of tanh", "no hidden bias and no tanh"],
)
def test_an_unrelated_wrong_rnn_step_gets_no_hint(learner):
    result = quiet_check("rnn_step", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


# --- rnn_forward -------------------------------------------------------------------


def test_rnn_forward_equals_nn_rnn():
    rnn = nn.RNN(3, 5, batch_first=True)
    x = torch.randn(2, 7, 3)  # (B, T, C)
    assert torch.allclose(rnn_forward(x, rnn), rnn(x)[0], atol=1e-6)


@pytest.mark.parametrize(
    "learner",
    [
        lambda x, rnn: rnn(x)[0],
        lambda x, rnn: torch.stack(_states_in_a_list(x, rnn), dim=1),
    ],
    ids=["nn.RNN itself", "a list of states, each written out"],
)
def test_other_correct_rnn_forwards_pass(learner):
    assert quiet_check("rnn_forward", learner).passed


def _states_in_a_list(x, rnn):
    h, states = x.new_zeros(x.shape[0], rnn.hidden_size), []
    for x_t in x.unbind(dim=1):  # (B, C) each
        h = torch.tanh(
            x_t @ rnn.weight_ih_l0.T + h @ rnn.weight_hh_l0.T + rnn.bias_ih_l0 + rnn.bias_hh_l0
        )
        states.append(h)
    return states


def test_a_step_mistake_inside_the_loop_points_to_the_step_check():
    def learner(x, rnn):
        h, states = torch.zeros(x.shape[0], rnn.hidden_size), []
        for t in range(x.shape[1]):
            h = x[:, t] @ rnn.weight_ih_l0.T + h @ rnn.weight_hh_l0.T  # no biases, no tanh
            h = torch.tanh(h + rnn.bias_ih_l0)  # one bias, then tanh: the hidden bias missing
            states.append(h)
        return torch.stack(states, 1)

    result = quiet_check("rnn_forward", learner)
    assert result.status == MISTAKE
    assert result.mistake.endswith("the hidden-to-hidden bias is missing")
    assert 'check("rnn_step", rnn_step)' in result.message


def test_rnn_forward_wrong_shape_names_both_shapes():
    result = quiet_check("rnn_forward", lambda x, rnn: rnn_forward(x, rnn).flatten(1))
    assert result.status == WRONG_SHAPE
    assert "expected shape (1, 4, 2), got (1, 8)" in result.message


def test_rnn_forward_exception_names_type_message_and_case():
    def learner(x, rnn):
        return torch.stack([torch.zeros(2)] * x.shape[1] + [x[0, 0, :1]], 0)  # ragged

    result = quiet_check("rnn_forward", learner)
    assert result.status == ERROR and "RuntimeError" in result.message
    assert "case 1 of 4 (B=1, T=4, C=3, H=2)" in result.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda x, rnn: rnn_forward(x, rnn) + 0.01,
        lambda x, rnn: rnn_forward(x.flip(1), rnn).flip(1),  # read backwards
    ],
    ids=["off by 0.01", "the sequence read backwards"],
)
def test_an_unrelated_wrong_rnn_forward_gets_no_hint(learner):
    result = quiet_check("rnn_forward", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES


# --- causal_average ----------------------------------------------------------------


def test_causal_average_is_the_mean_of_the_past_at_every_position():
    x = torch.tensor([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])  # (T, C)
    expected = torch.tensor([[1.0, 10.0], [2.0, 15.0], [3.0, 30.0]])
    assert torch.allclose(causal_average(x), expected)
    later = x.clone()
    later[2] = 100.0  # change the last position only
    assert torch.equal(causal_average(later)[:2], causal_average(x)[:2])


@pytest.mark.parametrize(
    "learner",
    [
        lambda x: x.cumsum(-2) / torch.arange(1, x.shape[-2] + 1)[:, None],
        lambda x: (
            torch.softmax(
                torch.zeros(x.shape[-2], x.shape[-2]).masked_fill(
                    ~torch.ones(x.shape[-2], x.shape[-2], dtype=torch.bool).tril(), float("-inf")
                ),
                dim=-1,
            )
            @ x
        ),
    ],
    ids=["cumsum", "softmax of equal scores under a causal mask"],
)
def test_other_correct_causal_averages_pass(learner):
    assert quiet_check("causal_average", learner).passed


def test_causal_average_mistakes_as_learners_write_them_are_named():
    def transposed(x):  # the right matrix, transposed by habit: the future, by columns
        T = x.shape[-2]
        W = torch.tril(torch.ones(T, T))
        return (W / W.sum(1, keepdim=True)).T @ x

    def mean_of_all(x):
        return torch.ones(x.shape[-2], x.shape[-2]) / x.shape[-2] @ x

    assert quiet_check("causal_average", mean_of_all).mistake.startswith("every position gets")
    # (W / row sums).T is normalised by columns and reads the future: neither mistake alone
    result = quiet_check("causal_average", transposed)
    assert not result.passed and result.mistake is None


def test_causal_average_wrong_shape_names_both_shapes():
    result = quiet_check("causal_average", lambda x: causal_average(x).mean(-1))
    assert result.status == WRONG_SHAPE
    assert "expected shape (4, 3), got (4,)" in result.message


def test_causal_average_exception_names_type_message_and_case():
    def learner(x):
        if x.dim() > 2:
            raise ValueError("one sequence at a time")
        return causal_average(x)

    result = quiet_check("causal_average", learner)
    assert result.status == ERROR and "ValueError: one sequence at a time" in result.message
    assert "case 4 of 5 (batch of 2: T=6, C=4)" in result.message


@pytest.mark.parametrize(
    "learner",
    [
        lambda x: causal_average(x) * 2,
        lambda x: x,  # no mixing at all
        # two mistakes at once (running sums of the future) is neither of them
        lambda x: torch.ones(x.shape[-2], x.shape[-2]).triu() @ x,
    ],
    ids=["doubled", "the input itself", "sums of the future"],
)
def test_an_unrelated_wrong_causal_average_gets_no_hint(learner):
    result = quiet_check("causal_average", learner)
    assert not result.passed and result.mistake is None and "Hint" not in result.message
    assert result.status == WRONG_VALUES
