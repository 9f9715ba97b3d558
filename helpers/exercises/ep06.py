"""Episode 06's "Your turn" exercises, and its capstone: your attention inside the trained GPT.

The episode ("A GPT of your own") assembles a GPT from the parts of episodes 02-05,
trains it and samples from it. Its exercises ask the learner to write:

- ``gpt_forward`` ("Your turn 1", section 5): the whole forward pass, from the course
  model's ``state_dict`` to the logits, with nothing but tensor operations;
- ``train_step`` ("Your turn 2", section 6): one optimiser step as ``helpers.train``
  takes it (clear the gradients, forward, backward, clip, step);
- ``next_token_probs`` ("Your turn 3", section 8): the distribution the next character
  is drawn from, after temperature and top-k.

The references are the course's own code (``helpers.gpt``, ``helpers.train``), so nothing
is defined twice; the mistakes are written out here, one small function each.

The capstone (section 12, "Your attention inside the trained GPT") is
``attention_in_model``: it runs the shipped reference checkpoint with every layer's
attention computed by the learner's function (episode 02's ``my_attention(q, k, v,
mask=None)``) and reports, per layer, the largest difference from the course's
attention output, the validation loss, and whether greedy generation writes the same
text. ``CapstoneReport.summary()`` says it in a few lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from helpers.data import CharTokenizer
from helpers.exercises.core import Args, Case, Close, Exercise, Mistake
from helpers.gpt import GPT, GPTConfig
from helpers.gpt import next_token_probs as _next_token_probs
from helpers.sample import REFERENCE_CHECKPOINT, load_gpt

# --- next_token_probs ------------------------------------------------------------------


def next_token_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None
) -> torch.Tensor:
    """Reference: softmax(logits / temperature) over the last axis, only the top_k largest kept.

    logits (..., V) -> probabilities (..., V), each row summing to 1; top_k None (or >= V)
    keeps every character.
    """
    return _next_token_probs(logits, temperature, top_k)


def _keep_top_k(scaled, top_k, fill=float("-inf"), drop_kth=False):
    """scaled logits (..., V) with all but the top_k largest set to ``fill`` (the mistakes' way)."""
    if top_k is None or top_k >= scaled.shape[-1]:
        return scaled
    kth = scaled.topk(min(top_k, scaled.shape[-1]), dim=-1).values[..., -1:]  # (..., 1)
    hidden = scaled <= kth if drop_kth else scaled < kth
    return scaled.masked_fill(hidden, fill)


def _multiplied(logits, temperature=1.0, top_k=None):
    return torch.softmax(_keep_top_k(logits * temperature, top_k), dim=-1)


def _top_k_after_softmax(logits, temperature=1.0, top_k=None):
    probs = torch.softmax(logits / temperature, dim=-1)
    return _keep_top_k(probs, top_k, fill=0.0)  # zeroed, not renormalised


def _first_k_by_index(logits, temperature=1.0, top_k=None):
    scaled = logits / temperature
    if top_k is not None:
        keep = torch.arange(scaled.shape[-1]) < top_k  # (V,): the first k ids, not the largest
        scaled = scaled.masked_fill(~keep, float("-inf"))
    return torch.softmax(scaled, dim=-1)


def _removed_get_logit_zero(logits, temperature=1.0, top_k=None):
    return torch.softmax(_keep_top_k(logits / temperature, top_k, fill=0.0), dim=-1)


def _keeps_k_minus_one(logits, temperature=1.0, top_k=None):
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.shape[-1]:
        scaled = _keep_top_k(scaled, top_k, drop_kth=True)
    return torch.softmax(scaled, dim=-1)


def _top_k_ignored(logits, temperature=1.0, top_k=None):
    return torch.softmax(logits / temperature, dim=-1)


def _temperature_ignored(logits, temperature=1.0, top_k=None):
    return torch.softmax(_keep_top_k(logits, top_k), dim=-1)


def _softmax_over_first_axis(logits, temperature=1.0, top_k=None):
    # right for one row (V,), wrong with a batch
    return torch.softmax(_keep_top_k(logits / temperature, top_k), dim=0)


def _logits(*shape: int, scale: float = 2.0) -> torch.Tensor:
    """Random logits with a spread like a trained model's (a few units)."""
    return torch.randn(*shape) * scale


NEXT_TOKEN_PROBS = Exercise(
    name="next_token_probs",
    reference=next_token_probs,
    cases=(
        Case("one row of 6 logits, temperature 1, no top-k", lambda: Args(_logits(6)), seed=1),
        Case(
            "one row of 10 logits, temperature 0.5, no top-k",
            lambda: Args(_logits(10), 0.5),
            seed=2,
        ),
        Case(
            "3 rows of 8 logits, temperature 2.0, top-k 3",
            lambda: Args(_logits(3, 8), 2.0, 3),
            seed=3,
        ),
        Case(
            "2 rows of 12 logits, temperature 0.7, top-k 1 (greedy as a distribution)",
            lambda: Args(_logits(2, 12), 0.7, top_k=1),
            seed=4,
        ),
        Case(
            "(2, 3, 9) logits (batch and time), temperature 1.3, top-k 4",
            lambda: Args(_logits(2, 3, 9), 1.3, top_k=4),
            seed=5,
        ),
        Case(
            "one row of 7 logits, temperature 1, top-k 20 (more than V: keep all)",
            lambda: Args(_logits(7), 1.0, top_k=20),
            seed=6,
        ),
    ),
    mistakes=(
        Mistake(
            "the logits are multiplied by the temperature instead of divided",
            "A temperature below 1 should sharpen the distribution (the likeliest character "
            "gains). What does multiplying the logits by 0.5 do to the gaps between them?",
            _multiplied,
        ),
        Mistake(
            "top-k is applied after the softmax and the rest is not renormalised",
            "Add up your probabilities in a row with top-k: a distribution has to sum to 1.",
            _top_k_after_softmax,
        ),
        Mistake(
            "the first k characters by index are kept, not the k likeliest",
            "Top-k keeps the k characters with the largest logits, wherever they sit in "
            "the vocabulary.",
            _first_k_by_index,
        ),
        Mistake(
            "the removed characters get the logit 0, not -inf",
            "A logit of 0 is not 'impossible': exp(0) = 1. Which logit gives a probability "
            "of exactly 0 after the softmax?",
            _removed_get_logit_zero,
        ),
        Mistake(
            "the k-th largest is removed too (k - 1 characters are left)",
            "Count the characters left with a non-zero probability: is the k-th largest "
            "among them? Compare with < or <= to the k-th value.",
            _keeps_k_minus_one,
        ),
        Mistake(
            "top_k is ignored",
            "With top_k set, only k characters may keep a non-zero probability.",
            _top_k_ignored,
        ),
        Mistake(
            "the temperature is ignored",
            "Your output is the same at every temperature; the temperature reshapes the "
            "distribution before anything is drawn.",
            _temperature_ignored,
        ),
        Mistake(
            "the softmax runs over the first axis",
            "Right for one row, wrong with a batch: each row's distribution over the "
            "vocabulary (the last axis) sums to 1.",
            _softmax_over_first_axis,
        ),
    ),
)


# --- train_step ------------------------------------------------------------------------


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    max_norm: float = 1.0,
) -> float:
    """Reference: one optimiser step on the batch x, y (B, T); returns the batch's loss.

    As ``helpers.train.train`` does it: clear the old gradients, forward (the model
    returns (logits, loss)), backward, clip the gradients' total norm to ``max_norm``,
    step. The loss returned is the one the gradients came from (before the update).
    """
    optimizer.zero_grad(set_to_none=True)
    _, loss = model(x, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item()


def _loss(model, x, y):
    logits, _ = model(x)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def _not_zeroed(model, optimizer, x, y, max_norm=1.0):
    loss = _loss(model, x, y)
    loss.backward()  # adds to whatever .grad already holds
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item()


def _no_step(model, optimizer, x, y, max_norm=1.0):
    optimizer.zero_grad()
    loss = _loss(model, x, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return loss.item()


def _step_before_backward(model, optimizer, x, y, max_norm=1.0):
    optimizer.zero_grad()
    loss = _loss(model, x, y)
    optimizer.step()  # .grad is empty: the step changes nothing
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return loss.item()


def _not_clipped(model, optimizer, x, y, max_norm=1.0):
    optimizer.zero_grad()
    loss = _loss(model, x, y)
    loss.backward()
    optimizer.step()
    return loss.item()


def _clipped_after_step(model, optimizer, x, y, max_norm=1.0):
    optimizer.zero_grad()
    loss = _loss(model, x, y)
    loss.backward()
    optimizer.step()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # too late: the step is taken
    return loss.item()


def _zeroed_before_step(model, optimizer, x, y, max_norm=1.0):
    loss = _loss(model, x, y)
    loss.backward()
    optimizer.zero_grad()  # throws this batch's gradients away: the step changes nothing
    optimizer.step()
    return loss.item()


def _loss_after_update(model, optimizer, x, y, max_norm=1.0):
    optimizer.zero_grad()
    loss = _loss(model, x, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    with torch.no_grad():
        return _loss(model, x, y).item()  # the loss of the updated model


def _tiny_gpt(weight_scale: float = 1.0) -> GPT:
    """A 2-layer GPT (V=13, C=16, context 8); its weights multiplied by ``weight_scale``."""
    model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16))
    if weight_scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_(weight_scale)
    return model


def _adamw(model: nn.Module) -> torch.optim.AdamW:
    return torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)


def _batch(B: int, T: int, V: int = 13) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(V, (B, T + 1))
    # (B, T) inputs and the targets one step later, contiguous as helpers.data's batches are
    return ids[:, :-1].contiguous(), ids[:, 1:].contiguous()


def _fresh(B: int = 4, T: int = 8, max_norm: float = 1.0) -> Args:
    model = _tiny_gpt()
    return Args(model, _adamw(model), *_batch(B, T), max_norm=max_norm)


def _after_one_step(weight_scale: float = 1.0, max_norm: float = 1.0) -> Args:
    """A model and optimiser one step into training; .grad still holds that step's gradients."""
    model = _tiny_gpt(weight_scale)
    optimizer = _adamw(model)
    x0, y0 = _batch(4, 8)
    _, loss = model(x0, y0)
    loss.backward()
    optimizer.step()  # the optimiser now has running averages; .grad is left as it is
    return Args(model, optimizer, *_batch(3, 6), max_norm=max_norm)


def _loss_and_weights(args: Args, returned):
    """What a step is judged by: the loss it returned and every weight after it."""
    model = args.args[0]
    return returned, {k: v.detach().clone() for k, v in model.state_dict().items()}


TRAIN_STEP = Exercise(
    name="train_step",
    reference=train_step,
    cases=(
        Case("a new 2-layer GPT and AdamW (lr 0.01), batch (4, 8)", lambda: _fresh(), seed=1),
        Case(
            "one step into training: AdamW has running averages, .grad still holds the last "
            "batch's gradients",
            lambda: _after_one_step(),
            seed=2,
        ),
        Case(
            "one step into training, weights 4x larger (large gradients), max_norm 1.0",
            lambda: _after_one_step(weight_scale=4.0),
            seed=3,
        ),
        Case(
            "one step into training, max_norm 0.1",
            lambda: _after_one_step(max_norm=0.1),
            seed=4,
        ),
    ),
    mistakes=(
        Mistake(
            "the old gradients are not cleared",
            "loss.backward() adds to what .grad already holds. What is still in there "
            "from the previous step?",
            _not_zeroed,
        ),
        Mistake(
            "the weights do not move (no optimizer.step(), or a step that sees no gradient)",
            "After your function the weights are what they were. The optimiser changes them "
            "in step(), using whatever .grad holds at that moment: is this batch's gradient "
            "there then?",
            _no_step,
            also=(_step_before_backward, _zeroed_before_step),
        ),
        Mistake(
            "the gradient is not clipped before the step",
            "On the cases with large gradients your step is too big: their total norm has "
            "to be brought down to max_norm before the optimiser uses them.",
            _not_clipped,
            also=(_clipped_after_step,),
        ),
        Mistake(
            "the loss returned is measured after the update",
            "Return the loss the gradients came from: the forward pass before the step.",
            _loss_after_update,
        ),
    ),
    observe=_loss_and_weights,
)


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

EXERCISES = (GPT_FORWARD, TRAIN_STEP, NEXT_TOKEN_PROBS)


# --- the capstone: your attention inside the trained GPT --------------------------------

LearnerAttention = Callable[..., torch.Tensor]  # my_attention(q, k, v, mask=None) -> out
AGREES_BELOW = 1e-4  # a difference under this is float rounding, not a mistake


def as_attention_fn(fn: LearnerAttention) -> Callable:
    """Wrap ``fn(q, k, v, mask) -> out`` (episode 02's signature) as the model's attention_fn.

    The model's written-out path calls ``attention_fn(q, k, v, mask)`` with q, k, v of
    shape (B, n_head, T, head_size) and a boolean mask (T, T_k) or None, and expects
    ``(out, weights)``; a function that returns the output alone gets ``None`` for the
    weights (the model needs them only for dropout in training). A wrong output shape is
    a ValueError that names both shapes.
    """

    def attention_fn(q, k, v, mask):
        out = fn(q, k, v, mask)
        if isinstance(out, tuple):  # helpers.attention's style: (out, weights)
            out = out[0]
        expected = (*q.shape[:-1], v.shape[-1])
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"your attention returned {got} for q {tuple(q.shape)}, k {tuple(k.shape)}, "
                f"v {tuple(v.shape)}; expected the output {expected}"
            )
        return out, None

    return attention_fn


@dataclass(frozen=True)
class CapstoneReport:
    """The reference model run with the course's attention and with yours, side by side.

    layer_diffs[i] is the largest absolute difference between the two runs' attention
    outputs (B, T, C) in layer i (a difference in layer 0 also moves the later layers);
    the losses are on the same validation windows; the texts are greedy continuations
    of ``prompt``.
    """

    prompt: str
    layer_diffs: tuple[float, ...]
    loss_course: float
    loss_yours: float
    n_windows: int
    text_course: str
    text_yours: str

    @property
    def same_text(self) -> bool:
        """Whether greedy generation wrote exactly the course's text."""
        return self.text_yours == self.text_course

    @property
    def agrees(self) -> bool:
        """Every layer within AGREES_BELOW of the course's, and the same greedy text."""
        return max(self.layer_diffs) < AGREES_BELOW and self.same_text

    def summary(self) -> str:
        """A few lines: per layer, the loss, the text (differences rounded so they read alike)."""

        def size(d: float) -> str:
            if d < AGREES_BELOW:
                return "< 1e-4 (rounding)"
            return f"{d:.2f}" if d >= 0.01 else f"{d:.1e}"

        lines = ["largest difference from the course's attention output, per layer:"]
        lines += [f"  layer {i}: {size(d)}" for i, d in enumerate(self.layer_diffs)]
        lines.append(
            f"validation loss on {self.n_windows} windows: yours {self.loss_yours:.3f}, "
            f"the course's {self.loss_course:.3f}"
        )
        n = len(self.text_course) - len(self.prompt)
        if self.same_text:
            lines.append(f"greedy generation: the same {n} characters as the course's model")
        else:
            first = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(self.text_yours, self.text_course, strict=False))
                    if a != b
                ),
                min(len(self.text_yours), len(self.text_course)),
            )
            lines.append(
                f"greedy generation: differs from character {first - len(self.prompt) + 1} "
                f"of {n} on"
            )
            lines.append(f"  yours:    {self.text_yours!r}")
            lines.append(f"  course's: {self.text_course!r}")
        return "\n".join(lines)


@torch.no_grad()
def _attention_outputs(model: GPT, x: torch.Tensor, y: torch.Tensor):
    """Each layer's attention output (B, T, C) and the loss, with forward hooks."""
    outputs: list[torch.Tensor] = []
    handles = [
        block.attn.register_forward_hook(lambda module, args, out: outputs.append(out[0]))
        for block in model.blocks
    ]
    try:
        _, loss = model(x, y)
    finally:
        for handle in handles:
            handle.remove()
    return outputs, loss.item()


def attention_in_model(
    fn: LearnerAttention,
    val_ids: torch.Tensor,
    course: GPT | None = None,
    checkpoint: str | Path = REFERENCE_CHECKPOINT,
    prompt: str = "The Straw Hat",
    n_new: int = 80,
    n_windows: int = 8,
) -> CapstoneReport:
    """Run the reference checkpoint with ``fn`` as every layer's attention; compare with the course.

    fn: your ``my_attention(q, k, v, mask=None) -> out`` (episode 02), called with q, k, v
    (B, n_head, T, head_size) and a boolean mask, True = may attend (None in generation
    steps that read the KV cache). val_ids (N,): validation text as ids, cut into
    ``n_windows`` windows of block_size. course: the course's model from the same
    checkpoint, if already loaded (it is used as it is and not changed). Your function
    runs in a second copy of the model, loaded with ``helpers.sample.load_gpt(checkpoint,
    attention_fn=...)``. Exceptions from ``fn`` propagate.
    """
    if not callable(fn):
        raise TypeError(f"fn must be your attention function, got {type(fn).__name__}")
    yours, tokenizer, _ = load_gpt(str(checkpoint), attention_fn=as_attention_fn(fn))
    if course is None:
        course, _, _ = load_gpt(str(checkpoint))
    _check_same_weights(course, yours, checkpoint)
    T = course.config.block_size
    val_ids = torch.as_tensor(val_ids).flatten()
    if len(val_ids) < n_windows * T + 1:
        raise ValueError(
            f"val_ids has {len(val_ids)} ids; {n_windows} windows of {T} need {n_windows * T + 1}"
        )
    x = val_ids[: n_windows * T].view(n_windows, T)  # (n_windows, T)
    y = val_ids[1 : n_windows * T + 1].view(n_windows, T)
    was_training = course.training
    course.eval()
    try:
        ours, loss_course = _attention_outputs(course, x, y)
        theirs, loss_yours = _attention_outputs(yours, x, y)
        text_course = _greedy(course, tokenizer, prompt, n_new)
        text_yours = _greedy(yours, tokenizer, prompt, n_new)
    finally:
        course.train(was_training)
    diffs = tuple(float((a - b).abs().max()) for a, b in zip(ours, theirs, strict=True))
    return CapstoneReport(
        prompt=prompt,
        layer_diffs=diffs,
        loss_course=loss_course,
        loss_yours=loss_yours,
        n_windows=n_windows,
        text_course=text_course,
        text_yours=text_yours,
    )


def _greedy(model: GPT, tokenizer: CharTokenizer, prompt: str, n_new: int) -> str:
    idx = torch.tensor([tokenizer.encode(prompt)])  # (1, T)
    return tokenizer.decode(model.generate(idx, n_new, temperature=0)[0])


def _check_same_weights(course: GPT, yours: GPT, checkpoint: str | Path) -> None:
    """The course's model must hold the checkpoint's weights, or the comparison means nothing."""
    theirs = yours.state_dict()
    for name, tensor in course.state_dict().items():
        if name not in theirs or not torch.equal(tensor.cpu(), theirs[name].cpu()):
            raise ValueError(
                f"course: its weights ({name}) are not those of {checkpoint}; pass the model "
                "loaded from that checkpoint, or none"
            )


def try_attention_in_model(
    fn: LearnerAttention,
    val_ids: torch.Tensor,
    course: GPT | None = None,
    raise_errors: bool = False,
    **kwargs,
) -> CapstoneReport | None:
    """Print what ``attention_in_model`` finds for ``fn`` and return the report.

    A stub (NotImplementedError) prints "not written yet"; another exception from your
    function is printed as its type and message (``raise_errors=True`` re-raises it, with
    its traceback). Both return None. kwargs go to ``attention_in_model``.
    """
    name = getattr(fn, "__name__", "your attention")
    try:
        report = attention_in_model(fn, val_ids, course, **kwargs)
    except NotImplementedError:
        print(
            f"{name}: not written yet (the function raises NotImplementedError). Paste your "
            "function from episode 02, then run this cell again."
        )
        return None
    except Exception as error:  # the learner's bug, reported without stopping Run All
        if raise_errors:
            raise
        message = " ".join(str(error).split())
        print(
            f"{name} raised {type(error).__name__}: {message} "
            "(raise_errors=True shows the traceback)"
        )
        return None
    print(report.summary())
    return report
