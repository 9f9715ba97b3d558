"""Explorers of episode 03, ``03_multi_head_attention.ipynb``.

Section 7 ("Explore: examples, heads and masks") uses ``MASK_KINDS``, ``build_mask``,
``head_view`` and ``plot_head_view``. The contract is in
``helpers/explorers/__init__.py``. The masks are section 5's: padding, causal, both, and a
sliding window of ``WINDOW`` keys (local attention; causal, so it hides end padding from
every real token as the causal mask does).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from helpers.attention import causal_mask, padding_mask, sliding_window_mask
from helpers.explorers.common import check_index, query_link, wrap_summary
from helpers.multihead import MultiHeadAttention
from helpers.plots import plot_attention

MASK_KINDS = ("none", "padding", "causal", "padding + causal", "sliding window")
WINDOW = 3  # keys per query under the sliding window, the query's own included


def build_mask(kind: str, length: int, T: int, window: int = WINDOW) -> torch.Tensor | None:
    """The (T, T) boolean mask ``kind`` for one sequence of ``length`` real tokens padded to T.

    True = the query (row) may attend to the key (column). 'none' gives None; the sliding
    window lets query i see keys i - window + 1 .. i (so it is causal too).
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"mask kind must be one of {MASK_KINDS}, got {kind!r}")
    if not 1 <= length <= T:
        raise ValueError(f"length must be in 1..{T} (the padded length), got {length}")
    mask = None
    if "padding" in kind:
        mask = padding_mask([length], T)[0].expand(T, T)  # (1, T) -> (T, T): same keys per query
    if "causal" in kind:
        tri = causal_mask(T)  # (T, T)
        mask = tri if mask is None else mask & tri
    if "sliding window" in kind:
        band = sliding_window_mask(T, window)  # (T, T)
        mask = band if mask is None else mask & band
    return mask


@dataclass(frozen=True)
class HeadView:
    """One head's weights (T, T) on one sequence under a named mask, seen from one query row."""

    tokens: list[str]
    weights: torch.Tensor  # (T, T)
    head: int
    mask_kind: str
    query: int
    masked: int  # how many keys the query may not see

    def summary(self) -> str:
        """E.g. "head 1, causal: query 4 'd' puts 0.97 on key 0 'a'; 7 of 12 keys masked"."""
        link = query_link(self.tokens, self.weights, self.query)
        return wrap_summary(
            f"head {self.head}, {self.mask_kind}: {link}; {self.masked} of {len(self.tokens)} "
            "keys masked"
        )


def head_view(
    attn: MultiHeadAttention,
    x: torch.Tensor,
    tokens: Sequence[str],
    length: int,
    head: int,
    mask_kind: str,
    query: int,
) -> HeadView:
    """Run ``attn`` on one sequence x (T, C) of ``length`` real tokens under a named mask."""
    if x.dim() != 2 or x.shape[-1] != attn.d_model:
        raise ValueError(f"x must be one sequence (T, {attn.d_model}), got {tuple(x.shape)}")
    T = x.shape[0]
    if len(tokens) != T:
        raise ValueError(f"{len(tokens)} tokens for a sequence of length {T}")
    check_index("head", head, attn.n_head)
    check_index("query", query, T)
    mask = build_mask(mask_kind, length, T)
    with torch.no_grad():
        _, weights = attn(x[None], mask=mask, need_weights=True)  # (1, n_head, T, T)
    masked = 0 if mask is None else int((~mask[query]).sum())
    return HeadView([str(t) for t in tokens], weights[0, head], head, mask_kind, query, masked)


def plot_head_view(
    view: HeadView, ax: plt.Axes | None = None, *, title: str | None = None
) -> Figure:
    """The view's head with the query's row outlined in red."""
    return plot_attention(
        view.weights,
        view.tokens,
        title=title or f"head {view.head}, mask: {view.mask_kind}",
        ax=ax,
        outline_rows=[view.query],
    )
