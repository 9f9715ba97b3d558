"""Explorers of episode 02, ``02_attention_by_hand.ipynb``.

Section 8 ("Explore: move a query and watch the weights") and the solutions use
``query_attention`` and ``plot_query_attention``. The contract is in
``helpers/explorers/__init__.py``.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from helpers.attention import attention_scores
from helpers.explorers.common import wrap_summary


@dataclass(frozen=True)
class QueryAttention:
    """One query scored against every key; each tensor is (T_k,), one entry per token.

    scores = q . k, scaled = scores / sqrt(d_k), weights = softmax(scaled / temperature).
    """

    tokens: list[str]
    query_token: str
    scores: torch.Tensor
    scaled: torch.Tensor
    weights: torch.Tensor
    temperature: float

    @property
    def best(self) -> int:
        """The key with the largest weight."""
        return int(self.weights.argmax())

    def summary(self) -> str:
        """E.g. "query 'cat' (temperature 1.00): largest weight 0.59 on 'sat' (score 5.00, ...)"."""
        b = self.best
        return wrap_summary(
            f"query '{self.query_token}' (temperature {self.temperature:.2f}): largest weight "
            f"{self.weights[b]:.2f} on '{self.tokens[b]}' (score {self.scores[b]:.2f}, "
            f"scaled {self.scaled[b]:.2f})"
        )


def query_attention(
    query: torch.Tensor,
    keys: torch.Tensor,
    tokens: Sequence[str],
    query_token: str,
    temperature: float = 1.0,
) -> QueryAttention:
    """Score one query (d_k,) against keys (T_k, d_k): raw, scaled by sqrt(d_k), softmax weights.

    tokens name the T_k keys and query_token the query. temperature divides the scaled
    scores before the softmax: above 1 flattens the weights towards uniform, below 1
    sharpens them towards the best-matching key.
    """
    if query.dim() != 1:
        raise ValueError(f"query must be one vector (d_k,), got shape {tuple(query.shape)}")
    if keys.dim() != 2 or keys.shape[-1] != query.shape[0]:
        raise ValueError(
            f"keys must be (T_k, {query.shape[0]}) to match the query's width, "
            f"got {tuple(keys.shape)}"
        )
    if len(tokens) != keys.shape[0]:
        raise ValueError(f"{len(tokens)} tokens for {keys.shape[0]} keys")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    q = query.detach().float()[None, :]  # (1, d_k): one row vector
    k = keys.detach().float()  # (T_k, d_k)
    scores = attention_scores(q, k, scale=False)[0]  # (T_k,)
    scaled = scores / math.sqrt(q.shape[-1])  # (T_k,)
    weights = torch.softmax(scaled / temperature, dim=-1)  # (T_k,)
    return QueryAttention(
        [str(t) for t in tokens], str(query_token), scores, scaled, weights, float(temperature)
    )


def plot_query_attention(
    view: QueryAttention, axes: Sequence[plt.Axes] | None = None, *, title: str = ""
) -> Figure:
    """Two panels for one query: its raw and scaled score per key, and its weight per key.

    axes: the two Axes to draw on (scores, weights); None makes a figure with both.
    """
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    if len(axes) != 2:
        raise ValueError(f"axes must be two Axes (scores, weights), got {len(axes)}")
    ax_s, ax_w = axes
    fig = ax_s.figure
    xs = list(range(len(view.tokens)))  # bar positions, one per key
    scores, scaled, weights = view.scores.tolist(), view.scaled.tolist(), view.weights.tolist()
    width = 0.38
    ax_s.bar([x - width / 2 for x in xs], scores, width, label="score q·k", color="C0")
    ax_s.bar([x + width / 2 for x in xs], scaled, width, label="scaled q·k / √d_k", color="C1")
    for x, s, sc in zip(xs, scores, scaled, strict=True):
        for dx, value in ((-width / 2, s), (width / 2, sc)):
            ax_s.annotate(
                f"{value:.2f}",
                (x + dx, value),
                xytext=(0, 2 if value >= 0 else -2),
                textcoords="offset points",
                ha="center",
                va="bottom" if value >= 0 else "top",
                fontsize=8,
            )
    ax_s.axhline(0, color="grey", linewidth=0.8)
    ax_s.margins(y=0.15)
    ax_s.set_xticks(xs, view.tokens)
    ax_s.set_xlabel("key")
    ax_s.set_ylabel("score")
    ax_s.set_title(f"scores of query '{view.query_token}'")
    ax_s.legend(fontsize=8, loc="best")
    ax_s.grid(axis="y", alpha=0.3)
    ax_w.bar(xs, weights, 0.6, color="C2")
    for x, w in zip(xs, weights, strict=True):
        ax_w.text(x, w + 0.02, f"{w:.2f}", ha="center", va="bottom", fontsize=9)
    ax_w.set_ylim(0, 1.1)
    ax_w.set_xticks(xs, view.tokens)
    ax_w.set_xlabel("key")
    ax_w.set_ylabel("attention weight")
    ax_w.set_title(f"softmax weights (temperature {view.temperature:.2f}), sum = 1")
    ax_w.grid(axis="y", alpha=0.3)
    fig.suptitle(title or f"What '{view.query_token}' attends to")
    fig.tight_layout()
    return fig
