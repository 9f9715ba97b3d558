"""Episode 03's "Your turn" exercises: split and merge heads, and a whole multi-head layer.

The episode (03_multi_head_attention, section 4, "one matrix, cut into heads by a
reshape") cuts a (B, T, C) projection into heads with ``view(B, T, h, hs).transpose(1, 2)``
and glues the heads back with ``transpose(1, 2)`` and ``reshape(B, T, C)``. "Your turn 1"
asks for the split (``split_heads``), "Your turn 2" for the merge (``merge_heads``), and
"Your turn 3" for a whole multi-head forward pass from one fused ``W_QKV`` = [W_Q | W_K |
W_V] (C, 3C) and ``W_O`` (C, C) (``multi_head_attention``), the computation of
``helpers.multihead.MultiHeadAttention`` without biases. The references are written in a
line or two each (the third loads the weights into ``MultiHeadAttention`` itself, so the
maths is defined once); the tests check the first two against the module's own
``split_heads`` and ``merge_heads``. The mistakes are written out here, one small
function each, among them the bug that shipped with a famous lecture: the scores scaled
by the model width C instead of the head size.
"""

import math

import torch

from helpers.attention import causal_mask
from helpers.exercises.core import Args, Case, Exact, Exercise, Mistake
from helpers.multihead import MultiHeadAttention


def _check_heads(C: int, n_head: int) -> int:
    """The head size C // n_head; a ValueError names the sizes when they do not split."""
    if not isinstance(n_head, int) or n_head < 1 or C % n_head:
        raise ValueError(f"C ({C}) must split evenly into n_head ({n_head!r}) heads")
    return C // n_head


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """Reference: (B, T, C) -> (B, n_head, T, hs), feature c going to head c // hs."""
    B, T, C = x.shape
    hs = _check_heads(C, n_head)
    return x.view(B, T, n_head, hs).transpose(1, 2)  # (B, T, h, hs) -> (B, h, T, hs)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Reference: (B, n_head, T, hs) -> (B, T, n_head * hs), the heads' features side by side."""
    B, n_head, T, hs = x.shape
    return x.transpose(1, 2).reshape(B, T, n_head * hs)  # (B, T, h, hs) -> (B, T, C)


def multi_head_attention(
    x: torch.Tensor,
    W_QKV: torch.Tensor,
    W_O: torch.Tensor,
    n_head: int,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference: multi-head self-attention of x (B, T, C), no biases; returns (B, T, C).

    W_QKV (C, 3C) is [W_Q | W_K | W_V] in the ``x @ W`` form, W_O (C, C); mask (T, T) is
    boolean, True = may attend. It is ``helpers.multihead.MultiHeadAttention`` with these
    weights loaded (``nn.Linear`` keeps each matrix transposed).
    """
    C = x.shape[-1]
    _check_heads(C, n_head)
    layer = MultiHeadAttention(C, n_head, bias=False, fused=False)
    with torch.no_grad():
        layer.qkv.weight.copy_(W_QKV.T)  # (3C, C)
        layer.out.weight.copy_(W_O.T)  # (C, C)
        y, _ = layer(x, mask=mask)  # (B, T, C)
    return y


# --- split_heads: the mistakes --------------------------------------------------------


def _split_view_only(x, n_head):
    # the numbers are read in memory order: "head 0" gets the first tokens' whole rows
    B, T, C = x.shape
    return x.view(B, n_head, T, C // n_head)


def _split_not_transposed(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head)  # (B, T, h, hs)


def _split_size_and_count_swapped(x, n_head):
    # also what torch.stack(x.split(n_head, dim=-1), dim=1) gives: runs of n_head features
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).transpose(1, 2)


# --- merge_heads: the mistakes --------------------------------------------------------


def _merge_reshape_only(x):
    B, n_head, T, hs = x.shape
    return x.reshape(B, T, n_head * hs)


def _merge_view_not_contiguous(x):
    # transpose only changes the strides; view refuses memory that is not in the new order
    B, n_head, T, hs = x.shape
    return x.transpose(1, 2).view(B, T, n_head * hs)


def _merge_features_interleaved(x):
    B, n_head, T, hs = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, n_head * hs)  # (B, T, hs, h): wrong order


# --- multi_head_attention: the mistakes ---------------------------------------------------


def _mha(x, W_QKV, W_O, n_head, mask=None, *, scale="head", project=True, layout="qkv",
         split="right"):  # fmt: skip
    """Multi-head attention with one step done wrong (each mistake is one switch)."""
    B, T, C = x.shape
    hs = C // n_head
    qkv = x @ W_QKV  # (B, T, 3C)
    if layout == "per head":  # each head's q, k, v side by side: not how W_QKV is laid out
        q, k, v = qkv.view(B, T, n_head, 3 * hs).transpose(1, 2).split(hs, dim=-1)
    else:
        q, k, v = qkv.split(C, dim=-1)  # each (B, T, C)
        if layout == "kqv":
            q, k = k, q
        if split == "none":
            q, k, v = q[:, None], k[:, None], v[:, None]  # one head of width C
        elif split == "view only":
            q, k, v = (t.reshape(B, n_head, T, hs) for t in (q, k, v))
        else:
            q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))
    d = {"head": q.shape[-1], "model": C}[scale]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, h, T, T)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v  # (B, h, T, hs)
    if split == "view only":
        y = out.reshape(B, T, C)  # undoing the wrong split the same wrong way
    else:
        y = out.transpose(1, 2).reshape(B, T, C)
    return y @ W_O if project else y


def _scaled_by_model_width(x, W_QKV, W_O, n_head, mask=None):
    return _mha(x, W_QKV, W_O, n_head, mask, scale="model")


def _no_output_projection(x, W_QKV, W_O, n_head, mask=None):
    return _mha(x, W_QKV, W_O, n_head, mask, project=False)


def _qkv_cut_per_head(x, W_QKV, W_O, n_head, mask=None):
    return _mha(x, W_QKV, W_O, n_head, mask, layout="per head")


def _queries_and_keys_swapped(x, W_QKV, W_O, n_head, mask=None):
    return _mha(x, W_QKV, W_O, n_head, mask, layout="kqv")


def _heads_not_split(x, W_QKV, W_O, n_head, mask=None):
    return _mha(x, W_QKV, W_O, n_head, mask, split="none")


def _heads_split_by_view_only(x, W_QKV, W_O, n_head, mask=None):
    return _mha(x, W_QKV, W_O, n_head, mask, split="view only")


# --- the cases ------------------------------------------------------------------------------


def _layer_inputs(B: int, T: int, C: int, n_head: int, mask: torch.Tensor | None = None) -> Args:
    """Random x (B, T, C), W_QKV (C, 3C) and W_O (C, C) scaled so q, k, v have unit spread."""
    x = torch.randn(B, T, C)
    W_QKV = torch.randn(C, 3 * C) / math.sqrt(C)
    W_O = torch.randn(C, C) / math.sqrt(C)
    return Args(x, W_QKV, W_O, n_head) if mask is None else Args(x, W_QKV, W_O, n_head, mask)


def _mixed_mask(T: int) -> torch.Tensor:
    """A (T, T) boolean mask with its own pattern per query and at least one key each."""
    mask = torch.rand(T, T) < 0.5
    mask[torch.arange(T), torch.randint(T, (T,))] = True
    return mask


def _split_case(name: str, B: int, T: int, C: int, n_head: int, seed: int) -> Case:
    return Case(name, lambda: Args(torch.randn(B, T, C), n_head), seed=seed)


def _merge_case(name: str, B: int, n_head: int, T: int, hs: int, seed: int) -> Case:
    return Case(name, lambda: Args(torch.randn(B, n_head, T, hs)), seed=seed)


SPLIT_HEADS = Exercise(
    name="split_heads",
    reference=split_heads,
    cases=(
        _split_case("x (1, 4, 4) into 2 heads of 2", 1, 4, 4, 2, seed=1),
        _split_case("x (2, 3, 6) into 3 heads of 2", 2, 3, 6, 3, seed=2),
        _split_case("x (2, 5, 8) into 2 heads of 4", 2, 5, 8, 2, seed=3),
        _split_case("x (3, 2, 12) into 4 heads of 3", 3, 2, 12, 4, seed=4),
        _split_case("one head: x (2, 3, 4) into 1 head of 4", 2, 3, 4, 1, seed=5),
        _split_case("one position: x (2, 1, 6) into 2 heads of 3", 2, 1, 6, 2, seed=6),
    ),
    mistakes=(
        Mistake(
            "viewed straight to (B, n_head, T, hs), without a transpose",
            "view keeps the numbers in memory order, token after token, so your 'head 0' "
            "holds the first tokens' whole rows. Keep T where it is while you cut C, then "
            "move the head axis.",
            _split_view_only,
        ),
        Mistake(
            "the heads are cut but left behind the tokens: (B, T, n_head, hs)",
            "Attention works on the last two axes, (T, hs) for each head: where must the "
            "head axis go?",
            _split_not_transposed,
        ),
        Mistake(
            "C is cut into runs of n_head features instead of n_head runs of hs",
            "Feature c belongs to head c // hs: each head takes hs consecutive features. "
            "Which of the two sizes comes first when you cut the last axis?",
            _split_size_and_count_swapped,
        ),
    ),
    compare=Exact(),  # a split only moves numbers: nothing may change
)

MERGE_HEADS = Exercise(
    name="merge_heads",
    reference=merge_heads,
    cases=(
        _merge_case("(1, 2, 4, 2): 2 heads of 2, T=4", 1, 2, 4, 2, seed=1),
        _merge_case("(2, 3, 3, 2): 3 heads of 2, T=3", 2, 3, 3, 2, seed=2),
        _merge_case("(2, 2, 5, 4): 2 heads of 4, T=5", 2, 2, 5, 4, seed=3),
        _merge_case("(3, 4, 2, 3): 4 heads of 3, T=2", 3, 4, 2, 3, seed=4),
        _merge_case("one head: (2, 1, 3, 4)", 2, 1, 3, 4, seed=5),
        _merge_case("one position: (2, 2, 1, 3)", 2, 2, 1, 3, seed=6),
    ),
    mistakes=(
        Mistake(
            "reshaped straight to (B, T, C), without a transpose",
            "reshape reads the numbers in memory order: all of head 0's tokens first. "
            "Bring the token axis in front of the head axis before you flatten.",
            _merge_reshape_only,
        ),
        Mistake(
            "view after a transpose (the memory is not in the new order)",
            "transpose only changes how the numbers are read, not where they are stored, "
            "and view needs them stored in the order it reads them.",
            _merge_view_not_contiguous,
        ),
        Mistake(
            "the heads' features come out interleaved (the axes flattened in the wrong order)",
            "A merged row should hold head 0's hs features, then head 1's, and so on: which "
            "axis has to come just before the last when you flatten?",
            _merge_features_interleaved,
        ),
    ),
    compare=Exact(),  # a merge only moves numbers: nothing may change
)

MULTI_HEAD_ATTENTION = Exercise(
    name="multi_head_attention",
    reference=multi_head_attention,
    cases=(
        Case("x (1, 4, 4), 2 heads of 2, no mask", lambda: _layer_inputs(1, 4, 4, 2), seed=1),
        Case(
            "x (2, 5, 8), 4 heads of 2, causal mask (5, 5)",
            lambda: _layer_inputs(2, 5, 8, 4, causal_mask(5)),
            seed=2,
        ),
        Case("one head: x (2, 3, 6), no mask", lambda: _layer_inputs(2, 3, 6, 1), seed=3),
        Case(
            "x (3, 6, 12), 3 heads of 4, causal mask (6, 6)",
            lambda: _layer_inputs(3, 6, 12, 3, causal_mask(6)),
            seed=4,
        ),
        Case("one position: x (2, 1, 8), 2 heads", lambda: _layer_inputs(2, 1, 8, 2), seed=5),
        Case(
            "x (2, 4, 16), 4 heads of 4, a different mask per query (4, 4)",
            lambda: _layer_inputs(2, 4, 16, 4, _mixed_mask(4)),
            seed=6,
        ),
    ),
    mistakes=(
        Mistake(
            "the scores are divided by sqrt(C), the model width, not by sqrt(hs)",
            "Each head's scores are dot products of two vectors of the head's width; the "
            "famous bug scales them as if they were C wide, which flattens every head's "
            "softmax.",
            _scaled_by_model_width,
        ),
        Mistake(
            "W_O is never applied",
            "The merged heads sit side by side, each in its own features; the output "
            "projection is what lets every output feature draw on every head.",
            _no_output_projection,
        ),
        Mistake(
            "x @ W_QKV is cut per head first, as if each head's q, k, v sat side by side",
            "W_QKV is [W_Q | W_K | W_V]: all heads' query columns, then all key columns, "
            "then all value columns. Which columns hold head 0's queries?",
            _qkv_cut_per_head,
        ),
        Mistake(
            "queries and keys are swapped",
            "Each row of weights belongs to one query: check which third of x @ W_QKV is "
            "which, in the order the exercise gives.",
            _queries_and_keys_swapped,
        ),
        Mistake(
            "the heads are never split: one head of width C",
            "Right for one head only: with n_head heads, each head has its own hs features "
            "and its own softmax.",
            _heads_not_split,
        ),
        Mistake(
            "the heads are split by a view straight to (B, n_head, T, hs)",
            "Your split mixes tokens into the wrong heads; check it on its own with "
            "check('split_heads', ...).",
            _heads_split_by_view_only,
        ),
    ),
)

EXERCISES = (SPLIT_HEADS, MERGE_HEADS, MULTI_HEAD_ATTENTION)
