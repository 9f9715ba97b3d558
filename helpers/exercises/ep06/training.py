"""Episode 06's "Your turn 2" and "Your turn 3": ``train_step`` and ``next_token_probs``.

- ``train_step`` ("Your turn 2", section 6): one optimiser step as ``helpers.train``
  takes it (clear the gradients, forward, backward, clip, step);
- ``next_token_probs`` ("Your turn 3", section 8): the distribution the next character
  is drawn from, after temperature and top-k.

The references are the course's own code (``helpers.train``, ``helpers.gpt``); the mistakes
are written out here, one small function each.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.exercises.core import Args, Case, Exercise, Mistake
from helpers.gpt import GPT, GPTConfig
from helpers.gpt import next_token_probs as _next_token_probs

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
