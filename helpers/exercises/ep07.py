"""Episode 07's "Your turn" exercises: GPT-2's attention weights in the course's layout, and
the induction score.

The episode ("From your GPT to the pretrained ones") shows in section 1 that GPT-2 is the
course's GPT with other names and one other layout: GPT-2's ``Conv1D`` layers store their
weight as (in, out), ready for ``x @ W``, where ``nn.Linear`` stores (out, in). Section 4
trains a two-layer attention-only model on repeated random strings and measures how much
each head attends from a token of the second copy to the token after its previous
occurrence. The exercises ask the learner to write:

- ``attention_from_gpt2`` ("Your turn 1", section 1): one GPT-2 attention layer's four
  tensors (``c_attn`` and ``c_proj``, weight and bias) as the state dict of the course's
  ``MultiHeadAttention``;
- ``induction_score`` ("Your turn 2", section 4): that attention, averaged over the
  second copy, for every head at once.

The references are the course's own code where it exists (``helpers.induction``), so
nothing is defined twice; the mistakes are written out here, one small function each.
"""

import torch

from helpers.exercises.core import Args, Case, Close, Exercise, Mistake
from helpers.induction import induction_scores

# --- attention_from_gpt2 ---------------------------------------------------------------


def attention_from_gpt2(
    c_attn_weight: torch.Tensor,
    c_attn_bias: torch.Tensor,
    c_proj_weight: torch.Tensor,
    c_proj_bias: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Reference: GPT-2's attention tensors as a ``MultiHeadAttention`` state dict.

    c_attn_weight (C, 3C) and c_proj_weight (C, C) are Conv1D weights, (in, out); the
    course's ``qkv`` and ``out`` are nn.Linear, whose weights are (out, in): (3C, C), (C, C).
    """
    return {
        "qkv.weight": c_attn_weight.t(),  # (C, 3C) -> (3C, C)
        "qkv.bias": c_attn_bias,  # (3C,)
        "out.weight": c_proj_weight.t(),  # (C, C) -> (C, C), transposed all the same
        "out.bias": c_proj_bias,  # (C,)
    }


def _gpt2_attention(C: int) -> Args:
    """Random GPT-2 attention tensors of width C, in GPT-2's (in, out) layout."""
    return Args(torch.randn(C, 3 * C), torch.randn(3 * C), torch.randn(C, C), torch.randn(C))


def _nothing_transposed(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    return {
        "qkv.weight": c_attn_weight,
        "qkv.bias": c_attn_bias,
        "out.weight": c_proj_weight,
        "out.bias": c_proj_bias,
    }


def _c_proj_not_transposed(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    # c_attn's shape forces the transpose; c_proj is square, so nothing complains
    return {
        "qkv.weight": c_attn_weight.t(),
        "qkv.bias": c_attn_bias,
        "out.weight": c_proj_weight,
        "out.bias": c_proj_bias,
    }


def _reshaped(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    # the right shapes, the numbers in the wrong places
    C = c_proj_weight.shape[0]
    return {
        "qkv.weight": c_attn_weight.reshape(3 * C, C),
        "qkv.bias": c_attn_bias,
        "out.weight": c_proj_weight.reshape(C, C),
        "out.bias": c_proj_bias,
    }


def _reshaped_only_where_needed(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    C = c_proj_weight.shape[0]
    return {
        "qkv.weight": c_attn_weight.reshape(3 * C, C),
        "qkv.bias": c_attn_bias,
        "out.weight": c_proj_weight,
        "out.bias": c_proj_bias,
    }


def _q_k_v_transposed_one_by_one(c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    # W_Q, W_K, W_V cut from the wrong axis of (C, 3C): rows instead of column blocks
    C = c_proj_weight.shape[0]
    parts = c_attn_weight.reshape(3, C, C)  # reads (C, 3C) as three (C, C) blocks of rows
    return {
        "qkv.weight": torch.cat([p.t() for p in parts], dim=0),
        "qkv.bias": c_attn_bias,
        "out.weight": c_proj_weight.t(),
        "out.bias": c_proj_bias,
    }


ATTENTION_FROM_GPT2 = Exercise(
    name="attention_from_gpt2",
    reference=attention_from_gpt2,
    cases=(
        Case("C=2 (a 2-wide model)", lambda: _gpt2_attention(2), seed=1),
        Case("C=6", lambda: _gpt2_attention(6), seed=2),
        Case("C=12 (12 heads of 1, or 3 heads of 4)", lambda: _gpt2_attention(12), seed=3),
    ),
    compare=Close(atol=0.0, rtol=0.0),  # moving numbers: nothing to round
    mistakes=(
        Mistake(
            "no weight is transposed",
            "Print c_attn_weight.shape and model.attn.qkv.weight.shape: nn.Linear keeps "
            "(out_features, in_features); GPT-2's Conv1D keeps (in, out), ready for x @ W.",
            _nothing_transposed,
        ),
        Mistake(
            "c_attn is transposed but c_proj is not",
            "c_proj is square, so its shape fits either way, but its layout is Conv1D's like "
            "c_attn's: a square matrix will not tell you that it needs turning.",
            _c_proj_not_transposed,
        ),
        Mistake(
            "the weights are reshaped, not transposed",
            "The shapes are right, the numbers are not: a reshape keeps the numbers in their "
            "reading order; only a transpose turns rows into columns.",
            _reshaped,
            also=(_reshaped_only_where_needed,),
        ),
        Mistake(
            "W_Q, W_K and W_V are cut from c_attn's rows instead of its columns",
            "In GPT-2's (C, 3C) c_attn the three matrices sit side by side along the "
            "columns (the output axis); transposing the whole matrix keeps them in order.",
            _q_k_v_transposed_one_by_one,
        ),
    ),
)


# --- induction_score -------------------------------------------------------------------


def induction_score(weights: torch.Tensor, length: int) -> torch.Tensor:
    """Reference: mean attention from each second-copy position t to t - length + 1.

    weights (..., T, T): attention over rows that begin with a string of ``length`` tokens
    followed by the same string (T >= 2 * length); returns (...), one score per head.
    """
    return induction_scores(weights, length)


def _causal_weights(*shape: int) -> torch.Tensor:
    """Random attention weights (..., T, T): softmax over the keys a causal mask leaves."""
    *lead, T = shape
    scores = torch.randn(*lead, T, T) * 2.0
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def _queries(length):
    return torch.arange(length, 2 * length)  # the second copy: L .. 2L-1


def _previous_occurrence(weights, length):
    q = _queries(length)
    return weights[..., q, q - length].mean(-1)  # the current token's earlier copy itself


def _previous_token(weights, length):
    q = _queries(length)
    return weights[..., q, q - 1].mean(-1)


def _whole_diagonal(weights, length):
    # every query from L - 1 to the end: the first copy's last token and any third copy too
    return weights.diagonal(offset=-(length - 1), dim1=-2, dim2=-1).mean(-1)


def _summed(weights, length):
    q = _queries(length)
    return weights[..., q, q - length + 1].sum(-1)


def _keys_and_queries_swapped(weights, length):
    q = _queries(length)
    return weights[..., q - length + 1, q].mean(-1)  # above the diagonal: the future


def _second_copy_from_l_plus_1(weights, length):
    q = torch.arange(length + 1, 2 * length)  # the second copy's first token left out
    return weights[..., q, q - length + 1].mean(-1)


INDUCTION_SCORE = Exercise(
    name="induction_score",
    reference=induction_score,
    cases=(
        Case("one head, L=2, T=4", lambda: Args(_causal_weights(4), 2), seed=1),
        Case(
            "one head, L=3, T=9 (a third copy begins)", lambda: Args(_causal_weights(9), 3), seed=2
        ),
        Case("2 layers x 3 heads, L=4, T=11", lambda: Args(_causal_weights(2, 3, 11), 4), seed=3),
        Case(
            "batch of 5, 2 layers x 2 heads, L=7, T=23 (as in section 4)",
            lambda: Args(_causal_weights(5, 2, 2, 23), 7),
            seed=4,
        ),
    ),
    compare=Close(atol=1e-6, rtol=1e-6),
    mistakes=(
        Mistake(
            "it measures attention to the previous occurrence itself (t - L)",
            "At t - L sits the same token as at t; the induction head wants what came "
            "right after it.",
            _previous_occurrence,
        ),
        Mistake(
            "it measures attention to the previous token (t - 1)",
            "That is a previous-token head's score. The induction head's key is about a "
            "whole string's length back.",
            _previous_token,
        ),
        Mistake(
            "it averages the whole diagonal, beyond the second copy",
            "Count the queries: only the L positions of the second copy (L .. 2L-1) "
            "should be averaged, not every row that has a key L - 1 back.",
            _whole_diagonal,
        ),
        Mistake(
            "it sums over the second copy instead of averaging",
            "A perfect induction head should score 1 whatever L is.",
            _summed,
        ),
        Mistake(
            "queries and keys are swapped (it reads above the diagonal)",
            "weights[..., i, j] is how much query i attends to key j; a causal head never "
            "attends to a later key.",
            _keys_and_queries_swapped,
        ),
        Mistake(
            "the second copy's first position (t = L) is left out",
            "The second copy starts at position L, and its first token already has a "
            "previous occurrence, at 0: the token after it is at 1.",
            _second_copy_from_l_plus_1,
        ),
    ),
)

EXERCISES = (ATTENTION_FROM_GPT2, INDUCTION_SCORE)
