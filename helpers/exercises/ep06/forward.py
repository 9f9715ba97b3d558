"""Episode 06's "Your turn 1" (section 5): ``gpt_forward``, the whole forward pass.

From the course model's ``state_dict`` to the logits, with nothing but tensor operations.
The reference is the course's ``helpers.gpt.GPT``; ``_forward`` writes the pass out so each
mistake is one switch away from it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers.exercises.core import Args, Case, Close, Exercise, Mistake
from helpers.gpt import GPT, GPTConfig

# --- gpt_forward -----------------------------------------------------------------------


def gpt_forward(
    state_dict: dict[str, torch.Tensor], idx: torch.Tensor, config: GPTConfig
) -> torch.Tensor:
    """Reference: the logits (B, T, V) of the course's GPT with these weights on ids idx (B, T)."""
    model = GPT(config)
    model.load_state_dict(state_dict)
    with torch.no_grad():
        logits, _ = model.eval()(idx)
    return logits


def _linear(x: torch.Tensor, sd: dict, name: str, transpose: bool = True) -> torch.Tensor:
    """x @ W.T + b for the nn.Linear called ``name`` (W stored as (out, in))."""
    w = sd[f"{name}.weight"]
    return x @ (w.T if transpose else w) + sd[f"{name}.bias"]


def _norm(x: torch.Tensor, sd: dict, name: str, affine: bool = True) -> torch.Tensor:
    C = x.shape[-1]
    if not affine:
        return F.layer_norm(x, (C,))
    return F.layer_norm(x, (C,), sd[f"{name}.weight"], sd[f"{name}.bias"])


def _split_heads(t: torch.Tensor, n_head: int, right: bool = True) -> torch.Tensor:
    """(B, T, C) -> (B, n_head, T, head_size); ``right=False`` is the reshape that mixes them."""
    B, T, C = t.shape
    if right:
        return t.view(B, T, n_head, C // n_head).transpose(1, 2)
    return t.reshape(B, n_head, T, C // n_head)


def _attend(h, sd, p, config, causal=True, scale_by="head", split="right", transpose_out=True):
    """Layer ``p``'s causal multi-head attention on h (B, T, C), written out."""
    B, T, C = h.shape
    nh = config.n_head
    q, k, v = _linear(h, sd, f"{p}.attn.qkv").split(C, dim=-1)  # each (B, T, C)
    q, k, v = (_split_heads(t, nh, split == "right") for t in (q, k, v))  # (B, nh, T, hs)
    d = C // nh if scale_by == "head" else C
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, nh, T, T)
    if causal:
        future = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)  # True = hidden
        scores = scores.masked_fill(future, float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v  # (B, nh, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C)  # the heads side by side again
    return _linear(y, sd, f"{p}.attn.out", transpose=transpose_out)


def _mlp(h, sd, p, act="gelu"):
    """Layer ``p``'s feed-forward network on h (B, T, C): up to 4C, activation, down."""
    u = _linear(h, sd, f"{p}.ffn.up")  # (B, T, 4C)
    if act == "gelu":
        u = F.gelu(u)
    elif act == "tanh":
        u = F.gelu(u, approximate="tanh")
    else:
        u = F.relu(u)
    return _linear(u, sd, f"{p}.ffn.down")


def _forward(
    sd,
    idx,
    config,
    *,
    positions=True,
    final_norm=True,
    post_ln=False,
    residual=True,
    affine=True,
    act="gelu",
    **attention,
):
    """The GPT forward pass written out, with one of its steps changed (each mistake is one).

    attention: keyword arguments of ``_attend`` (causal, scale_by, split, transpose_out).
    """
    T = idx.shape[1]
    x = sd["tok_emb.weight"][idx]  # (B, T, C)
    if positions:
        x = x + sd["pos_emb.table.weight"][:T]  # (T, C) broadcast over the batch
    for i in range(config.n_layer):
        p = f"blocks.{i}"
        if post_ln:
            x = _norm(x + _attend(x, sd, p, config, **attention), sd, f"{p}.ln1")
            x = _norm(x + _mlp(x, sd, p, act), sd, f"{p}.ln2")
            continue
        a = _attend(_norm(x, sd, f"{p}.ln1", affine), sd, p, config, **attention)
        x = x + a if residual else a
        f = _mlp(_norm(x, sd, f"{p}.ln2", affine), sd, p, act)
        x = x + f if residual else f
    if final_norm:
        x = _norm(x, sd, "ln_f", affine)
    return x @ sd["tok_emb.weight"].T  # (B, T, V): the head is tied to the embedding


def _no_causal_mask(state_dict, idx, config):
    return _forward(state_dict, idx, config, causal=False)


def _scaled_by_model_width(state_dict, idx, config):
    return _forward(state_dict, idx, config, scale_by="model")


def _no_positions(state_dict, idx, config):
    return _forward(state_dict, idx, config, positions=False)


def _no_final_norm(state_dict, idx, config):
    return _forward(state_dict, idx, config, final_norm=False)


def _post_ln(state_dict, idx, config):
    return _forward(state_dict, idx, config, post_ln=True)


def _heads_split_wrong(state_dict, idx, config):
    return _forward(state_dict, idx, config, split="wrong")


def _out_not_transposed(state_dict, idx, config):
    return _forward(state_dict, idx, config, transpose_out=False)


def _gelu_tanh(state_dict, idx, config):
    return _forward(state_dict, idx, config, act="tanh")


def _relu(state_dict, idx, config):
    return _forward(state_dict, idx, config, act="relu")


def _no_residual(state_dict, idx, config):
    return _forward(state_dict, idx, config, residual=False)


def _norm_without_gain(state_dict, idx, config):
    return _forward(state_dict, idx, config, affine=False)


def _random_gpt(config: GPTConfig) -> dict[str, torch.Tensor]:
    """A GPT's state_dict with weights larger than at initialisation, so every part matters."""
    model = GPT(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("emb.weight") or name.endswith("table.weight"):
                p.normal_(0.0, 1.0)
            elif p.dim() == 2:  # a Linear weight (out, in)
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]))
            elif "ln" in name and name.endswith("weight"):
                p.normal_(1.0, 0.2)
            else:  # biases
                p.normal_(0.0, 0.2)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _forward_case(
    n_layer: int, n_head: int, n_embd: int, vocab: int, block: int, B: int, T: int
) -> Args:
    config = GPTConfig(
        vocab_size=vocab, block_size=block, n_layer=n_layer, n_head=n_head, n_embd=n_embd
    )
    return Args(_random_gpt(config), torch.randint(vocab, (B, T)), config)


GPT_FORWARD = Exercise(
    name="gpt_forward",
    reference=gpt_forward,
    cases=(
        Case(
            "1 layer, 1 head, C=8, V=11: one sequence of T=5",
            lambda: _forward_case(1, 1, 8, 11, 8, 1, 5),
            seed=1,
        ),
        Case(
            "2 layers, 2 heads, C=8, V=11: batch of 2, T=6",
            lambda: _forward_case(2, 2, 8, 11, 8, 2, 6),
            seed=2,
        ),
        Case(
            "2 layers, 4 heads, C=16, V=13: batch of 3, T = block_size = 8",
            lambda: _forward_case(2, 4, 16, 13, 8, 3, 8),
            seed=3,
        ),
        Case(
            "1 layer, 2 heads, C=8, V=11: one position (T=1)",
            lambda: _forward_case(1, 2, 8, 11, 8, 2, 1),
            seed=4,
        ),
        Case(
            "3 layers, 2 heads, C=12, V=9: batch of 2, T=4 (shorter than the context, 10)",
            lambda: _forward_case(3, 2, 12, 9, 10, 2, 4),
            seed=5,
        ),
    ),
    mistakes=(
        Mistake(
            "no causal mask",
            "Position t must not read the characters after it: which scores must be "
            "hidden before the softmax?",
            _no_causal_mask,
        ),
        Mistake(
            "the scores are divided by sqrt of the model width C, not of the head size",
            "Each head's scores are dot products of head_size numbers, not of C.",
            _scaled_by_model_width,
        ),
        Mistake(
            "the positions are not added",
            "The token embedding alone does not say where a character stands: the "
            "state_dict holds a second table.",
            _no_positions,
        ),
        Mistake(
            "the final LayerNorm (ln_f) is skipped",
            "Look at the state_dict's keys: one LayerNorm comes after the last block.",
            _no_final_norm,
        ),
        Mistake(
            "LayerNorm after the residual add (post-LN), not before each sub-layer",
            "This GPT is pre-LN: each sub-layer reads a normalised copy of the stream, and "
            "its output is added to the stream as it was.",
            _post_ln,
        ),
        Mistake(
            "the heads are cut out of (B, T, C) by a reshape to (B, n_head, T, head_size)",
            "That reshape mixes positions into heads. Cut the last axis first, (B, T, "
            "n_head, head_size), then move the head axis forward.",
            _heads_split_wrong,
        ),
        Mistake(
            "W_O (attn.out) is used without transposing its weight",
            "nn.Linear stores its weight as (out, in) and computes x @ weight.T + bias; a "
            "square weight hides the mistake from the shapes.",
            _out_not_transposed,
        ),
        Mistake(
            "the tanh approximation of GELU, where this config says gelu='exact'",
            "Close, but not this model's activation: read config.gelu.",
            _gelu_tanh,
        ),
        Mistake(
            "ReLU instead of GELU",
            "The feed-forward network's nonlinearity is GELU (episode 05), which is smooth "
            "and lets small negative values through.",
            _relu,
        ),
        Mistake(
            "the residual connections are missing",
            "Each sub-layer's output is added to the stream it read from, not put in its place.",
            _no_residual,
        ),
        Mistake(
            "the LayerNorms leave out their learned gain and bias",
            "After normalising, each LayerNorm scales and shifts with its own .weight "
            "and .bias from the state_dict.",
            _norm_without_gain,
        ),
    ),
    compare=Close(atol=3e-5, rtol=3e-5),
)
