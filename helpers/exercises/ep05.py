"""Episode 05's "Your turn" exercises: LayerNorm by hand, and a pre-LN block's forward pass.

The episode (05_transformer_block) normalises each token over its features in section 2
("Layer normalisation by hand") and assembles the pre-LN block in section 4 ("The whole
block, by hand"). "Your turn 1" asks for ``layer_norm(x, gamma, beta, eps)``; "Your turn
2" for ``pre_ln_block(x, block)``, the forward pass of a ``helpers.blocks.TransformerBlock``
written from its sub-modules. The references are PyTorch's ``F.layer_norm`` and the
block's own ``forward``, so nothing is defined twice; the mistakes are written out here,
one small function each.
"""

import torch
import torch.nn.functional as F

from helpers.blocks import TransformerBlock
from helpers.exercises.core import Args, Case, Exercise, Mistake


def layer_norm(
    x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Reference: each token of x (..., C) to mean 0, variance 1 over its C features, then gamma, beta (C,)."""
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)  # (..., C)


def pre_ln_block(x: torch.Tensor, block: TransformerBlock) -> torch.Tensor:
    """Reference: h = x + attn(ln1(x)); out = h + ffn(ln2(h)), with the block's own modules; (B, T, C)."""
    if block.post_ln or not block.residual:
        raise ValueError("pre_ln_block's reference needs a pre-LN block with residuals")
    return block(x)[0]  # (B, T, C)


# --- layer_norm: the mistakes --------------------------------------------------------


def _normalised(x, dim, unbiased=False, eps=1e-5):
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, keepdim=True, unbiased=unbiased)
    return (x - mean) / torch.sqrt(var + eps)


def _unbiased_variance(x, gamma, beta, eps=1e-5):
    return gamma * _normalised(x, -1, unbiased=True, eps=eps) + beta


def _over_positions(x, gamma, beta, eps=1e-5):
    # the statistics of each feature across the tokens of a sequence
    return gamma * _normalised(x, -2, eps=eps) + beta


def _over_first_axis(x, gamma, beta, eps=1e-5):
    # BatchNorm's axis: each feature across the batch (the tokens, without a batch)
    return gamma * _normalised(x, 0, eps=eps) + beta


def _eps_outside_sqrt(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    std = x.var(-1, keepdim=True, unbiased=False).sqrt()
    return gamma * (x - mean) / (std + eps) + beta


def _no_gain_no_shift(x, gamma, beta, eps=1e-5):
    return _normalised(x, -1, eps=eps)


def _shift_before_gain(x, gamma, beta, eps=1e-5):
    return gamma * (_normalised(x, -1, eps=eps) + beta)


def _mean_not_subtracted(x, gamma, beta, eps=1e-5):
    # RMSNorm's formula: divide by the root mean square, without centring
    return gamma * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) + beta


# --- layer_norm: the cases ------------------------------------------------------------


def _ln_case(*shape: int, scale: float = 1.0, shift: float = 0.0, eps: float | None = None) -> Args:
    """Random x (*shape) * scale + shift, random gamma and beta (C,), and eps when given."""
    C = shape[-1]
    x = torch.randn(*shape) * scale + shift
    gamma, beta = torch.randn(C), torch.randn(C)
    return Args(x, gamma, beta) if eps is None else Args(x, gamma, beta, eps=eps)


def _episode_tokens() -> Args:
    """Section 2's three tokens with the gamma and beta it sets."""
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 10.0, 14.0], [-1.0, 0.0, 0.0, 1.0]]])
    return Args(x, torch.tensor([1.0, 2.0, 0.5, -1.0]), torch.tensor([0.0, 1.0, 0.0, -2.0]))


LAYER_NORM = Exercise(
    name="layer_norm",
    reference=layer_norm,
    cases=(
        Case("section 2's three tokens (1, 3, 4) with its gamma and beta", _episode_tokens),
        Case("one token (1, 5), gamma and beta random", lambda: _ln_case(1, 5), seed=1),
        Case("a sequence (T, C) = (6, 4), no batch", lambda: _ln_case(6, 4, shift=2.0), seed=2),
        Case(
            "a batch (B, T, C) = (2, 5, 8), large values",
            lambda: _ln_case(2, 5, 8, scale=3.0, shift=10.0),
            seed=3,
        ),
        Case(
            "tokens with a tiny spread (features about 1e-3), where eps matters",
            lambda: _ln_case(2, 3, 6, scale=1e-3),
            seed=4,
        ),
        Case("eps=0.5 given, (1, 4, 6)", lambda: _ln_case(1, 4, 6, eps=0.5), seed=5),
    ),
    mistakes=(
        Mistake(
            "the variance divides by C - 1 (torch's default, unbiased=True)",
            "LayerNorm uses the features' own variance, not an estimate of a larger "
            "population's; check what x.var does by default.",
            _unbiased_variance,
        ),
        Mistake(
            "the mean and variance are taken over the wrong axis",
            "Each token is normalised on its own, over its C features: which axis holds them?",
            _over_positions,
            also=(_over_first_axis,),
        ),
        Mistake(
            "eps is added outside the square root",
            "Look at the formula again: where does eps sit, and what does that do for a "
            "token whose features nearly agree?",
            _eps_outside_sqrt,
        ),
        Mistake(
            "gamma and beta are not applied",
            "After normalising, LayerNorm gives each feature back a learned scale and shift.",
            _no_gain_no_shift,
        ),
        Mistake(
            "beta is added before gamma multiplies",
            "The shift is the last thing done: it must not be scaled.",
            _shift_before_gain,
        ),
        Mistake(
            "the mean is not subtracted (that is RMSNorm, not LayerNorm)",
            "LayerNorm centres each token before rescaling it; the spread is measured "
            "around the token's mean.",
            _mean_not_subtracted,
        ),
    ),
)


# --- pre_ln_block: the mistakes -------------------------------------------------------


def _attn(block, u):
    return block.attn(u, causal=block.causal)[0]  # (B, T, C)


def _post_ln(x, block):
    h = block.ln1(x + _attn(block, x))
    return block.ln2(h + block.ffn(h))


def _no_residuals(x, block):
    h = _attn(block, block.ln1(x))
    return block.ffn(block.ln2(h))


def _first_residual_missing(x, block):
    h = _attn(block, block.ln1(x))
    return h + block.ffn(block.ln2(h))


def _second_residual_missing(x, block):
    h = x + _attn(block, block.ln1(x))
    return block.ffn(block.ln2(h))


def _stream_normalised(x, block):
    # the LayerNorm's output replaces the stream, so the residual adds onto it
    x = block.ln1(x)
    h = x + _attn(block, x)
    h = block.ln2(h)
    return h + block.ffn(h)


def _ffn_reads_block_input(x, block):
    h = x + _attn(block, block.ln1(x))
    return h + block.ffn(block.ln2(x))


def _one_layer_norm_twice(x, block):
    h = x + _attn(block, block.ln1(x))
    return h + block.ffn(block.ln1(h))


def _causal_ignored(x, block):
    h = x + block.attn(block.ln1(x))[0]
    return h + block.ffn(block.ln2(h))


# --- pre_ln_block: the cases ----------------------------------------------------------


@torch.no_grad()
def _block_case(B: int, T: int, C: int, n_head: int, causal: bool = False) -> Args:
    """Random x (B, T, C) and an eval-mode TransformerBlock with trained-looking LayerNorms.

    A fresh LayerNorm has gamma = 1 and beta = 0, so ln1 and ln2 would be the same
    function; random gammas and betas tell them apart, as training would.
    """
    block = TransformerBlock(C, n_head, causal=causal).eval()
    for norm in (block.ln1, block.ln2):
        norm.weight.copy_(1 + 0.5 * torch.randn(C))
        norm.bias.copy_(0.5 * torch.randn(C))
    return Args(torch.randn(B, T, C) * 2 + 0.5, block)


PRE_LN_BLOCK = Exercise(
    name="pre_ln_block",
    reference=pre_ln_block,
    cases=(
        Case("one sequence (1, 4, 8), 2 heads", lambda: _block_case(1, 4, 8, 2), seed=1),
        Case("a batch (2, 5, 8), 2 heads", lambda: _block_case(2, 5, 8, 2), seed=2),
        Case(
            "a causal block (decoder), (1, 6, 8), 2 heads",
            lambda: _block_case(1, 6, 8, 2, True),
            seed=3,
        ),
        Case("one token (1, 1, 16), 4 heads", lambda: _block_case(1, 1, 16, 4), seed=4),
        Case("a causal batch (3, 3, 16), 4 heads", lambda: _block_case(3, 3, 16, 4, True), seed=5),
    ),
    mistakes=(
        Mistake(
            "this is the post-LN block (LayerNorm after each residual add)",
            "In a pre-LN block the LayerNorm comes first, on what the sub-layer reads; "
            "the sum goes on un-normalised.",
            _post_ln,
        ),
        Mistake(
            "a residual connection is missing",
            "Each sub-layer adds its output to the stream it read from; it does not replace it.",
            _no_residuals,
            also=(_first_residual_missing, _second_residual_missing),
        ),
        Mistake(
            "the LayerNorm's output replaces the residual stream",
            "Normalise only the copy the sub-layer reads: the residual add starts from the "
            "stream as it was.",
            _stream_normalised,
        ),
        Mistake(
            "the feed-forward network reads the block's input, not the stream after attention",
            "The two sub-layers run one after the other: what does the second one see?",
            _ffn_reads_block_input,
        ),
        Mistake(
            "ln1 is used for both sub-layers",
            "The block has two LayerNorms with their own gamma and beta, one per sub-layer.",
            _one_layer_norm_twice,
        ),
        Mistake(
            "the causal mask is not used in a causal block",
            "A decoder block's attention must not look ahead: the block says which kind "
            "it is (block.causal).",
            _causal_ignored,
        ),
    ),
)

EXERCISES = (LAYER_NORM, PRE_LN_BLOCK)
