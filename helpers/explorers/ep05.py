"""Explorers of episode 05, ``05_transformer_block.ipynb``.

Section 5 ("Inside the trained stack: every layer, every head") uses ``trace_stack``;
section 6 ("Explore the stack: layers, heads, and the size of the residual stream")
uses ``stack_view`` and ``plot_stack_view``. The contract is in
``helpers/explorers/__init__.py``.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from helpers.explorers.common import check_index, wrap_summary
from helpers.plots import plot_attention


@dataclass(frozen=True)
class StackTrace:
    """What one input sequence does inside a stack of transformer blocks."""

    weights: torch.Tensor  # (L, n_head, T, T): every layer's attention weights
    stream_size: torch.Tensor  # (L + 1, T): each token's ||x|| at the input and after each block

    @property
    def n_layer(self) -> int:
        """The number of blocks traced."""
        return self.weights.shape[0]

    @property
    def n_head(self) -> int:
        """The number of heads in each block."""
        return self.weights.shape[1]


@torch.no_grad()
def trace_stack(blocks: Sequence[nn.Module], x: torch.Tensor) -> StackTrace:
    """Run ``x`` (1, T, C) through ``blocks``, recording attention and ||x|| per token.

    Each block is called as ``block(x, need_weights=True)`` and must return
    ``(x, weights)`` with weights (1, n_head, T, T), as ``TransformerBlock`` does.
    """
    if x.dim() != 3 or x.shape[0] != 1:
        raise ValueError(f"x must be one sequence of shape (1, T, C), got {tuple(x.shape)}")
    if len(blocks) == 0:
        raise ValueError("blocks is empty: there is nothing to trace")
    weights, sizes = [], [x[0].norm(dim=-1)]  # (T,) before the first block
    for block in blocks:
        x, w = block(x, need_weights=True)  # (1, T, C), (1, n_head, T, T)
        weights.append(w[0])
        sizes.append(x[0].norm(dim=-1))
    return StackTrace(torch.stack(weights), torch.stack(sizes))  # (L, nh, T, T), (L + 1, T)


@dataclass(frozen=True)
class StackView:
    """One head of one layer of one variant, and every variant's residual-stream size.

    weights (T, T) is the chosen head; sizes maps each variant to its mean token norm
    ||x|| at the input and after each block, (L + 1,).
    """

    tokens: list[str]
    variant: str
    layer: int
    head: int
    weights: torch.Tensor
    sizes: dict[str, torch.Tensor]

    def summary(self) -> str:
        """The head's strongest query -> key link and the residual stream's size there."""
        w = self.weights  # (T, T)
        q, k = divmod(int(w.argmax()), w.shape[1])
        size_in, size = (float(self.sizes[self.variant][i]) for i in (0, self.layer + 1))
        return wrap_summary(
            f"layer {self.layer}, head {self.head} ({self.variant}): query {q} "
            f"'{self.tokens[q]}' looks most at key {k} '{self.tokens[k]}' ({w[q, k].item():.2f}); "
            f"stream size {size:.2f}, {size / size_in:.1f}x the input"
        )


def stack_view(
    traces: Mapping[str, StackTrace], variant: str, layer: int, head: int, tokens: Sequence[str]
) -> StackView:
    """The view of head ``head`` in layer ``layer`` of ``variant``, among all traced variants."""
    if variant not in traces:
        raise ValueError(f"variant must be one of {list(traces)}, got {variant!r}")
    trace = traces[variant]
    check_index("layer", layer, trace.n_layer)
    check_index("head", head, trace.n_head)
    w = trace.weights[layer, head]  # (T, T)
    if len(tokens) != w.shape[0]:
        raise ValueError(f"{len(tokens)} tokens for a sequence of {w.shape[0]}")
    sizes = {name: t.stream_size.mean(dim=1) for name, t in traces.items()}  # (L + 1,) each
    return StackView([str(t) for t in tokens], variant, layer, head, w, sizes)


def plot_stack_view(view: StackView, axes: Sequence[plt.Axes] | None = None) -> Figure:
    """Left: the chosen head's attention. Right: every variant's stream size through the stack.

    The right panel draws the mean residual-stream norm at the input and after each
    block for all variants (log scale), the chosen one bold, the chosen layer circled.
    axes: the two Axes to draw on; None makes a figure with both.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    if len(axes) != 2:
        raise ValueError(f"axes must be two Axes (attention, stream size), got {len(axes)}")
    ax_att, ax_size = axes
    plot_attention(
        view.weights,
        view.tokens,
        title=f"{view.variant}: layer {view.layer}, head {view.head}",
        ax=ax_att,
        annotate=False,
    )
    chosen_size = view.sizes[view.variant]
    depth = list(range(len(chosen_size)))
    for i, (name, size) in enumerate(view.sizes.items()):
        chosen = name == view.variant
        ax_size.plot(
            depth,
            size.tolist(),
            marker="o",
            markersize=3,
            color=f"C{i}",
            linewidth=2.5 if chosen else 1.0,
            alpha=1.0 if chosen else 0.45,
            label=name,
        )
    ax_size.plot(
        [view.layer + 1],
        [chosen_size[view.layer + 1].item()],
        "o",
        markersize=12,
        markerfacecolor="none",
        markeredgecolor="black",
        markeredgewidth=2,
        label="chosen layer",
    )
    ax_size.set_yscale("log")
    ax_size.set_xticks(depth, ["in"] + [str(i) for i in range(len(depth) - 1)])
    ax_size.set_xlabel("residual stream after layer")
    ax_size.set_ylabel("mean token norm ||x|| (log scale)")
    ax_size.set_title("Size of the residual stream through the stack")
    ax_size.grid(alpha=0.3)
    ax_size.legend(fontsize=8)
    ax_att.figure.tight_layout()
    return ax_att.figure
