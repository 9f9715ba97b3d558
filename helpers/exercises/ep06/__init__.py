"""Episode 06's "Your turn" exercises, and its capstone: your attention inside the trained GPT.

The episode ("A GPT of your own") assembles a GPT from the parts of episodes 02-05,
trains it and samples from it. Its exercises ask the learner to write:

- ``gpt_forward`` ("Your turn 1", section 5; in ``forward``): the whole forward pass,
  from the course model's ``state_dict`` to the logits, with nothing but tensor operations;
- ``train_step`` ("Your turn 2", section 6; in ``training``): one optimiser step as
  ``helpers.train`` takes it (clear the gradients, forward, backward, clip, step);
- ``next_token_probs`` ("Your turn 3", section 8; in ``training``): the distribution the
  next character is drawn from, after temperature and top-k.

The references are the course's own code (``helpers.gpt``, ``helpers.train``), so nothing
is defined twice; the mistakes are written out next to them, one small function each.

The capstone (section 12, "Your attention inside the trained GPT"; in ``capstone``) is
``attention_in_model``: it runs the shipped reference checkpoint with every layer's
attention computed by the learner's function (episode 02's ``my_attention(q, k, v,
mask=None)``) and reports, per layer, the largest difference from the course's
attention output, the validation loss, and whether greedy generation writes the same
text. ``CapstoneReport.summary()`` says it in a few lines.
"""

from helpers.exercises.ep06.capstone import (
    AGREES_BELOW,
    CapstoneReport,
    LearnerAttention,
    as_attention_fn,
    attention_in_model,
    try_attention_in_model,
)
from helpers.exercises.ep06.forward import GPT_FORWARD, gpt_forward
from helpers.exercises.ep06.forward import _forward as _forward  # tests use it
from helpers.exercises.ep06.training import (
    NEXT_TOKEN_PROBS,
    TRAIN_STEP,
    next_token_probs,
    train_step,
)

EXERCISES = (GPT_FORWARD, TRAIN_STEP, NEXT_TOKEN_PROBS)

__all__ = [
    "AGREES_BELOW",
    "EXERCISES",
    "GPT_FORWARD",
    "NEXT_TOKEN_PROBS",
    "TRAIN_STEP",
    "CapstoneReport",
    "LearnerAttention",
    "as_attention_fn",
    "attention_in_model",
    "gpt_forward",
    "next_token_probs",
    "train_step",
    "try_attention_in_model",
]
