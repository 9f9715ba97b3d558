"""Explorers of episode 01, ``01_rnn_vs_transformer.ipynb``.

Section 5 ("Long-range information: how an RNN forgets") and section 6 ("Explore:
which positions move the last output?") use ``SequenceLayer``,
``last_output_influence``, ``influence_view`` and ``plot_influence``; section 9 ("A
first look at attention weights") uses ``gpt_attention_view`` and
``plot_gpt_attention_view``. The contract is in ``helpers/explorers/__init__.py``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from helpers.explorers.common import check_index, one_head, query_link, wrap_summary
from helpers.multihead import MultiHeadAttention
from helpers.plots import plot_attention, token_label
from helpers.seed import seed_offset

SEQUENCE_LAYERS = ("RNN", "LSTM", "attention")


class SequenceLayer(nn.Module):
    """One layer that reads a sequence (B, T, C) -> (B, T, C): a tanh RNN, an LSTM or causal attention.

    The RNN and LSTM are ``torch.nn.RNN`` / ``torch.nn.LSTM`` (what ``helpers.rnn.CharRNN``
    uses); attention is ``helpers.multihead.MultiHeadAttention`` with a causal mask, so in
    all three the output at position t depends on the inputs at positions 0..t only.
    """

    def __init__(self, kind: str, d_model: int = 32, n_head: int = 4):
        super().__init__()
        if kind not in SEQUENCE_LAYERS:
            raise ValueError(f"kind must be one of {SEQUENCE_LAYERS}, got {kind!r}")
        self.kind = kind
        if kind == "attention":
            self.layer = MultiHeadAttention(d_model, n_head)
        else:
            recurrent = nn.RNN if kind == "RNN" else nn.LSTM
            self.layer = recurrent(d_model, d_model, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C)."""
        if self.kind == "attention":
            return self.layer(x, causal=True)[0]
        return self.layer(x)[0]  # the outputs h_t of every step; the final state is dropped


def last_output_influence(
    layer: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    readout: torch.Tensor | None = None,
) -> torch.Tensor:
    """How strongly each input position moves the last output: ||d (y[T-1] @ u) / d x[t]|| for every t.

    layer maps (1, T, C) -> (1, T, C'); x is one sequence (T, C); readout u (C',) is the
    direction in which the last output is read (default: all ones / sqrt(C')). One
    backward pass gives the gradient (T, C); the result is its norm at each position, (T,).
    """
    if x.dim() != 2:
        raise ValueError(f"x must be one sequence of shape (T, C), got {tuple(x.shape)}")
    x = x.detach().clone().requires_grad_(True)
    y = layer(x[None])[0]  # (1, T, C) -> (T, C')
    if readout is None:
        readout = torch.ones(y.shape[-1]) / y.shape[-1] ** 0.5
    if readout.shape != (y.shape[-1],):
        raise ValueError(f"readout must have shape ({y.shape[-1]},), got {tuple(readout.shape)}")
    (grad,) = torch.autograd.grad(y[-1] @ readout, x)  # (T, C)
    return grad.norm(dim=-1)  # (T,)


@dataclass(frozen=True)
class InfluenceView:
    """How much each input position moves the last output of a fresh ``kind`` layer.

    influence (T,) is ``last_output_influence`` at every position; ``ratio`` compares the
    first token (distance T-1 from the last) with the previous token (distance 1).
    """

    kind: str
    influence: torch.Tensor  # (T,)

    @property
    def ratio(self) -> float:
        """The first token's influence over the previous token's."""
        return float(self.influence[0] / self.influence[-2])

    def summary(self) -> str:
        """E.g. "RNN, T=16: the first token moves the last output 4.8e-06 times as much as ..."."""
        if self.ratio == 0.0:
            effect = "does not move the last output at all (its gradient underflowed to 0)"
        else:
            effect = (
                f"moves the last output {self.ratio:.1e} times as much as the previous token does"
            )
        return wrap_summary(f"{self.kind}, T={len(self.influence)}: the first token {effect}")


def influence_view(kind: str, T: int, d_model: int = 32, seed: int = 0) -> InfluenceView:
    """The last output's influence (T,) for a fresh ``kind`` layer on random input.

    The layer's weights, the input (T, d_model) and the readout come from ``seed`` plus
    HELPERS_SEED_OFFSET, as with ``helpers.set_seed`` (the global random state is left
    untouched), so the same arguments give the same numbers, and a notebook that seeds
    with ``set_seed(seed)`` before building the same layer gets the same layer.
    """
    if kind not in SEQUENCE_LAYERS:
        raise ValueError(f"kind must be one of {SEQUENCE_LAYERS}, got {kind!r}")
    if not isinstance(T, int) or T < 2:
        raise ValueError(f"T must be an int >= 2 (a first and a previous token), got {T!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + seed_offset())
        layer = SequenceLayer(kind, d_model)
        x = torch.randn(T, d_model)  # (T, C)
        readout = torch.nn.functional.normalize(torch.randn(d_model), dim=0)  # (C,)
    return InfluenceView(kind, last_output_influence(layer, x, readout))


def plot_influence(
    view: InfluenceView,
    ax: plt.Axes | None = None,
    *,
    title: str | None = None,
    label: str | None = None,
) -> Figure:
    """The view's influence of each input position on the last output, on a log scale."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    values = view.influence.detach().cpu().clamp_min(1e-30)  # log scale: show a vanished 0 as 1e-30
    ax.semilogy(range(len(values)), values, marker=".", label=label)
    ax.set_title(title or f"Which inputs move the last output? {view.kind}, T = {len(values)}")
    ax.set_xlabel("input position t (the last output is at the right end)")
    ax.set_ylabel("gradient size ‖∂(y_last · u) / ∂x_t‖ (log)")
    ax.grid(alpha=0.3, which="both")
    if label is not None:
        ax.legend()
    return ax.figure


@dataclass(frozen=True)
class GPTAttentionView:
    """One head of a GPT on one sequence, seen from one query row."""

    tokens: list[str]
    weights: torch.Tensor  # (T, T)
    layer: int
    head: int
    query: int

    def summary(self) -> str:
        """E.g. "layer 1, head 0: query 5 'f' puts 0.62 on key 4 'f'"."""
        link = query_link(self.tokens, self.weights, self.query)
        return wrap_summary(f"layer {self.layer}, head {self.head}: {link}")


def gpt_attention_view(
    maps: torch.Tensor, tokens: list[str], layer: int, head: int, query: int
) -> GPTAttentionView:
    """One head's weights (T, T) from a GPT's attention maps, seen from row ``query``.

    maps: ``GPT.attention_maps`` of one sequence, (n_layer, n_head, T, T) or
    (1, n_layer, n_head, T, T); tokens: the T characters.
    """
    w = one_head(maps, tokens, layer, head)  # (T, T)
    check_index("query", query, w.shape[-1])
    return GPTAttentionView(list(tokens), w, layer, head, query)


def plot_gpt_attention_view(
    view: GPTAttentionView,
    axes: Sequence[plt.Axes] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """The view's head with the query's row outlined in red, and that row as bars, key by key.

    axes: the two Axes to draw on (heatmap, row); None makes a figure with both. The bars
    read the outlined row of the heatmap one key at a time: the strongest key in red, the
    keys after the query (hidden by the causal mask) shaded.
    """
    if axes is None:
        _, axes = plt.subplots(
            1, 2, figsize=(15, 6.2), gridspec_kw={"width_ratios": [1.15, 1]}, layout="constrained"
        )
    if len(axes) != 2:
        raise ValueError(f"axes must be two Axes (heatmap, row), got {len(axes)}")
    ax_map, ax_row = axes
    q, tokens = view.query, view.tokens
    T = len(tokens)
    plot_attention(
        view.weights,
        tokens,
        title=title or f"Layer {view.layer}, head {view.head}, query {q} {tokens[q]!r}",
        ax=ax_map,
        outline_rows=[q],
    )
    row = view.weights[q].detach().float().cpu()  # (T,): the query's weight on each key
    key = int(row.argmax())
    colours = ["crimson" if s == key else "tab:blue" for s in range(T)]
    ax_row.bar(range(T), row.numpy(), color=colours)
    if q + 1 < T:
        ax_row.axvspan(q + 0.5, T - 0.5, color="lightgrey", alpha=0.6, lw=0)
        ax_row.text(
            (q + T) / 2, 0.95, "later keys:\nhidden (causal)", ha="center", va="top", fontsize=8
        )
    ax_row.set_xticks(range(T), [token_label(t) for t in tokens], fontsize=9)
    ax_row.set_xlim(-0.5, T - 0.5)
    ax_row.set_ylim(0, 1)
    ax_row.set_title(f"Query {q} {tokens[q]!r} reads: its row, key by key (strongest in red)")
    ax_row.set_xlabel("key (attended to)")
    ax_row.set_ylabel("attention weight")
    ax_row.grid(axis="y", alpha=0.3)
    return ax_map.figure
