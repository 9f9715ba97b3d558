"""Episode 00's "Your turn" exercises: a linear layer's forward pass, and cross-entropy by hand.

The primer (00_pytorch_primer, sections 6 and 9) shows that ``nn.Linear`` keeps its
weight as (out, in) and computes ``x @ weight.T + bias``, and that ``F.cross_entropy``
is the mean of ``-log softmax`` at the targets, computed stably with the log-sum-exp
trick. The exercises ask the learner to write both from plain tensor operations. The
references are PyTorch's own ``F.linear`` and ``F.cross_entropy``; the mistakes are
written out here, one small function each.
"""

import torch
import torch.nn.functional as F

from helpers.exercises.core import Args, Case, Exercise, Mistake


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Reference: x (..., in) @ weight.T + bias, with weight (out, in) and bias (out,) as nn.Linear keeps them."""
    return F.linear(x, weight, bias)  # (..., out)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Reference: the mean over N rows of -log softmax(logits)[target]; logits (N, V), targets (N,)."""
    return F.cross_entropy(logits, targets)  # ()


# --- linear: the mistakes ----------------------------------------------------------


def _weight_not_transposed(x, weight, bias):
    return x @ weight + bias


def _column_form(x, weight, bias):
    # the papers' W x with x a column, applied to a matrix of rows
    return weight @ x + bias


def _bias_left_out(x, weight, bias):
    return x @ weight.T


# --- linear: the cases --------------------------------------------------------------


def _layer(n_in: int, n_out: int, *batch: int) -> Args:
    """Random x (*batch, n_in), weight (n_out, n_in) and bias (n_out,)."""
    return Args(torch.randn(*batch, n_in), torch.randn(n_out, n_in), torch.randn(n_out))


LINEAR = Exercise(
    name="linear",
    reference=linear,
    cases=(
        Case("one row x (1, 3), weight (2, 3): 3 inputs, 2 outputs", lambda: _layer(3, 2, 1)),
        Case("a square weight (3, 3) and 3 rows: x (3, 3)", lambda: _layer(3, 3, 3), seed=1),
        Case("5 rows x (5, 2), weight (4, 2)", lambda: _layer(2, 4, 5), seed=2),
        Case("a batch x (B, T, C) = (2, 5, 3), weight (6, 3)", lambda: _layer(3, 6, 2, 5), seed=3),
        Case("one output feature: x (3, 4), weight (1, 4)", lambda: _layer(4, 1, 3), seed=4),
    ),
    mistakes=(
        Mistake(
            "the weight is not transposed (x @ weight)",
            "nn.Linear keeps its weight as (out, in), one row per output feature. "
            "x is (..., in): which shape must the right-hand matrix have so that "
            "x @ it gives (..., out)?",
            _weight_not_transposed,
        ),
        Mistake(
            "the column-vector form weight @ x, applied to rows",
            "weight @ x is the papers' form for one column vector x. In this course "
            "each row of x is one input: multiply from the right, so the rows stay rows.",
            _column_form,
        ),
        Mistake(
            "the bias is left out",
            "The products are right; nn.Linear adds one more thing to every output row.",
            _bias_left_out,
        ),
    ),
)


# --- cross_entropy: the mistakes ------------------------------------------------------


def _log_softmax(logits):
    """The stable log-softmax over the last axis (correct, for the mistakes to build on)."""
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def _at_targets(values, targets):
    """values[i, targets[i]] for every row i: (N, V), (N,) -> (N,)."""
    return values[torch.arange(len(targets)), targets]


def _log_missing(logits, targets):
    return -_at_targets(torch.softmax(logits, dim=-1), targets).mean()


def _summed(logits, targets):
    return -_at_targets(_log_softmax(logits), targets).sum()


def _per_example(logits, targets):
    return -_at_targets(_log_softmax(logits), targets)


def _not_normalised(logits, targets):
    return -_at_targets(logits, targets).mean()


def _softmax_over_rows(logits, targets):
    return -_at_targets(torch.log_softmax(logits, dim=0), targets).mean()


def _every_target_for_every_row(logits, targets):
    return -_log_softmax(logits)[:, targets].mean()  # (N, N): row i with every target


def _exp_overflows(logits, targets):
    probs = logits.exp() / logits.exp().sum(dim=-1, keepdim=True)  # inf / inf = nan
    return -_at_targets(probs, targets).log().mean()


def _logsumexp_overflows(logits, targets):
    log_total = logits.exp().sum(dim=-1).log()  # log(inf) = inf
    return (log_total - _at_targets(logits, targets)).mean()


def _log_of_softmax(logits, targets):
    # stable softmax, but a probability that underflows to 0 has log -inf
    return -_at_targets(torch.softmax(logits, dim=-1).log(), targets).mean()


# --- cross_entropy: the cases ---------------------------------------------------------


def _scores(N: int, V: int, scale: float = 1.0) -> Args:
    """Random logits (N, V) of spread ``scale`` and random targets (N,)."""
    return Args(torch.randn(N, V) * scale, torch.randint(V, (N,)))


def _huge_logits_on_target() -> Args:
    """Logits in the hundreds, each target its row's largest: exp() overflows float32."""
    logits = torch.randn(4, 5) * 200 + torch.tensor([0.0, 0.0, 0.0, 0.0, 300.0])  # (N, V)
    return Args(logits, logits.argmax(dim=-1))


def _target_far_behind() -> Args:
    """Moderate logits (50 at most) but each target 120 or more behind: its p underflows to 0."""
    logits = torch.rand(3, 4) * 10 + 40  # (N, V): between 40 and 50
    targets = torch.tensor([0, 2, 3])
    logits[torch.arange(3), targets] = -80.0  # e^-120 is below float32's smallest number
    return Args(logits, targets)


CROSS_ENTROPY = Exercise(
    name="cross_entropy",
    reference=cross_entropy,
    cases=(
        Case("N=3 rows, V=4 classes", lambda: _scores(3, 4)),
        Case("N=8, V=10, logits spread wider (x 4)", lambda: _scores(8, 10, 4.0), seed=1),
        Case("one row: N=1, V=2", lambda: _scores(1, 2), seed=2),
        Case(
            "N=5, V=5, all logits equal (a uniform guess)",
            lambda: Args(torch.zeros(5, 5), torch.arange(5)),
        ),
        Case(
            "N=4, V=5, logits in the hundreds, each target its row's best",
            _huge_logits_on_target,
            seed=3,
        ),
        Case("N=3, V=4, each target 120 or more below its row's best", _target_far_behind, seed=4),
    ),
    mistakes=(
        Mistake(
            "the log is missing (the loss averages -p, not -log p)",
            "Cross-entropy punishes a confident wrong answer without limit: at p -> 0 "
            "the loss should grow towards infinity, not stop at 0.",
            _log_missing,
        ),
        Mistake(
            "the per-row losses are summed, not averaged",
            "F.cross_entropy reports the loss per row, so it does not grow with the "
            "batch size: how do you turn N per-row losses into one such number?",
            _summed,
        ),
        Mistake(
            "the N per-row losses are returned, not their mean",
            "The loss is one number (shape ()), the average over the rows.",
            _per_example,
        ),
        Mistake(
            "the target's logit is used without the softmax (no normalisation)",
            "A logit is not a log-probability until the log of the row's total is "
            "subtracted: log p = z - log(sum(exp(z))).",
            _not_normalised,
        ),
        Mistake(
            "the softmax runs down the rows (dim=0), not across the classes",
            "Each row's probabilities over its V classes should sum to 1: which axis "
            "of the (N, V) logits holds one row's classes?",
            _softmax_over_rows,
        ),
        Mistake(
            "logits[:, targets] picks every target for every row (an (N, N) block)",
            "Row i should be paired with targets[i] only: index with two tensors of "
            "length N, one for the rows and one for the columns.",
            _every_target_for_every_row,
        ),
        Mistake(
            "exp() overflows on large logits (inf / inf = nan)",
            "The softmax does not change when the same number is subtracted from every "
            "logit of a row. Which number keeps every exp() at 1 or below?",
            _exp_overflows,
            also=(_logsumexp_overflows,),
        ),
        Mistake(
            "log(softmax(...)): a probability that underflows to 0 gives log 0 = -inf",
            "Compute log p directly, never p first: log p = (z - m) - log(sum(exp(z - m))) "
            "with m the row's largest logit stays finite.",
            _log_of_softmax,
        ),
    ),
)

EXERCISES = (LINEAR, CROSS_ENTROPY)
