"""Episode 01's "Your turn" exercises: an RNN by hand, and averaging the past.

The episode ("Why transformers replaced RNNs") writes a tanh RNN one step at a time
(section 2, "How an RNN reads"); "Your turn 1" asks the learner to do it from the
weights ``torch.nn.RNN`` stores, as ``rnn_step`` (one step) and ``rnn_forward`` (the
unrolled loop over a batch of sequences). Section 3 ("How attention reads") starts
from the simplest way to use every earlier position at once, a plain average of the
past as one product with a lower-triangular matrix; "Your turn 2" (``causal_average``)
asks for it. Attention (episode 02) keeps that product and learns the weights.
The references are written here (the notebook's own loop takes ``W_xh`` and ``W_hh``
already transposed); every mistake is one small function.
"""

import torch
from torch import nn

from helpers.exercises.core import Args, Case, Exercise, Mistake

# --- rnn_step ----------------------------------------------------------------------


def rnn_step(x_t: torch.Tensor, h: torch.Tensor, rnn: nn.RNN) -> torch.Tensor:
    """Reference: one step of a one-layer tanh ``nn.RNN``: (B, C) and (B, H) -> the next h (B, H).

    PyTorch stores ``weight_ih_l0`` as (H, C) and ``weight_hh_l0`` as (H, H), (out, in),
    so with row vectors they are used transposed; both biases (H,) are added.
    """
    return torch.tanh(
        x_t @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
    )


def _hidden_bias_forgotten(x_t, h, rnn):
    return torch.tanh(x_t @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T)


def _no_bias(x_t, h, rnn):
    return torch.tanh(x_t @ rnn.weight_ih_l0.T + h @ rnn.weight_hh_l0.T)


def _tanh_missing(x_t, h, rnn):
    return x_t @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0


def _not_transposed(x_t, h, rnn):
    # right only when the weights are square, and then with the wrong numbers
    return torch.tanh(
        x_t @ rnn.weight_ih_l0 + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0 + rnn.bias_hh_l0
    )


def _previous_state_ignored(x_t, h, rnn):
    return torch.tanh(x_t @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + rnn.bias_hh_l0)


def _rnn(C: int, H: int) -> nn.RNN:
    """A fresh one-layer tanh nn.RNN (its weights from the case's seeded generator)."""
    return nn.RNN(C, H, batch_first=True)


def _step_args(B: int, C: int, H: int, first: bool = False) -> Args:
    """x_t (B, C), h (B, H) (zeros for a first step) and an nn.RNN(C, H)."""
    rnn = _rnn(C, H)
    x_t = torch.randn(B, C)
    h = torch.zeros(B, H) if first else torch.tanh(torch.randn(B, H))
    return Args(x_t, h, rnn)


RNN_STEP = Exercise(
    name="rnn_step",
    reference=rnn_step,
    cases=(
        Case("B=1, C=3, H=2, the first step (h = 0)", lambda: _step_args(1, 3, 2, first=True), 1),
        Case("B=4, C=5, H=3", lambda: _step_args(4, 5, 3), seed=2),
        Case("B=2, C=4, H=4 (square weights)", lambda: _step_args(2, 4, 4), seed=3),
        Case("B=3, C=2, H=6", lambda: _step_args(3, 2, 6), seed=4),
    ),
    mistakes=(
        Mistake(
            "the hidden-to-hidden bias is missing",
            "nn.RNN has two bias vectors, one with each weight matrix. "
            "Look at rnn's parameters: are all four in your formula?",
            _hidden_bias_forgotten,
        ),
        Mistake(
            "no bias at all",
            "Even with x_t and h both zero, nn.RNN's next state is not zero. "
            "What else does the layer hold besides its two weight matrices?",
            _no_bias,
        ),
        Mistake(
            "tanh is missing",
            "Your values can leave the range (-1, 1), which nn.RNN's states never do: "
            "something squashes the sum.",
            _tanh_missing,
        ),
        Mistake(
            "the weights are used as stored, (out, in), without a transpose",
            "PyTorch stores a layer's weight as (out, in). With a row vector x_t of "
            "shape (B, in), which way round must the matrix be to give (B, out)?",
            _not_transposed,
        ),
        Mistake(
            "the previous state h is not used",
            "Then each step would only see its own input. The memory comes in "
            "through a second product: which tensor is it applied to?",
            _previous_state_ignored,
        ),
    ),
)


# --- rnn_forward -------------------------------------------------------------------


def rnn_forward(x: torch.Tensor, rnn: nn.RNN) -> torch.Tensor:
    """Reference: a one-layer tanh ``nn.RNN`` unrolled over x (B, T, C) from h = 0: (B, T, H).

    The same as ``rnn(x)[0]`` for a batch-first ``nn.RNN``: the hidden state after every step.
    """
    B, T, _ = x.shape
    h = torch.zeros(B, rnn.hidden_size)  # (B, H): the memory starts empty
    states = []
    for t in range(T):  # step t needs the h of step t - 1
        h = rnn_step(x[:, t], h, rnn)  # (B, H)
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H)


def _unroll(step, x, rnn, *, carry=True, store_before=False):
    """The loop around ``step``, with one of its two usual slips switched on."""
    B, T, _ = x.shape
    h = torch.zeros(B, rnn.hidden_size)
    states = []
    for t in range(T):
        h_new = step(x[:, t], h if carry else torch.zeros_like(h), rnn)
        states.append(h if store_before else h_new)
        h = h_new
    return torch.stack(states, dim=1)


def _state_not_carried(x, rnn):
    return _unroll(rnn_step, x, rnn, carry=False)


def _state_stored_before_the_step(x, rnn):
    return _unroll(rnn_step, x, rnn, store_before=True)


def _last_state_only(x, rnn):
    return _unroll(rnn_step, x, rnn)[:, -1]  # (B, H): what nn.RNN returns second


def _time_first(x, rnn):
    return _unroll(rnn_step, x, rnn).transpose(0, 1)  # (T, B, H)


def _with_step(step_mistake: Mistake) -> Mistake:
    """rnn_forward's mistake when the loop is right but the step makes ``step_mistake``."""
    return Mistake(
        f"the loop is right, but each step makes a mistake: {step_mistake.name}",
        f'Check your step on its own with check("rnn_step", rnn_step). {step_mistake.hint}',
        lambda x, rnn: _unroll(step_mistake.fn, x, rnn),
    )


def _forward_args(B: int, T: int, C: int, H: int) -> Args:
    """x (B, T, C) and an nn.RNN(C, H)."""
    rnn = _rnn(C, H)
    return Args(torch.randn(B, T, C), rnn)


RNN_FORWARD = Exercise(
    name="rnn_forward",
    reference=rnn_forward,
    cases=(
        Case("B=1, T=4, C=3, H=2", lambda: _forward_args(1, 4, 3, 2), seed=1),
        Case("B=2, T=5, C=4, H=4 (square weights)", lambda: _forward_args(2, 5, 4, 4), seed=2),
        Case("B=3, T=1 (one step), C=2, H=3", lambda: _forward_args(3, 1, 2, 3), seed=3),
        Case("B=2, T=6, C=3, H=5", lambda: _forward_args(2, 6, 3, 5), seed=4),
    ),
    mistakes=(
        Mistake(
            "the state is not carried from one step to the next",
            "Each step starts from an empty memory (or ignores it), so each state only "
            "knows its own input. Where does step t get the h it builds on?",
            _state_not_carried,
        ),
        Mistake(
            "each state is stored before its step is taken",
            "Your first state is all zeros and every state is one step late: the output "
            "at position t should already have read x_t.",
            _state_stored_before_the_step,
        ),
        Mistake(
            "only the last state is returned",
            "That is what nn.RNN returns second (h_n). The exercise wants the state after "
            "every step, one per position, (B, T, H).",
            _last_state_only,
        ),
        Mistake(
            "the states are stacked with time first, (T, B, H)",
            "The course's tensors are batch first, (B, T, ...), like an nn.RNN built "
            "with batch_first=True: along which axis should the steps be stacked?",
            _time_first,
        ),
        # a step that ignores h is the same slip as not carrying it: named once, above
        *(_with_step(m) for m in RNN_STEP.mistakes if m.fn is not _previous_state_ignored),
    ),
)


# --- causal_average ----------------------------------------------------------------


def causal_average(x: torch.Tensor) -> torch.Tensor:
    """Reference: the mean of positions 0..t at every t, as one matrix product: (..., T, C).

    ``W`` (T, T) is lower-triangular with row t holding 1 / (t + 1) in columns 0..t, and
    the output is ``W @ x``: every position at once, none reading a later one.
    """
    T = x.shape[-2]
    W = torch.ones(T, T, dtype=x.dtype).tril()  # (T, T): row t has ones in columns 0..t
    W = W / W.sum(dim=-1, keepdim=True)  # each row sums to 1: an average
    return W @ x  # (T, T) @ (..., T, C) -> (..., T, C)


def _triangle(T, dtype, upper=False, diagonal=0):
    ones = torch.ones(T, T, dtype=dtype)
    return ones.triu(diagonal) if upper else ones.tril(diagonal)


def _future_averaged(x):
    W = _triangle(x.shape[-2], x.dtype, upper=True)
    return (W / W.sum(-1, keepdim=True)) @ x


def _not_normalised(x):
    return _triangle(x.shape[-2], x.dtype) @ x  # running sums


def _divided_by_length(x):
    T = x.shape[-2]
    return (_triangle(T, x.dtype) / T) @ x


def _whole_sequence_mean(x):
    return x.mean(dim=-2, keepdim=True).expand_as(x)


def _current_position_excluded(x):
    W = _triangle(x.shape[-2], x.dtype, diagonal=-1)
    return (W / W.sum(-1, keepdim=True)) @ x  # row 0: 0 / 0


def _current_position_excluded_zero_row(x):
    W = _triangle(x.shape[-2], x.dtype, diagonal=-1)
    return (W / W.sum(-1, keepdim=True).clamp_min(1)) @ x  # row 0 left at 0


def _normalised_by_columns(x):
    W = _triangle(x.shape[-2], x.dtype)
    return (W / W.sum(0, keepdim=True)) @ x


def _matrix_on_the_right(x):
    W = _triangle(x.shape[-2], x.dtype)
    return x @ (W / W.sum(-1, keepdim=True))  # mixes features, not positions


CAUSAL_AVERAGE = Exercise(
    name="causal_average",
    reference=causal_average,
    cases=(
        Case("no batch: T=4, C=3", lambda: Args(torch.randn(4, 3)), seed=1),
        Case("no batch: one position, T=1, C=2", lambda: Args(torch.randn(1, 2)), seed=2),
        Case("no batch: T=5, C=5 (square)", lambda: Args(torch.randn(5, 5)), seed=3),
        Case("batch of 2: T=6, C=4", lambda: Args(torch.randn(2, 6, 4)), seed=4),
        Case("batch of 2 x 3 heads: T=3, C=2", lambda: Args(torch.randn(2, 3, 3, 2)), seed=5),
    ),
    mistakes=(
        Mistake(
            "the upper triangle: each position averages itself and the future",
            "Row t of the matrix is position t's recipe, column s is the position it "
            "reads. Which columns may row t use if it must not see what comes later?",
            _future_averaged,
        ),
        Mistake(
            "the rows are not normalised (running sums, not means)",
            "Later positions come out larger and larger. For a mean, what must each row "
            "of the matrix add up to?",
            _not_normalised,
        ),
        Mistake(
            "every row is divided by T",
            "Position t averages t + 1 values, not T: only the last row has T of them.",
            _divided_by_length,
        ),
        Mistake(
            "every position gets the mean of the whole sequence, the future included",
            "All your rows are the same. Position t may only use positions 0..t.",
            _whole_sequence_mean,
        ),
        Mistake(
            "the current position is left out",
            "Look at position 0: it has nothing before it. Does a position count itself "
            "in the average of 'everything up to now'?",
            _current_position_excluded,
            also=(_current_position_excluded_zero_row,),
        ),
        Mistake(
            "the columns are normalised instead of the rows",
            "Each output position's weights are one row of the matrix: it is the rows "
            "that must each add up to 1.",
            _normalised_by_columns,
        ),
        Mistake(
            "the matrix multiplies from the right, x @ W",
            "x is (T, C): multiplying on the right mixes the C features of each "
            "position. Which side mixes positions?",
            _matrix_on_the_right,
        ),
    ),
)

EXERCISES = (RNN_STEP, RNN_FORWARD, CAUSAL_AVERAGE)
