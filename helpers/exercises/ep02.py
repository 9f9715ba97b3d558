"""Episode 02's "Your turn" exercises: attention, the causal mask, the online softmax.

The episode ("Attention by hand") builds ``softmax(q @ k^T / sqrt(d_k)) @ v`` step by
step; its exercises ask the learner to write it in one function, with an optional
boolean mask (True = may attend, as in ``helpers.attention``; "Your turn 1", section 5),
to build the causal mask ("Your turn 2", section 6), and to compute one query's output
walking through the keys block by block, the online softmax inside fused attention
kernels ("Your turn 3", section 7). The first two references are ``helpers.attention``'s
own functions, so nothing is defined twice; the online softmax has no other home, so its
reference is written here. The mistakes are written out here, one small function each.
"""

import math

import torch

from helpers.attention import causal_mask as _causal_mask
from helpers.attention import padding_mask, scaled_dot_product_attention
from helpers.exercises.core import Args, Case, Exact, Exercise, Mistake


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


def _not_scaled(q, k, v, mask=None):
    return torch.softmax(_hide(_scores(q, k), mask), dim=-1) @ v


def _scaled_by_d_k(q, k, v, mask=None):
    return torch.softmax(_hide(_scores(q, k) / q.shape[-1], mask), dim=-1) @ v


def _scaled_by_value_width(q, k, v, mask=None):
    return torch.softmax(_hide(_scores(q, k) / math.sqrt(v.shape[-1]), mask), dim=-1) @ v


def _scale_from_fixed_axis(q, k, v, mask=None):
    # q.shape[1] is d_k without a batch, but T (or the heads) with one
    return torch.softmax(_hide(_scores(q, k) / math.sqrt(q.shape[1]), mask), dim=-1) @ v


def _softmax_over_queries(q, k, v, mask=None):
    scores = _hide(_scores(q, k) / math.sqrt(q.shape[-1]), mask)
    return torch.softmax(scores, dim=-2) @ v


def _softmax_over_fixed_axis(q, k, v, mask=None):
    # dim=1 is the keys' axis without a batch, another axis with one
    scores = _hide(_scores(q, k) / math.sqrt(q.shape[-1]), mask)
    return torch.softmax(scores, dim=1) @ v


def _mask_inverted(q, k, v, mask=None):
    scores = _scores(q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _mask_inverted_large_negative(q, k, v, mask=None):
    # the same mistake with -1e9 for hidden scores: a row with every key hidden
    # becomes a plain average instead of NaN
    scores = _scores(q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, -1e9)
    return torch.softmax(scores, dim=-1) @ v


def _mask_ignored(q, k, v, mask=None):
    return torch.softmax(_scores(q, k) / math.sqrt(q.shape[-1]), dim=-1) @ v


def _mask_after_softmax(q, k, v, mask=None):
    weights = torch.softmax(_scores(q, k) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v


def _keys_not_transposed(q, k, v, mask=None):
    scores = _hide((q @ k) / math.sqrt(q.shape[-1]), mask)
    return torch.softmax(scores, dim=-1) @ v


def _keys_transposed_on_fixed_axes(q, k, v, mask=None):
    # right for a (T, d) matrix, wrong once a batch axis comes first
    scores = _hide((q @ k.transpose(0, 1)) / math.sqrt(q.shape[-1]), mask)
    return torch.softmax(scores, dim=-1) @ v


def _weights_returned(q, k, v, mask=None):
    return torch.softmax(_hide(_scores(q, k) / math.sqrt(q.shape[-1]), mask), dim=-1)


# --- attention: the cases ----------------------------------------------------------


def _qkv(batch: tuple[int, ...], T_q: int, T_k: int, d_k: int, d_v: int):
    """Random q (*batch, T_q, d_k), k (*batch, T_k, d_k), v (*batch, T_k, d_v)."""
    q = torch.randn(*batch, T_q, d_k)
    k = torch.randn(*batch, T_k, d_k)
    v = torch.randn(*batch, T_k, d_v)
    return q, k, v


def _mixed_mask(T_q: int, T_k: int) -> torch.Tensor:
    """A (T_q, T_k) boolean mask with its own pattern per row and one allowed key at least."""
    mask = torch.rand(T_q, T_k) < 0.5
    mask[torch.arange(T_q), torch.randint(T_k, (T_q,))] = True
    return mask


ATTENTION_CASES = (
    Case("no batch: T=4, d_k=3, d_v=2, no mask", lambda: Args(*_qkv((), 4, 4, 3, 2)), seed=1),
    Case(
        "no batch: T_q=2 != T_k=5, d_k=5, d_v=3, no mask",
        lambda: Args(*_qkv((), 2, 5, 5, 3)),
        seed=2,
    ),
    Case(
        "batch of 2: T=5, d_k=4, d_v=6, causal mask (5, 5)",
        lambda: Args(*_qkv((2,), 5, 5, 4, 6), _causal_mask(5)),
        seed=3,
    ),
    Case(
        "batch of 2: T_q=3 != T_k=6, d_k=8, d_v=2, padding mask (2, 1, 6)",
        lambda: Args(*_qkv((2,), 3, 6, 8, 2), padding_mask([6, 4], 6)),
        seed=4,
    ),
    Case(
        "batch of 2 x 3 heads: T=4, d_k=6, d_v=5, causal mask (4, 4)",
        lambda: Args(*_qkv((2, 3), 4, 4, 6, 5), _causal_mask(4)),
        seed=5,
    ),
    Case(
        "no batch: T_q=3, T_k=4, d_k=2, d_v=3, a different mask per query (3, 4)",
        lambda: Args(*_qkv((), 3, 4, 2, 3), _mixed_mask(3, 4)),
        seed=6,
    ),
    Case(
        "batch of 3: one query, seven keys (T_q=1, T_k=7), d_k=2, d_v=4",
        lambda: Args(*_qkv((3,), 1, 7, 2, 4)),
        seed=7,
    ),
    Case(
        "batch of 2: one position (T_q=T_k=1), d_k=4, d_v=3",
        lambda: Args(*_qkv((2,), 1, 1, 4, 3)),
        seed=8,
    ),
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
            _not_scaled,
        ),
        Mistake(
            "the scores are divided by d_k itself",
            "Dot products of d_k random unit-variance numbers have variance d_k. "
            "Dividing by d_k shrinks them too much: which size keeps their spread near 1?",
            _scaled_by_d_k,
        ),
        Mistake(
            "the scale uses the width of the values (or the model), not of the keys",
            "The scores are dot products of queries with keys, so the width that matters "
            "is the one those two share.",
            _scaled_by_value_width,
        ),
        Mistake(
            "the key width is read from a fixed axis",
            "Right without a batch, wrong with one: with a batch (and heads) in front, "
            "axis 1 is no longer the feature axis. Count the axes from the end.",
            _scale_from_fixed_axis,
        ),
        Mistake(
            "the softmax runs over the queries (dim=-2) instead of the keys",
            "Each query's weights over the keys should sum to 1: which axis of the "
            "(T_q, T_k) scores holds one query's keys?",
            _softmax_over_queries,
        ),
        Mistake(
            "the softmax runs over a fixed axis (dim=1)",
            "Right without a batch, wrong with one: the keys' axis is the last one "
            "whatever comes in front.",
            _softmax_over_fixed_axis,
        ),
        Mistake(
            "the mask's meaning is inverted",
            "In this course True means 'may attend' (as in helpers.attention and "
            "a boolean attn_mask in F.scaled_dot_product_attention): hide the keys "
            "where the mask is False.",
            _mask_inverted,
            also=(_mask_inverted_large_negative,),
        ),
        Mistake(
            "the mask is ignored",
            "Cases with a mask give the unmasked answer: the mask has to change the "
            "scores of the keys it hides.",
            _mask_ignored,
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
            _keys_not_transposed,
        ),
        Mistake(
            "the keys are transposed on fixed axes (like k.T or k.transpose(0, 1))",
            "Right without a batch, an error with one: swap the last two axes, counted "
            "from the end, so any batch or head axes in front stay where they are.",
            _keys_transposed_on_fixed_axes,
        ),
        Mistake(
            "the weights are returned, not the weighted sum of the values",
            "The weights say how much of each value to take; the output mixes the "
            "values with them, so it has the values' width d_v.",
            _weights_returned,
        ),
    ),
)


# --- causal_mask ---------------------------------------------------------------------


def _upper_triangle(T):
    return torch.ones(T, T, dtype=torch.bool).triu()


def _diagonal_excluded(T):
    return torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1)


def _hidden_marked_true(T):
    return torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)


def _zeros_and_ones(T):
    return torch.ones(T, T).tril()


def _additive_mask(T):
    return torch.full((T, T), float("-inf")).triu(diagonal=1)


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
            _upper_triangle,
        ),
        Mistake(
            "the diagonal is excluded (no token may attend to itself)",
            "Look at row 0: the first token would have no key at all to attend to. "
            "May a token see its own position?",
            _diagonal_excluded,
        ),
        Mistake(
            "True marks the hidden keys",
            "In this course True means 'may attend' (as in helpers.attention and a "
            "boolean attn_mask in F.scaled_dot_product_attention).",
            _hidden_marked_true,
        ),
        Mistake(
            "the mask holds 0.0 and 1.0 floats, not booleans",
            "The right pattern, the wrong dtype: ~mask and masked_fill need a torch.bool tensor.",
            _zeros_and_ones,
        ),
        Mistake(
            "an additive mask (0 and -inf) instead of a boolean one",
            "That is the form that is added to the scores. This exercise asks for "
            "booleans: True where query i may attend key j.",
            _additive_mask,
        ),
    ),
    compare=Exact(),
)


# --- online_softmax --------------------------------------------------------------------


def online_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int
) -> torch.Tensor:
    """Reference: one query's attention output, reading the keys ``block_size`` at a time.

    q: (d_k,), k: (T_k, d_k), v: (T_k, d_v) -> (d_v,), equal to softmax(k @ q / sqrt(d_k))
    @ v. Only a running maximum m of the scores, a running total of exp(score - m) and a
    running sum of exp(score - m) * value are kept between blocks (the online softmax).
    """
    if q.dim() != 1 or k.dim() != 2 or v.dim() != 2 or k.shape[-1] != q.shape[0]:
        raise ValueError(
            f"expected q (d_k,), k (T_k, d_k), v (T_k, d_v); got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    m = torch.tensor(float("-inf"), dtype=q.dtype)  # running maximum of the scores seen
    total = torch.zeros((), dtype=q.dtype)  # running sum of exp(score - m)
    acc = torch.zeros(v.shape[-1], dtype=v.dtype)  # (d_v,): running sum of exp(score - m) * v
    for start in range(0, k.shape[0], block_size):
        s = k[start : start + block_size] @ q / math.sqrt(q.shape[0])  # (b,) this block's scores
        m_new = torch.maximum(m, s.max())
        rescale = torch.exp(m - m_new)  # the old sums were measured against m, not m_new
        p = torch.exp(s - m_new)  # (b,): every exponent <= 0
        total = total * rescale + p.sum()
        acc = acc * rescale + p @ v[start : start + block_size]  # (b,) @ (b, d_v) -> (d_v,)
        m = m_new
    return acc / total  # (d_v,)


def _blocks(k, v, block_size):
    """(k_block, v_block) pairs, block_size keys at a time (the last block may be shorter)."""
    return [
        (k[i : i + block_size], v[i : i + block_size]) for i in range(0, k.shape[0], block_size)
    ]


def _online(
    q,
    k,
    v,
    block_size,
    *,
    scale=True,
    rescale_total=True,
    rescale_acc=True,
    subtract_max=True,
    carry_max=True,
    normalise=True,
    blocks=None,
):
    """The online softmax with one of its steps switched off (each mistake is one switch)."""
    d = math.sqrt(q.shape[-1]) if scale else 1.0
    m = torch.tensor(float("-inf"))
    total, acc = torch.zeros(()), torch.zeros(v.shape[-1])
    for k_b, v_b in _blocks(k, v, block_size) if blocks is None else blocks:
        s = k_b @ q / d  # (b,)
        if not subtract_max:
            p = torch.exp(s)
            total, acc = total + p.sum(), acc + p @ v_b
            continue
        m_new = torch.maximum(m, s.max())
        rescale = torch.exp(m - m_new)
        p = torch.exp(s - m_new)
        total = (total * rescale if rescale_total else total) + p.sum()
        acc = (acc * rescale if rescale_acc else acc) + p @ v_b
        if carry_max:
            m = m_new
    return acc / total if normalise else acc


def _online_not_rescaled(q, k, v, block_size):
    return _online(q, k, v, block_size, rescale_total=False, rescale_acc=False)


def _online_values_not_rescaled(q, k, v, block_size):
    return _online(q, k, v, block_size, rescale_acc=False)


def _online_max_not_carried(q, k, v, block_size):
    return _online(q, k, v, block_size, carry_max=False)


def _online_not_normalised(q, k, v, block_size):
    return _online(q, k, v, block_size, normalise=False)


def _online_max_not_subtracted(q, k, v, block_size):
    return _online(q, k, v, block_size, subtract_max=False)


def _online_not_scaled(q, k, v, block_size):
    return _online(q, k, v, block_size, scale=False)


def _online_last_short_block_dropped(q, k, v, block_size):
    full = range(0, k.shape[0] - block_size + 1, block_size)  # whole blocks only
    blocks = [(k[i : i + block_size], v[i : i + block_size]) for i in full]
    return _online(q, k, v, block_size, blocks=blocks)


def _online_blocks_averaged(q, k, v, block_size):
    # each block's own softmax output, then a plain average of the blocks' outputs
    outs = [
        torch.softmax(k_b @ q / math.sqrt(q.shape[-1]), dim=-1) @ v_b
        for k_b, v_b in _blocks(k, v, block_size)
    ]
    return torch.stack(outs).mean(dim=0)


def _one_query(T_k: int, d_k: int, d_v: int):
    """Random q (d_k,), k (T_k, d_k), v (T_k, d_v)."""
    return torch.randn(d_k), torch.randn(T_k, d_k), torch.randn(T_k, d_v)


def _best_key_last(T_k: int, d_k: int, d_v: int, score: float | None = None):
    """Like _one_query, but the last key matches q best, so the maximum rises in the last block.

    With ``score``, the last key's scaled score is set to exactly that (large scores).
    """
    q, k, v = _one_query(T_k, d_k, d_v)
    factor = 3.0 if score is None else score * math.sqrt(d_k) / float(q @ q)
    k[-1] = factor * q  # scaled score factor * |q|^2 / sqrt(d_k): far above the others
    return q, k, v


ONLINE_SOFTMAX = Exercise(
    name="online_softmax",
    reference=online_attention,
    cases=(
        Case(
            "8 keys in 2 blocks of 4, d_k=16, d_v=5", lambda: Args(*_one_query(8, 16, 5), 4), seed=1
        ),
        Case(
            "7 keys in blocks of 3 (the last block holds one key), d_k=4, d_v=3",
            lambda: Args(*_one_query(7, 4, 3), 3),
            seed=2,
        ),
        Case(
            "6 keys one at a time (block_size=1), d_k=8, d_v=2",
            lambda: Args(*_one_query(6, 8, 2), 1),
            seed=3,
        ),
        Case(
            "5 keys, block_size=8: one block holds them all, d_k=4, d_v=4",
            lambda: Args(*_one_query(5, 4, 4), 8),
            seed=4,
        ),
        Case(
            "9 keys in blocks of 3, the best-matching key in the last block, d_k=6, d_v=3",
            lambda: Args(*_best_key_last(9, 6, 3), 3),
            seed=5,
        ),
        Case(
            "large scores: 8 keys in blocks of 4, the last key's score is 150, d_k=4, d_v=2",
            lambda: Args(*_best_key_last(8, 4, 2, score=150.0), 4),
            seed=6,
        ),
    ),
    mistakes=(
        Mistake(
            "the running sums are not rescaled when the maximum changes",
            "The sums you carry were measured against the maximum of their time. When a "
            "later block raises the maximum, what happens to terms measured against the old one?",
            _online_not_rescaled,
        ),
        Mistake(
            "the running total is rescaled, but not the running sum of values",
            "Both running quantities were measured against the same old maximum.",
            _online_values_not_rescaled,
        ),
        Mistake(
            "the running maximum is not carried from one block to the next",
            "Only the last block seems to count: between blocks, keep everything the "
            "running sums depend on.",
            _online_max_not_carried,
        ),
        Mistake(
            "the output is not divided by the running total",
            "Softmax weights sum to 1; what you accumulated are unnormalised weights times values.",
            _online_not_normalised,
        ),
        Mistake(
            "the maximum is not subtracted before exp: it overflows for large scores",
            "exp(89) is already inf in float32. Which shift keeps every exponent you take "
            "at or below 0 without changing the softmax?",
            _online_max_not_subtracted,
        ),
        Mistake(
            "the scores are not scaled",
            "These are attention scores: the same scaling as in section 3 comes before "
            "the softmax.",
            _online_not_scaled,
        ),
        Mistake(
            "the last, shorter block is skipped",
            "7 keys in blocks of 3 make how many blocks? Every key has to be read once.",
            _online_last_short_block_dropped,
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
