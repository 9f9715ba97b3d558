"""Episode 02's "Your turn" exercises: the causal mask, attention, the online softmax.

The episode ("Attention by hand") builds ``softmax(q @ k^T / sqrt(d_k)) @ v`` step by
step; its exercises ask the learner to build the causal mask ("Your turn 1", section 6),
to write attention in one function with an optional boolean mask (True = may attend, as
in ``helpers.attention``; "Your turn 2", section 6), and to compute one query's output
walking through the keys block by block, the online softmax inside fused attention
kernels ("Your turn 3", section 7). The references are ``helpers.attention``'s own
functions, so nothing is defined twice; each mistake is written out here beside its name
and hint (a lambda, a small function, or steps of ``_online`` switched off).
"""

import math
from functools import partial

import torch

from helpers.attention import causal_mask as _causal_mask
from helpers.attention import online_attention, padding_mask, scaled_dot_product_attention
from helpers.exercises.core import Args, Case, Exact, Exercise, Mistake

__all__ = ["EXERCISES", "attention", "causal_mask", "online_attention"]


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Reference: softmax(q @ k^T / sqrt(d_k), hiding keys where mask is False) @ v.

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v), mask broadcastable to
    (..., T_q, T_k); returns (..., T_q, d_v).
    """
    return scaled_dot_product_attention(q, k, v, mask)[0]


def causal_mask(T: int) -> torch.Tensor:
    """Reference: the (T, T) boolean mask, True where query i may attend key j (j <= i)."""
    return _causal_mask(T)


# --- attention: the mistakes ------------------------------------------------------


def _hide(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Scores with the keys the mask hides set to -inf (the correct way, for the mistakes)."""
    return scores if mask is None else scores.masked_fill(~mask, float("-inf"))


def _scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.transpose(-2, -1)  # (..., T_q, T_k)


def _scaled(q: torch.Tensor, k: torch.Tensor, width: int | None = None) -> torch.Tensor:
    """The scores divided by sqrt(width), the key width d_k unless told otherwise."""
    return _scores(q, k) / math.sqrt(q.shape[-1] if width is None else width)


def _attend(scores, v, mask, dim=-1):
    """Softmax of the scores (hidden keys at -inf) over ``dim``, then the weighted values."""
    return torch.softmax(_hide(scores, mask), dim=dim) @ v


def _mask_inverted_large_negative(q, k, v, mask=None):
    # the same mistake with -1e9 for hidden scores: a row with every key hidden
    # becomes a plain average instead of NaN
    scores = _scaled(q, k)
    return torch.softmax(scores if mask is None else scores.masked_fill(mask, -1e9), dim=-1) @ v


def _mask_after_softmax(q, k, v, mask=None):
    weights = torch.softmax(_scaled(q, k), dim=-1)
    return (weights if mask is None else weights * mask) @ v


# --- attention: the cases ----------------------------------------------------------


def _qkv_case(name: str, spec: tuple, mask=None) -> Case:
    """A Case from spec (seed, batch, T_q, T_k, d_k, d_v): random q (*batch, T_q, d_k),
    k (*batch, T_k, d_k), v (*batch, T_k, d_v), then ``mask(T_q, T_k)`` if a builder is given."""
    seed, batch, T_q, T_k, d_k, d_v = spec

    def build() -> Args:
        q, k = torch.randn(*batch, T_q, d_k), torch.randn(*batch, T_k, d_k)
        v = torch.randn(*batch, T_k, d_v)
        return Args(q, k, v) if mask is None else Args(q, k, v, mask(T_q, T_k))

    return Case(name, build, seed=seed)


def _mixed_mask(T_q: int, T_k: int) -> torch.Tensor:
    """A (T_q, T_k) boolean mask with its own pattern per row and one allowed key at least."""
    mask = torch.rand(T_q, T_k) < 0.5
    mask[torch.arange(T_q), torch.randint(T_k, (T_q,))] = True
    return mask


def _padding_6_4(T_q: int, T_k: int) -> torch.Tensor:
    return padding_mask([6, 4], T_k)  # (2, 1, T_k): the second sequence is 4 long


ATTENTION_CASES = (
    _qkv_case("no batch: T=4, d_k=3, d_v=2, no mask", (1, (), 4, 4, 3, 2)),
    _qkv_case("no batch: T_q=2 != T_k=5, d_k=5, d_v=3, no mask", (2, (), 2, 5, 5, 3)),
    _qkv_case(
        "batch of 2: T=5, d_k=4, d_v=6, causal mask (5, 5)", (3, (2,), 5, 5, 4, 6), _causal_mask
    ),
    _qkv_case(
        "batch of 2: T_q=3 != T_k=6, d_k=8, d_v=2, padding mask (2, 1, 6)",
        (4, (2,), 3, 6, 8, 2),
        _padding_6_4,
    ),
    _qkv_case(
        "batch of 2 x 3 heads: T=4, d_k=6, d_v=5, causal mask (4, 4)",
        (5, (2, 3), 4, 4, 6, 5),
        _causal_mask,
    ),
    _qkv_case(
        "no batch: T_q=3, T_k=4, d_k=2, d_v=3, a different mask per query (3, 4)",
        (6, (), 3, 4, 2, 3),
        _mixed_mask,
    ),
    _qkv_case(
        "batch of 3: one query, seven keys (T_q=1, T_k=7), d_k=2, d_v=4", (7, (3,), 1, 7, 2, 4)
    ),
    _qkv_case("batch of 2: one position (T_q=T_k=1), d_k=4, d_v=3", (8, (2,), 1, 1, 4, 3)),
)

ATTENTION = Exercise(
    name="attention",
    reference=attention,
    cases=ATTENTION_CASES,
    mistakes=(
        Mistake(
            "the scores are not scaled",
            "With d_k features, q . k grows with d_k and the softmax saturates; "
            "something should keep the scores' spread independent of the width.",
            lambda q, k, v, mask=None: _attend(_scores(q, k), v, mask),
        ),
        Mistake(
            "the scores are divided by d_k itself",
            "Dot products of d_k random unit-variance numbers have variance d_k. "
            "Dividing by d_k shrinks them too much: which size keeps their spread near 1?",
            lambda q, k, v, mask=None: _attend(_scores(q, k) / q.shape[-1], v, mask),
        ),
        Mistake(
            "the scale uses the width of the values (or the model), not of the keys",
            "The scores are dot products of queries with keys, so the width that matters "
            "is the one those two share.",
            lambda q, k, v, mask=None: _attend(_scaled(q, k, v.shape[-1]), v, mask),
        ),
        Mistake(
            "the key width is read from a fixed axis",
            "Right without a batch, wrong with one: with a batch (and heads) in front, "
            "axis 1 is no longer the feature axis. Count the axes from the end.",
            # q.shape[1] is d_k without a batch, but T (or the heads) with one
            lambda q, k, v, mask=None: _attend(_scaled(q, k, q.shape[1]), v, mask),
        ),
        Mistake(
            "the softmax runs over the queries (dim=-2) instead of the keys",
            "Each query's weights over the keys should sum to 1: which axis of the "
            "(T_q, T_k) scores holds one query's keys?",
            lambda q, k, v, mask=None: _attend(_scaled(q, k), v, mask, dim=-2),
        ),
        Mistake(
            "the softmax runs over a fixed axis (dim=1)",
            "Right without a batch, wrong with one: the keys' axis is the last one "
            "whatever comes in front.",
            # dim=1 is the keys' axis without a batch, another axis with one
            lambda q, k, v, mask=None: _attend(_scaled(q, k), v, mask, dim=1),
        ),
        Mistake(
            "the mask's meaning is inverted",
            "In this course True means 'may attend' (as in helpers.attention and "
            "a boolean attn_mask in F.scaled_dot_product_attention): hide the keys "
            "where the mask is False.",
            lambda q, k, v, mask=None: _attend(_scaled(q, k), v, None if mask is None else ~mask),
            also=(_mask_inverted_large_negative,),
        ),
        Mistake(
            "the mask is ignored",
            "Cases with a mask give the unmasked answer: the mask has to change the "
            "scores of the keys it hides.",
            lambda q, k, v, mask=None: _attend(_scaled(q, k), v, None),
        ),
        Mistake(
            "the mask is applied after the softmax",
            "Zeroing weights after the softmax leaves rows that no longer sum to 1; "
            "hide keys before the softmax normalises.",
            _mask_after_softmax,
        ),
        Mistake(
            "the keys are not transposed",
            "q is (T_q, d_k) and k is (T_k, d_k): what has to happen to k so that "
            "multiplying gives one score per (query, key) pair, (T_q, T_k)?",
            lambda q, k, v, mask=None: _attend((q @ k) / math.sqrt(q.shape[-1]), v, mask),
        ),
        Mistake(
            "the keys are transposed on fixed axes (like k.T or k.transpose(0, 1))",
            "Right without a batch, an error with one: swap the last two axes, counted "
            "from the end, so any batch or head axes in front stay where they are.",
            # right for a (T, d) matrix, wrong once a batch axis comes first
            lambda q, k, v, mask=None: _attend(
                (q @ k.transpose(0, 1)) / math.sqrt(q.shape[-1]), v, mask
            ),
        ),
        Mistake(
            "the weights are returned, not the weighted sum of the values",
            "The weights say how much of each value to take; the output mixes the "
            "values with them, so it has the values' width d_v.",
            lambda q, k, v, mask=None: torch.softmax(_hide(_scaled(q, k), mask), dim=-1),
        ),
    ),
)


# --- causal_mask ---------------------------------------------------------------------


CAUSAL_MASK = Exercise(
    name="causal_mask",
    reference=causal_mask,
    cases=(
        Case("T=1", lambda: Args(1)),
        Case("T=2", lambda: Args(2)),
        Case("T=4", lambda: Args(4)),
        Case("T=7", lambda: Args(7)),
    ),
    mistakes=(
        Mistake(
            "True above the diagonal (each query may see the future, not the past)",
            "Row i is query i and column j is key j. Which keys j may query i read "
            "when it must not see what comes after it?",
            lambda T: torch.ones(T, T, dtype=torch.bool).triu(),
        ),
        Mistake(
            "the diagonal is excluded (no token may attend to itself)",
            "Look at row 0: the first token would have no key at all to attend to. "
            "May a token see its own position?",
            lambda T: torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1),
        ),
        Mistake(
            "True marks the hidden keys",
            "In this course True means 'may attend' (as in helpers.attention and a "
            "boolean attn_mask in F.scaled_dot_product_attention).",
            lambda T: torch.ones(T, T, dtype=torch.bool).triu(diagonal=1),
        ),
        Mistake(
            "the mask holds 0.0 and 1.0 floats, not booleans",
            "The right pattern, the wrong dtype: ~mask and masked_fill need a torch.bool tensor.",
            lambda T: torch.ones(T, T).tril(),
        ),
        Mistake(
            "an additive mask (0 and -inf) instead of a boolean one",
            "That is the form that is added to the scores. This exercise asks for "
            "booleans: True where query i may attend key j.",
            lambda T: torch.full((T, T), float("-inf")).triu(diagonal=1),
        ),
    ),
    compare=Exact(),
)


# --- online_softmax --------------------------------------------------------------------


def _blocks(k, v, b):
    """(k_block, v_block) pairs, b keys at a time (the last block may be shorter)."""
    return [(k[i : i + b], v[i : i + b]) for i in range(0, k.shape[0], b)]


def _online(q, k, v, block_size, off: tuple[str, ...] = ()):
    """The online softmax with the steps named in ``off`` switched off (each mistake is one).

    Steps: scale, rescale_total, rescale_acc, subtract_max, carry_max, normalise, short_block.
    """
    d = 1.0 if "scale" in off else math.sqrt(q.shape[-1])
    m = torch.tensor(float("-inf"))
    total, acc = torch.zeros(()), torch.zeros(v.shape[-1])
    for k_b, v_b in _blocks(k, v, block_size):
        if "short_block" in off and k_b.shape[0] < block_size:
            continue  # the last, shorter block skipped
        s = k_b @ q / d  # (b,)
        if "subtract_max" in off:
            p = torch.exp(s)
            total, acc = total + p.sum(), acc + p @ v_b
            continue
        m_new = torch.maximum(m, s.max())
        rescale = torch.exp(m - m_new)
        p = torch.exp(s - m_new)
        total = (total if "rescale_total" in off else total * rescale) + p.sum()
        acc = (acc if "rescale_acc" in off else acc * rescale) + p @ v_b
        if "carry_max" not in off:
            m = m_new
    return acc if "normalise" in off else acc / total


def _online_blocks_averaged(q, k, v, block_size):
    # each block's own softmax output, then a plain average of the blocks' outputs
    outs = [
        torch.softmax(k_b @ q / math.sqrt(q.shape[-1]), dim=-1) @ v_b
        for k_b, v_b in _blocks(k, v, block_size)
    ]
    return torch.stack(outs).mean(dim=0)


def _one_query_case(name: str, spec: tuple, factor=None, score=None) -> Case:
    """A Case from spec (seed, T_k, d_k, d_v, block_size): random q (d_k,), k (T_k, d_k),
    v (T_k, d_v); with ``factor`` the last key is factor * q, so it matches q best and the
    maximum rises in the last block; with ``score`` its scaled score is exactly that."""
    seed, T_k, d_k, d_v, block_size = spec

    def build() -> Args:
        q, k, v = torch.randn(d_k), torch.randn(T_k, d_k), torch.randn(T_k, d_v)
        f = factor if score is None else score * math.sqrt(d_k) / float(q @ q)
        if f is not None:
            k[-1] = f * q  # scaled score f * |q|^2 / sqrt(d_k): far above the others
        return Args(q, k, v, block_size)

    return Case(name, build, seed=seed)


ONLINE_SOFTMAX = Exercise(
    name="online_softmax",
    reference=online_attention,
    cases=(
        _one_query_case("8 keys in 2 blocks of 4, d_k=16, d_v=5", (1, 8, 16, 5, 4)),
        _one_query_case(
            "7 keys in blocks of 3 (the last block holds one key), d_k=4, d_v=3", (2, 7, 4, 3, 3)
        ),
        _one_query_case("6 keys one at a time (block_size=1), d_k=8, d_v=2", (3, 6, 8, 2, 1)),
        _one_query_case(
            "5 keys, block_size=8: one block holds them all, d_k=4, d_v=4", (4, 5, 4, 4, 8)
        ),
        _one_query_case(
            "9 keys in blocks of 3, the best-matching key in the last block, d_k=6, d_v=3",
            (5, 9, 6, 3, 3),
            factor=3.0,
        ),
        _one_query_case(
            "large scores: 8 keys in blocks of 4, the last key's score is 150, d_k=4, d_v=2",
            (6, 8, 4, 2, 4),
            score=150.0,
        ),
    ),
    mistakes=(
        Mistake(
            "the running sums are not rescaled when the maximum changes",
            "The sums you carry were measured against the maximum of their time. When a "
            "later block raises the maximum, what happens to terms measured against the old one?",
            partial(_online, off=("rescale_total", "rescale_acc")),
        ),
        Mistake(
            "the running total is rescaled, but not the running sum of values",
            "Both running quantities were measured against the same old maximum.",
            partial(_online, off=("rescale_acc",)),
        ),
        Mistake(
            "the running maximum is not carried from one block to the next",
            "Only the last block seems to count: between blocks, keep everything the "
            "running sums depend on.",
            partial(_online, off=("carry_max",)),
        ),
        Mistake(
            "the output is not divided by the running total",
            "Softmax weights sum to 1; what you accumulated are unnormalised weights times values.",
            partial(_online, off=("normalise",)),
        ),
        Mistake(
            "the maximum is not subtracted before exp: it overflows for large scores",
            "exp(89) is already inf in float32. Which shift keeps every exponent you take "
            "at or below 0 without changing the softmax?",
            partial(_online, off=("subtract_max",)),
        ),
        Mistake(
            "the scores are not scaled",
            "These are attention scores: the same scaling as in section 3 comes before "
            "the softmax.",
            partial(_online, off=("scale",)),
        ),
        Mistake(
            "the last, shorter block is skipped",
            "7 keys in blocks of 3 make how many blocks? Every key has to be read once.",
            partial(_online, off=("short_block",)),
        ),
        Mistake(
            "each block is normalised on its own and the blocks' outputs averaged",
            "Blocks do not count equally: a block whose scores are larger deserves more of "
            "the weight. Carry unnormalised sums across blocks and normalise once.",
            _online_blocks_averaged,
        ),
    ),
)

EXERCISES = (ATTENTION, CAUSAL_MASK, ONLINE_SOFTMAX)
