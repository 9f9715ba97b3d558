"""Data-flow diagrams drawn with matplotlib: boxes for tensors and matrices, arrows between them.

Episode 02 draws the flow of one attention head with ``plot_qkv_flow`` (section 3,
"Attention step by step"): the input ``x`` through ``W_Q``, ``W_K``, ``W_V`` to queries,
keys and values, then scores, softmax, the weighted sum of values and ``W_O``, each box
with its shape. Episode 01 draws who waits for whom with ``plot_dependencies``
(sections 2 and 3): an unrolled RNN's chain of steps next to causal attention's direct
connections. Episode 03 draws how one projection is cut into heads with
``plot_head_split`` (section 4): view, then transpose, and the mistake of viewing
straight to (B, h, T, hs). Every function returns a matplotlib Figure and draws on
``ax`` when one is given, like ``helpers.plots``; nothing here computes a model.
"""

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

# One colour per role, the same in every diagram: queries, keys, values, the rest.
ROLE_COLOURS = {"Q": "#c6dbef", "K": "#fdd0a2", "V": "#c7e9c0", "other": "#e5e5e5"}


BOX_HEIGHT = 1.35  # in data units, like every position below


def _box(ax: plt.Axes, xy: tuple[float, float], text: str, colour: str, width: float) -> None:
    """A rounded box of the given width centred on xy, with centred text."""
    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - BOX_HEIGHT / 2),
            width,
            BOX_HEIGHT,
            boxstyle="round,pad=0.02,rounding_size=0.15",
            facecolor=colour,
            edgecolor="black",
            linewidth=1.0,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _edge(centre: tuple[float, float], width: float, towards: tuple[float, float]):
    """Where the line from a box's centre towards a point leaves the box."""
    (x, y), (tx, ty) = centre, towards
    dx, dy = tx - x, ty - y
    t = min(
        (width / 2 + 0.05) / abs(dx) if dx else float("inf"),
        (BOX_HEIGHT / 2 + 0.05) / abs(dy) if dy else float("inf"),
    )
    return x + t * dx, y + t * dy


def _arrow(ax: plt.Axes, start, start_width: float, end, end_width: float) -> None:
    """An arrow from the edge of the box at start to the edge of the box at end."""
    ax.annotate(
        "",
        xy=_edge(end, end_width, start),
        xytext=_edge(start, start_width, end),
        arrowprops={"arrowstyle": "-|>", "color": "black", "shrinkA": 0, "shrinkB": 0},
    )


def _shape(names: str, sizes: tuple[int | None, ...]) -> str:
    """'(T, d_k)', or '(T, d_k) = (4, 3)' when every size is known."""
    if all(s is not None for s in sizes):
        return f"({names}) = ({', '.join(str(s) for s in sizes)})"
    return f"({names})"


def plot_qkv_flow(
    T: int | None = None,
    C: int | None = None,
    d_k: int | None = None,
    d_v: int | None = None,
    ax: plt.Axes | None = None,
    title: str = "One attention head: where queries, keys and values go",
) -> Figure:
    """Draw one head's data flow, x -> Q, K, V -> scores -> weights -> weights @ V -> W_O -> y.

    Row vectors throughout (``x @ W``). Each box shows its shape in symbols; with T, C,
    d_k and d_v given, also in numbers (episode 02 passes its 4-word example's sizes).
    """
    for name, value in (("T", T), ("C", C), ("d_k", d_k), ("d_v", d_v)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(14, 4.2))
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)
    fig = ax.figure
    col = ROLE_COLOURS
    pos = {
        "x": (1.3, 3.2),
        "W_Q": (4.3, 5.2),
        "W_K": (4.3, 3.2),
        "W_V": (4.3, 1.2),
        "Q": (7.3, 5.2),
        "K": (7.3, 3.2),
        "V": (7.3, 1.2),
        "scores": (10.4, 4.2),
        "weights": (13.6, 4.2),
        "mix": (13.6, 1.2),
        "W_O": (16.5, 1.2),
        "y": (19.3, 1.2),
    }
    boxes = {
        "x": (f"x: one row per token\n{_shape('T, C', (T, C))}", col["other"], 2.5),
        "W_Q": (f"W_Q\n{_shape('C, d_k', (C, d_k))}", col["Q"], 2.2),
        "W_K": (f"W_K\n{_shape('C, d_k', (C, d_k))}", col["K"], 2.2),
        "W_V": (f"W_V\n{_shape('C, d_v', (C, d_v))}", col["V"], 2.2),
        "Q": (f"Q = x @ W_Q\n{_shape('T, d_k', (T, d_k))}\nwhat it looks for", col["Q"], 2.5),
        "K": (f"K = x @ W_K\n{_shape('T, d_k', (T, d_k))}\nwhat it offers", col["K"], 2.5),
        "V": (f"V = x @ W_V\n{_shape('T, d_v', (T, d_v))}\nwhat it hands over", col["V"], 2.5),
        "scores": (
            f"scores = Q @ K.T\n{_shape('T, T', (T, T))}\none row per query",
            col["other"],
            2.6,
        ),
        "weights": (
            f"weights {_shape('T, T', (T, T))}\nsoftmax(scores / √d_k)\neach row sums to 1",
            col["other"],
            2.8,
        ),
        "mix": (f"out = weights @ V\n{_shape('T, d_v', (T, d_v))}", col["V"], 2.6),
        "W_O": (f"W_O\n{_shape('d_v, C', (d_v, C))}", col["other"], 2.2),
        "y": (f"y = out @ W_O\n{_shape('T, C', (T, C))}\nx's width again", col["other"], 2.5),
    }
    for name, (text, colour, width) in boxes.items():
        _box(ax, pos[name], text, colour, width)
    for start, end in (
        ("x", "W_Q"),
        ("x", "W_K"),
        ("x", "W_V"),
        ("W_Q", "Q"),
        ("W_K", "K"),
        ("W_V", "V"),
        ("Q", "scores"),
        ("K", "scores"),
        ("scores", "weights"),
        ("weights", "mix"),
        ("V", "mix"),
        ("mix", "W_O"),
        ("W_O", "y"),
    ):
        _arrow(ax, pos[start], boxes[start][2], pos[end], boxes[end][2])
    ax.set_xlim(-0.1, 20.7)
    ax.set_ylim(0.3, 6.1)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


DEPENDENCY_KINDS = ("RNN", "attention")


def plot_dependencies(chars: str, kind: str, ax: plt.Axes | None = None) -> Figure:
    """Who waits for whom when a model reads ``chars``: an unrolled RNN, or causal attention.

    kind "RNN": one box h_t per character, each with an arrow from the step before (the
    chain of T steps). kind "attention": one box y_t per character, with an arrow from
    every input x_s, s <= t, and none between outputs (one step for all of them).
    Above each box, the character it must predict. Episode 01, sections 2 and 3.
    """
    if kind not in DEPENDENCY_KINDS:
        raise ValueError(f"kind must be one of {DEPENDENCY_KINDS}, got {kind!r}")
    if not isinstance(chars, str) or not chars:
        raise ValueError(f"chars must be a non-empty string, got {chars!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.8 * len(chars)), 3.2))
    fig = ax.figure
    T = len(chars)
    arrow = {"arrowstyle": "->", "color": "black", "lw": 1.2}
    for t, ch in enumerate(chars):
        ax.text(t, -1.3, repr(ch), ha="center", va="center", fontsize=12)  # the input x_t
        target = repr(chars[t + 1]) if t + 1 < T else "?"
        ax.text(t, 1.3, f"predict {target}", ha="center", va="center", fontsize=9, color="dimgrey")
        if kind == "RNN":
            ax.add_patch(
                FancyBboxPatch(
                    (t - 0.28, -0.28),
                    0.56,
                    0.56,
                    boxstyle="round,pad=0.03",
                    fc="#cfe2f3",
                    ec="black",
                )
            )
            ax.text(t, 0, f"$h_{t}$", ha="center", va="center", fontsize=12)
            ax.annotate("", xy=(t, -0.33), xytext=(t, -1.1), arrowprops=arrow)  # x_t -> h_t
            ax.annotate("", xy=(t, 1.12), xytext=(t, 0.33), arrowprops=arrow)  # h_t -> prediction
            ax.annotate(  # h_{t-1} -> h_t: the link each step waits for
                "",
                xy=(t - 0.33, 0),
                xytext=(t - 0.67, 0),
                arrowprops={**arrow, "color": "crimson", "lw": 2},
            )
            ax.text(t, -1.8, f"step {t + 1}", ha="center", color="crimson", fontsize=9)
        else:
            ax.add_patch(
                FancyBboxPatch(
                    (t - 0.28, 0.42), 0.56, 0.5, boxstyle="round,pad=0.03", fc="#d9ead3", ec="black"
                )
            )
            ax.text(t, 0.67, f"$y_{t}$", ha="center", va="center", fontsize=12)
            for s in range(t + 1):  # causal: output t reads inputs 0..t directly
                ax.annotate(
                    "",
                    xy=(t, 0.38),
                    xytext=(s, -1.1),
                    arrowprops={**arrow, "color": "seagreen", "lw": 0.9, "alpha": 0.8},
                )
    if kind == "RNN":
        ax.text(-0.72, 0, "$h_{-1}=0$", ha="right", va="center", fontsize=10)
        ax.set_title(f"An RNN unrolled: {T} steps, each waiting for the one before")
    else:
        ax.text(
            (T - 1) / 2,
            -1.8,
            "step 1 (all outputs at once)",
            ha="center",
            color="seagreen",
            fontsize=9,
        )
        ax.set_title("Causal attention: every output reads its inputs directly")
    ax.set_xlim(-1.6, T - 0.4)
    ax.set_ylim(-2.1, 1.6)
    ax.set_axis_off()
    return fig


# One colour per head in ``plot_head_split`` (more heads than colours reuse them in turn).
HEAD_COLOURS = (
    "#c6dbef",
    "#fdd0a2",
    "#c7e9c0",
    "#dadaeb",
    "#fcbba1",
    "#d9d9d9",
    "#fee391",
    "#a1d99b",
)
_CELL_W, _CELL_H = 1.0, 0.62  # one feature of one token, in data units
_HEAD_GAP = 0.35  # between two heads' features on one row


def _cells(ax: plt.Axes, x0: float, y0: float, rows, hs: int) -> float:
    """Draw rows of (token, feature) cells from (x0, y0) down; return the right edge.

    Each cell is labelled "t,c" and coloured by the head its feature belongs to (c // hs);
    None in a row leaves the gap between two heads.
    """
    right = x0
    for r, row in enumerate(rows):
        x = x0
        for item in row:
            if item is None:
                x += _HEAD_GAP
                continue
            t, c = item
            colour = HEAD_COLOURS[(c // hs) % len(HEAD_COLOURS)]
            ax.add_patch(
                Rectangle(
                    (x, y0 + r * _CELL_H),
                    _CELL_W,
                    _CELL_H,
                    facecolor=colour,
                    edgecolor="black",
                    linewidth=0.8,
                )
            )
            ax.text(x + _CELL_W / 2, y0 + (r + 0.5) * _CELL_H, f"{t},{c}", ha="center",
                    va="center", fontsize=9)  # fmt: skip
            x += _CELL_W
        right = max(right, x)
    return right


def _right_arrow(ax: plt.Axes, x_from: float, x_to: float, y: float, label: str) -> None:
    """A horizontal arrow at height y with a small label above it."""
    ax.annotate(
        "", xy=(x_to, y), xytext=(x_from, y), arrowprops={"arrowstyle": "-|>", "color": "black"}
    )
    ax.text((x_from + x_to) / 2, y - 0.12, label, ha="center", va="bottom", fontsize=8)


def plot_head_split(
    tokens: Sequence[str],
    C: int,
    n_head: int,
    ax: plt.Axes | None = None,
    show_wrong: bool = True,
    title: str = "Cutting (B, T, C) into heads: view, then transpose",
) -> Figure:
    """Draw how one sequence's (T, C) projection becomes n_head blocks of (T, hs), hs = C // n_head.

    Four panels, every cell labelled "token, feature" and coloured by its head: q (T, C);
    ``view(B, T, h, hs)``, which only groups each row's C features into h runs of hs;
    ``transpose(1, 2)``, which puts the heads in front, so each head holds every token and
    its own hs features; and (``show_wrong``) the common mistake ``view(B, h, T, hs)``
    without the transpose, whose "heads" take whole rows in memory order and mix tokens.
    Episode 03 draws it in section 4, where the reshape is introduced.
    """
    tokens = [str(t) for t in tokens]
    T = len(tokens)
    for name, value in (("C", C), ("n_head", n_head)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if T < 1:
        raise ValueError("tokens must hold at least one token")
    if C % n_head:
        raise ValueError(f"C ({C}) must be divisible by n_head ({n_head})")
    hs = C // n_head
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 1.9 + 0.45 * n_head * T))
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.9)
    fig = ax.figure
    labels = [f"{t} {tok}" for t, tok in enumerate(tokens)]  # row labels: index and token
    label_w = 0.3 + 0.17 * max(len(s) for s in labels)
    block_gap = 0.55  # between two heads' (T, hs) blocks
    mid = T * _CELL_H / 2

    def row_labels(x: float, y: float) -> None:
        for t, label in enumerate(labels):
            ax.text(x - 0.15, y + (t + 0.5) * _CELL_H, label, ha="right", va="center", fontsize=9)

    def heading(x: float, text: str, colour: str = "black") -> None:
        ax.text(x, -0.5, text, ha="center", va="bottom", fontsize=10, color=colour)

    # 1. q = x @ W_Q, one row per token
    x1 = label_w + 0.3
    row_labels(x1, 0)
    _cells(ax, x1, 0, [[(t, c) for c in range(C)] for t in range(T)], hs)
    heading(x1 + C / 2, f"q = x @ W_Q\n(T, C) = ({T}, {C})")

    # 2. view: each row's features in h runs of hs (no number moves)
    x2 = x1 + C + 2.6
    rows = []
    for t in range(T):
        row: list = []
        for i in range(n_head):
            row += [(t, i * hs + j) for j in range(hs)] + ([None] if i < n_head - 1 else [])
        rows.append(row)
    end2 = _cells(ax, x2, 0, rows, hs)
    for i in range(n_head):
        ax.text(x2 + i * (hs + _HEAD_GAP) + hs / 2, -0.1, f"head {i}", ha="center",
                va="bottom", fontsize=9)  # fmt: skip
    heading((x2 + end2) / 2, f"view(B, T, h, hs)\n(T, h, hs) = ({T}, {n_head}, {hs})")
    _right_arrow(ax, x1 + C + 0.2, x2 - 0.2, mid, "split C\ninto h × hs")

    # 3. transpose(1, 2): one (T, hs) block per head
    x3 = end2 + 2.6 + label_w
    for i in range(n_head):
        y = i * (T * _CELL_H + block_gap)
        _cells(ax, x3, y, [[(t, i * hs + j) for j in range(hs)] for t in range(T)], hs)
        row_labels(x3, y)
        ax.text(x3 + hs + 0.15, y + mid, f"head {i}:\n(T, hs)", ha="left", va="center",
                fontsize=9)  # fmt: skip
    heading(x3 + hs / 2, f"transpose(1, 2)\n(h, T, hs) = ({n_head}, {T}, {hs})")
    _right_arrow(ax, end2 + 0.2, x3 - label_w - 0.2, mid, "heads in\nfront of T")
    right = x3 + hs + 1.3

    # 4. the mistake: view straight to (h, T, hs) reads the numbers in memory order
    if show_wrong:
        x4 = right + 1.2
        memory = [(t, c) for t in range(T) for c in range(C)]  # q's numbers as stored
        for i in range(n_head):
            y = i * (T * _CELL_H + block_gap)
            block = [[memory[(i * T + r) * hs + j] for j in range(hs)] for r in range(T)]
            _cells(ax, x4, y, block, hs)
            ax.text(x4 + hs + 0.15, y + mid, f"'head {i}'", ha="left", va="center", fontsize=9)
        heading(x4 + hs / 2, "wrong: view(B, h, T, hs)\nwithout the transpose", "#a50f15")
        right = x4 + hs + 1.3

    height = n_head * T * _CELL_H + (n_head - 1) * block_gap
    ax.text(
        0,
        height + 0.25,
        "Each cell: token, feature; its colour: the head the feature goes to (c // hs). "
        "merge_heads undoes it: transpose(1, 2) back, then reshape(B, T, C).",
        ha="left",
        va="top",
        fontsize=9,
    )
    ax.set_xlim(0, right)
    ax.set_ylim(height + 0.9, -1.5)  # rows run downwards, as in a printed tensor
    ax.set_axis_off()
    ax.set_title(title)
    return fig
