"""Episode 06's capstone (section 12, "Your attention inside the trained GPT").

``attention_in_model`` runs the shipped reference checkpoint with every layer's attention
computed by the learner's function (episode 02's ``my_attention(q, k, v, mask=None)``) and
reports, per layer, the largest difference from the course's attention output, the
validation loss, and whether greedy generation writes the same text.
``CapstoneReport.summary()`` says it in a few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from helpers.data import CharTokenizer
from helpers.gpt import GPT
from helpers.sample import REFERENCE_CHECKPOINT, load_gpt

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
