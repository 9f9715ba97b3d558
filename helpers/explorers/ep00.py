"""Episode 00's explorer (00_pytorch_primer, section 8): word similarities through a softmax.

The primer's first glimpse of attention: the dot products of a few word embeddings with
one another, ``x @ x.T``, turned into weights by a softmax along each row. A temperature
divides the scores first: above 1 the weights flatten towards uniform, below 1 they
sharpen towards each word's best match. The notebook's widget wires a word dropdown and
a temperature slider to ``similarity_view`` and ``plot_similarity``.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from helpers.explorers.common import check_index, wrap_summary
from helpers.plots import plot_attention


@dataclass(frozen=True)
class SimilarityView:
    """Every word's similarity to every other, as scores and as softmax weights, one word picked.

    scores (T, T) = x @ x.T; weights (T, T) = softmax(scores / temperature) along each row;
    ``query`` is the row the summary reads (and the figure outlines).
    """

    tokens: tuple[str, ...]
    scores: torch.Tensor
    weights: torch.Tensor
    temperature: float
    query: int

    def entropy(self) -> float:
        """The entropy of row ``query``'s weights, in nats (0: all on one word; ln T: uniform)."""
        w = self.weights[self.query]
        return float(-(w * w.clamp_min(1e-30).log()).sum())

    def summary(self) -> str:
        """One line: where the picked word puts its weight, and how spread out that row is."""
        w = self.weights[self.query]  # (T,)
        word = self.tokens[self.query]
        others = [j for j in range(len(self.tokens)) if j != self.query]
        best = max(others, key=lambda j: float(w[j]))
        uniform = math.log(len(self.tokens))
        return wrap_summary(
            f"temperature {self.temperature:.2f}: '{word}' puts {w[self.query]:.3f} on itself "
            f"and {w[best]:.3f} on '{self.tokens[best]}', its nearest other word; the row's "
            f"entropy is {self.entropy():.2f} nats (uniform over {len(self.tokens)} words: "
            f"{uniform:.2f})"
        )


def similarity_view(
    x: torch.Tensor, tokens: Sequence[str], temperature: float = 1.0, query: int = 0
) -> SimilarityView:
    """Scores x @ x.T and their row-wise softmax at ``temperature`` for embeddings x (T, C)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a (T, C) tensor of embeddings, one row per word, got {shape}")
    T = x.shape[0]
    if len(tokens) != T:
        raise ValueError(f"{len(tokens)} tokens for {T} rows of embeddings")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    check_index("query", query, T)
    x = x.detach().float()
    scores = x @ x.T  # (T, C) @ (C, T) -> (T, T)
    weights = torch.softmax(scores / temperature, dim=-1)  # (T, T): each row sums to 1
    return SimilarityView(tuple(str(t) for t in tokens), scores, weights, float(temperature), query)


def plot_similarity(view: SimilarityView, ax: plt.Axes | None = None) -> Figure:
    """The view's weights as an attention heatmap, the picked word's row outlined in red."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.8))
    fig = plot_attention(
        view.weights,
        view.tokens,
        title=f"softmax(x @ x.T / {view.temperature:.2f}), row by row",
        ax=ax,
        outline_rows=[view.query],
    )
    return fig
