"""Explorers of episode 06, ``06_gpt_one_piece.ipynb``.

Section 8 ("Generation: temperature and top-k") uses ``next_char_view`` and
``plot_next_char``; section 9 ("What the model attends to") uses ``gpt_head_view`` and
``plot_gpt_head``. The contract is in ``helpers/explorers/__init__.py``.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from helpers.data import CharTokenizer
from helpers.explorers.common import one_head, wrap_summary
from helpers.gpt import GPT, next_token_probs
from helpers.plots import VISIBLE_NEWLINE, plot_attention, token_label
from helpers.sample import sample_text


@dataclass(frozen=True)
class NextCharView:
    """What the generation explorer shows for one prompt and one setting of its controls.

    chars are the n_show likeliest next characters under the model's own distribution
    (temperature 1, no top-k), likeliest first; raw_probs (n_show,) are those
    probabilities and probs (n_show,) the same characters' probabilities after
    temperature and top-k. kept counts the characters left with a non-zero probability.
    """

    prompt: str
    chars: list[str]
    raw_probs: torch.Tensor
    probs: torch.Tensor
    kept: int
    entropy: float  # of the adjusted distribution over the whole vocabulary, in nats
    sample: str  # the generated continuation (without the prompt)
    temperature: float
    top_k: int | None

    def summary(self) -> str:
        """The settings, the likeliest next character and how spread the choice is."""
        best = int(self.probs.argmax())
        k = "all" if self.top_k is None else str(self.top_k)
        tail = self.prompt[-20:].replace("\n", VISIBLE_NEWLINE)
        return wrap_summary(
            f"after '{tail}' (temperature {self.temperature:.2f}, top-k {k}): "
            f"'{token_label(self.chars[best])}' {self.probs[best]:.2f} "
            f"(model alone {self.raw_probs[best]:.2f}); {self.kept} characters possible, "
            f"entropy {self.entropy:.2f} nats"
        )


@torch.no_grad()
def next_char_view(
    model: GPT,
    tokenizer: CharTokenizer,
    prompt: str,
    temperature: float = 1.0,
    top_k: int | None = None,
    n_show: int = 12,
    n_new: int = 80,
    seed: int = 0,
) -> NextCharView:
    """The next-character distribution after ``prompt`` (raw and adjusted) and a seeded sample.

    The prompt is cropped to the model's last block_size characters. top_k=None (or a
    value >= the vocabulary size) keeps every character. A character outside the
    vocabulary or an empty prompt raises ValueError.
    """
    if not prompt:
        raise ValueError("the prompt must not be empty (the model needs a first character)")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive int or None, got {top_k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if n_show < 1:
        raise ValueError(f"n_show must be >= 1, got {n_show}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = tokenizer.encode(prompt)[-model.config.block_size :]
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    logits, _ = model(idx)
    last = logits[0, -1].float().cpu()  # (V,): the scores for the character after the prompt
    raw = next_token_probs(last)  # (V,) temperature 1, every character
    adjusted = next_token_probs(last, temperature, top_k)  # (V,)
    n_show = min(n_show, tokenizer.vocab_size)
    order = raw.argsort(descending=True)[:n_show]  # (n_show,) likeliest first
    nonzero = adjusted[adjusted > 0]
    entropy = float(-(nonzero * nonzero.log()).sum())
    text = sample_text(model, tokenizer, prompt, n_new, temperature, top_k, seed)
    model.train(was_training)
    return NextCharView(
        prompt=prompt,
        chars=[tokenizer.chars[i] for i in order.tolist()],
        raw_probs=raw[order],
        probs=adjusted[order],
        kept=int((adjusted > 0).sum()),
        entropy=entropy,
        sample=text[len(prompt) :],
        temperature=float(temperature),
        top_k=top_k,
    )


def plot_next_char(view: NextCharView, ax: plt.Axes | None = None, *, title: str = "") -> Figure:
    """Bars of the likeliest next characters: the model's own probabilities and the adjusted ones."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    xs = list(range(len(view.chars)))
    width = 0.4
    ax.bar(
        [x - width / 2 for x in xs],
        view.raw_probs.tolist(),
        width,
        color="lightgrey",
        edgecolor="grey",
        label="model (temperature 1, all characters)",
    )
    k = "all" if view.top_k is None else view.top_k
    ax.bar(
        [x + width / 2 for x in xs],
        view.probs.tolist(),
        width,
        color="C0",
        label=f"sampled from (temperature {view.temperature:.2f}, top-k {k})",
    )
    ax.set_xticks(xs, [token_label(c) for c in view.chars])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("next character (the model's likeliest first)")
    ax.set_ylabel("probability")
    tail = view.prompt[-30:].replace("\n", VISIBLE_NEWLINE)
    ax.set_title(title or f"What comes after '{tail}'?")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    ax.figure.tight_layout()
    return ax.figure


@dataclass(frozen=True)
class GPTHeadView:
    """Where one head of a GPT puts its weight, on average over the queries after the first.

    previous, itself and first are the mean weights on the previous character, the
    query's own position and the first character; mean_back is how many characters back
    the weight lies on average.
    """

    tokens: list[str]
    weights: torch.Tensor  # (T, T)
    layer: int
    head: int
    previous: float
    itself: float
    first: float
    mean_back: float

    def summary(self) -> str:
        """E.g. "layer 0, head 2: mean weight on the previous character 0.81, ..."."""
        return wrap_summary(
            f"layer {self.layer}, head {self.head}: mean weight on the previous character "
            f"{self.previous:.2f}, on itself {self.itself:.2f}, on the first {self.first:.2f}; "
            f"looks back {self.mean_back:.1f} characters on average"
        )


def gpt_head_view(maps: torch.Tensor, tokens: Sequence[str], layer: int, head: int) -> GPTHeadView:
    """One head's weights (T, T) from a GPT's attention maps (n_layer, n_head, T, T), summarised."""
    w = one_head(maps, tokens, layer, head).detach().float().cpu()  # (T, T)
    T = w.shape[-1]
    if T < 2:
        raise ValueError("need at least 2 tokens to say where a head looks")
    rows = torch.arange(1, T)  # the queries that have a previous character
    distance = (rows[:, None] - torch.arange(T)[None, :]).clamp(min=0).float()  # (T-1, T)
    return GPTHeadView(
        tokens=[str(t) for t in tokens],
        weights=w,
        layer=layer,
        head=head,
        previous=float(w[rows, rows - 1].mean()),
        itself=float(w[rows, rows].mean()),
        first=float(w[rows, 0].mean()),
        mean_back=float((w[1:] * distance).sum(-1).mean()),
    )


def plot_gpt_head(
    view: GPTHeadView,
    ax: plt.Axes | None = None,
    *,
    title: str | None = None,
    outline_cells: Iterable[tuple[int, int]] = (),
) -> Figure:
    """The view's head, spaces and newlines visible on the axes (``plot_attention``).

    outline_cells: (query, key) pairs outlined in red, e.g. where the text says a head looks.
    """
    if ax is None:  # a square-ish figure that fits a notebook column for ~30 characters
        T = len(view.tokens)
        _, ax = plt.subplots(figsize=(min(9.0, 0.25 * T + 2.0), min(7.5, 0.22 * T + 1.5)))
    return plot_attention(
        view.weights,
        view.tokens,
        title=title or f"Layer {view.layer}, head {view.head}: who attends to whom",
        ax=ax,
        outline_cells=outline_cells,
    )
