"""The course's figures: one heatmap style for every attention picture, one loss-curve style.

Episode 02 introduces ``plot_attention`` (section "Attention by hand") and every later
episode draws its attention pictures with it, the explorers of ``helpers.explorers``
included; ``plot_losses`` draws the loss curve of every training run from episode 01 on.
Every function returns a matplotlib Figure (and draws on ``ax`` when one is given),
so a notebook shows it and a test can inspect it. Nothing here imports the training
code: a loss history is plain data.
"""

from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

OUTLINE_STYLE = {"fill": False, "edgecolor": "red", "linewidth": 2}  # the cells a figure points at
TICK_FONTSIZE = 9  # points: a grid's token labels stay readable (8 pt at the least)


def _as_array(x) -> np.ndarray:
    """A tensor, list or array as a float NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


VISIBLE_SPACE, VISIBLE_NEWLINE = "\u2423", "\u21b5"  # ␣ and ↵: blanks you can see on an axis


def token_label(token) -> str:
    """A tick label for a token: a space shows as '␣', a newline as '↵', anything else as itself."""
    return {" ": VISIBLE_SPACE, "\n": VISIBLE_NEWLINE}.get(str(token), str(token))


def _heatmap_axes(rows: int, cols: int) -> plt.Axes:
    """A new figure's axes, sized so that a (rows, cols) heatmap's cells stay readable."""
    width, height = max(3.5, 0.45 * cols + 2), max(3.0, 0.4 * rows + 1.5)
    _, ax = plt.subplots(figsize=(min(width, 12), min(height, 10)))
    return ax


def plot_heatmap(
    matrix,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    cbar_label: str = "",
    ax: plt.Axes | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    annotate: bool = False,
    colorbar: bool = True,
) -> Figure:
    """Draw a 2-D matrix as a heatmap with labelled axes and a colour bar."""
    m = _as_array(matrix)
    if m.ndim != 2:
        raise ValueError(f"plot_heatmap needs a 2-D matrix, got shape {m.shape}")
    if ax is None:
        ax = _heatmap_axes(*m.shape)
    fig = ax.figure
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for labels, setter, n, axis in (
        (x_labels, ax.set_xticks, m.shape[1], "x"),
        (y_labels, ax.set_yticks, m.shape[0], "y"),
    ):
        if labels is not None:
            if len(labels) != n:
                raise ValueError(
                    f"{len(labels)} {axis} labels for {n} {'columns' if axis == 'x' else 'rows'}"
                )
            setter(range(n), [token_label(t) for t in labels])
    if x_labels is not None:
        # turn the labels only when they would collide: long words across many columns
        widest = max(map(len, map(str, x_labels)), default=0)
        ax.tick_params(axis="x", labelrotation=90 if widest * len(x_labels) > 40 else 0)
    if annotate:
        lo, hi = np.nanmin(m), np.nanmax(m)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                light = (m[i, j] - lo) < 0.5 * (hi - lo)
                ax.text(
                    j,
                    i,
                    f"{m[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if light else "black",
                )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if colorbar:
        fig.colorbar(im, ax=ax, label=cbar_label, fraction=0.046, pad=0.04)
    return fig


def plot_attention(
    weights,
    tokens: Sequence[str] | None = None,
    query_tokens: Sequence[str] | None = None,
    title: str = "Attention weights",
    ax: plt.Axes | None = None,
    annotate: bool | None = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    outline_rows: Iterable[int] = (),
    outline_cells: Iterable[tuple[int, int]] = (),
) -> Figure:
    """Heatmap of attention weights: keys across, queries down, colour = weight in [0, 1].

    weights: (T_q, T_k) for one matrix, or (rows, cols, T_q, T_k) for a grid such as
    layers x heads, all on one colour scale. tokens label the keys (and the queries,
    unless query_tokens differ, as in cross-attention); a space shows as '␣', a newline
    as '↵' (``token_label``). For one matrix, ``outline_rows`` (query indices) and
    ``outline_cells`` ((query, key) pairs) are outlined in red on the axes drawn on.
    """
    w = _as_array(weights)
    query_tokens = tokens if query_tokens is None else query_tokens
    outline_rows, outline_cells = list(outline_rows), list(outline_cells)
    if w.ndim == 2:
        if annotate is None:
            annotate = max(w.shape) <= 8
        if ax is None:
            ax = _heatmap_axes(*w.shape)
        fig = plot_heatmap(
            w,
            tokens,
            query_tokens,
            title=title,
            xlabel="key (attended to)",
            ylabel="query (attending)",
            cbar_label="attention weight",
            ax=ax,
            vmin=0.0,
            vmax=1.0,
            annotate=annotate,
        )
        _outline(ax, w.shape, outline_rows, outline_cells)  # on this ax, not the figure's first
        return fig
    if w.ndim != 4:
        raise ValueError(
            f"weights must be (T_q, T_k) or (rows, cols, T_q, T_k), got shape {w.shape}"
        )
    if outline_rows or outline_cells:
        raise ValueError("outlines mark cells of one (T_q, T_k) matrix, not of a grid of them")
    rows, cols = w.shape[:2]
    row_labels = row_labels or [f"layer {i}" for i in range(rows)]
    col_labels = col_labels or [f"head {j}" for j in range(cols)]
    # constrained layout keeps titles, tick labels and the shared colour bar apart
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(2.6 * cols + 1.2, 2.6 * rows + 0.8),
        squeeze=False,
        layout="constrained",
    )
    vmax = float(w.max())
    for i in range(rows):
        for j in range(cols):
            a = axes[i, j]
            im = a.imshow(w[i, j], cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto")
            small = w.shape[-1] <= 16
            if tokens is not None and small:
                labels = [token_label(t) for t in tokens]
                a.set_xticks(range(len(tokens)), labels, fontsize=TICK_FONTSIZE)
            else:
                a.set_xticks([])
            if query_tokens is not None and small and j == 0:
                labels = [token_label(t) for t in query_tokens]
                a.set_yticks(range(len(query_tokens)), labels, fontsize=TICK_FONTSIZE)
            else:
                a.set_yticks([])
            a.set_title(f"{row_labels[i]}, {col_labels[j]}", fontsize=9)
            if i == rows - 1:
                a.set_xlabel("key")
            if j == 0:
                a.set_ylabel("query")
    fig.suptitle(title)
    fig.colorbar(im, ax=axes, label="attention weight", fraction=0.03, pad=0.02)
    return fig


def _outline(
    ax: plt.Axes, shape: tuple[int, int], rows: list[int], cells: list[tuple[int, int]]
) -> None:
    """Outline whole query rows and single (query, key) cells of a (T_q, T_k) heatmap on ``ax``."""
    T_q, T_k = shape
    for row in rows:
        if not 0 <= row < T_q:
            raise ValueError(f"outline_rows: query {row} is outside 0..{T_q - 1}")
        ax.add_patch(Rectangle((-0.5, row - 0.5), T_k, 1, **OUTLINE_STYLE))
    for query, key in cells:
        if not (0 <= query < T_q and 0 <= key < T_k):
            raise ValueError(
                f"outline_cells: ({query}, {key}) is outside the {T_q} x {T_k} weights"
            )
        ax.add_patch(Rectangle((key - 0.5, query - 0.5), 1, 1, **OUTLINE_STYLE))


def plot_losses(
    runs,
    title: str = "Loss",
    x: str = "step",
    ax: plt.Axes | None = None,
    baselines: Mapping[str, float] | None = None,
    log_y: bool = False,
) -> Figure:
    """Train (solid) and validation (dashed) loss of one or several runs on one axes.

    runs: one loss history, or a mapping of run name to history. A history is anything
    with equally long lists ``step``, ``seconds``, ``train`` and ``val`` (NaN where a loss
    was not measured), such as ``helpers.train.History``. x: 'step' or 'seconds'.
    baselines: horizontal reference lines, name -> loss (e.g. uniform guessing).
    """
    if not isinstance(runs, Mapping):
        runs = {"": runs}
    if x not in ("step", "seconds"):
        raise ValueError(f"x must be 'step' or 'seconds', got {x!r}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    fig = ax.figure
    for i, (name, h) in enumerate(runs.items()):
        if not h.step:
            raise ValueError(f"run {name!r} has no recorded losses")
        color = f"C{i}"
        xs = getattr(h, x)
        prefix = f"{name} " if name else ""
        if any(v == v for v in h.train):  # not all NaN
            ax.plot(xs, h.train, color=color, label=f"{prefix}train")
        if any(v == v for v in h.val):
            ax.plot(xs, h.val, color=color, linestyle="--", label=f"{prefix}validation")
    for name, value in (baselines or {}).items():
        ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.annotate(
            name,
            xy=(0.99, value),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="dimgrey",
        )
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("training step" if x == "step" else "training time (s)")
    ax.set_ylabel("cross-entropy loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
