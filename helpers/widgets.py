"""The pure functions behind the notebooks' ipywidgets explorers.

A widget in a notebook only wires sliders and dropdowns to one of these
functions, so what it shows is computed by code that ``tests/test_widgets.py``
checks. Each episode's functions sit in their own section below.
"""

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from helpers import multihead
from helpers.attention import attention_scores, causal_mask, padding_mask
from helpers.data import CharTokenizer
from helpers.gpt import GPT, next_token_probs
from helpers.multihead import MultiHeadAttention
from helpers.plots import VISIBLE_NEWLINE, plot_attention, plot_heatmap, token_label
from helpers.positional import sinusoidal_encoding
from helpers.sample import sample_text
from helpers.tasks import CausalReverseTask

SUMMARY_WIDTH = 88  # characters: JupyterLab wraps longer output lines mid-word


def wrap_summary(text: str) -> str:
    """A widget's printed summary, broken between words into lines of at most SUMMARY_WIDTH."""
    return textwrap.fill(text, SUMMARY_WIDTH, break_long_words=False, break_on_hyphens=False)


# --- Episode 01: RNN vs transformer -------------------------------------------------


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
            self.layer = multihead.MultiHeadAttention(d_model, n_head)
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


def influence_view(kind: str, T: int, d_model: int = 32, seed: int = 0) -> tuple[torch.Tensor, str]:
    """The last output's influence (T,) for a fresh ``kind`` layer on random input, and a summary.

    The layer's weights, the input (T, d_model) and the readout come from ``seed`` (the
    global random state is left untouched), so the same arguments give the same numbers.
    The summary compares the first token (distance T-1 from the last) with the previous
    token (distance 1), e.g. "RNN, T=16: the first token moves the last output 4.8e-06
    times as much as the previous token does".
    """
    if kind not in SEQUENCE_LAYERS:
        raise ValueError(f"kind must be one of {SEQUENCE_LAYERS}, got {kind!r}")
    if not isinstance(T, int) or T < 2:
        raise ValueError(f"T must be an int >= 2 (a first and a previous token), got {T!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = SequenceLayer(kind, d_model)
        x = torch.randn(T, d_model)  # (T, C)
        readout = torch.nn.functional.normalize(torch.randn(d_model), dim=0)  # (C,)
    influence = last_output_influence(layer, x, readout)  # (T,)
    ratio = float(influence[0] / influence[-2])  # distance T-1 against distance 1
    if ratio == 0.0:
        effect = "does not move the last output at all (its gradient underflowed to 0)"
    else:
        effect = f"moves the last output {ratio:.1e} times as much as the previous token does"
    return influence, wrap_summary(f"{kind}, T={T}: the first token {effect}")


def plot_influence(
    influence: torch.Tensor, title: str, label: str | None = None, ax: plt.Axes | None = None
) -> Figure:
    """Influence of each input position on the last output (T,), on a log scale."""
    if influence.dim() != 1:
        raise ValueError(f"influence must be 1-D (T,), got {tuple(influence.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    values = influence.detach().cpu().clamp_min(1e-30)  # log scale: show a vanished 0 as 1e-30
    ax.semilogy(range(len(values)), values, marker=".", label=label)
    ax.set_title(title)
    ax.set_xlabel("input position t (the last output is at the right end)")
    ax.set_ylabel("gradient size ‖∂(y_last · u) / ∂x_t‖ (log)")
    ax.grid(alpha=0.3, which="both")
    if label is not None:
        ax.legend()
    return ax.figure


def _one_head(maps: torch.Tensor, tokens: Sequence[str], layer: int, head: int) -> torch.Tensor:
    """One head's weights (T, T) from a GPT's attention maps of one sequence, checked.

    maps: ``GPT.attention_maps`` of one sequence, (n_layer, n_head, T, T) or
    (1, n_layer, n_head, T, T); tokens: the T characters.
    """
    if maps.dim() == 5 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.dim() != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(
            f"maps must be (n_layer, n_head, T, T) for one sequence, got {tuple(maps.shape)}"
        )
    n_layer, n_head, T, _ = maps.shape
    if len(tokens) != T:
        raise ValueError(f"{len(tokens)} tokens for a sequence of length {T}")
    for name, value, n in (("layer", layer, n_layer), ("head", head, n_head)):
        if not 0 <= value < n:
            raise ValueError(f"{name} must be in 0..{n - 1}, got {value}")
    return maps[layer, head]


def gpt_attention_view(
    maps: torch.Tensor, tokens: list[str], layer: int, head: int, query: int
) -> tuple[torch.Tensor, str]:
    """One head's weights (T, T) from a GPT's attention maps, and where row ``query`` looks hardest.

    maps: ``GPT.attention_maps`` of one sequence, (n_layer, n_head, T, T) or
    (1, n_layer, n_head, T, T); tokens: the T characters. The summary reads e.g.
    "layer 1, head 0: query 5 'f' puts 0.62 on key 4 'f'".
    """
    w = _one_head(maps, tokens, layer, head)  # (T, T)
    T = w.shape[-1]
    if not 0 <= query < T:
        raise ValueError(f"query must be in 0..{T - 1}, got {query}")
    key = int(w[query].argmax())
    summary = (
        f"layer {layer}, head {head}: query {query} {tokens[query]!r} puts {w[query, key]:.2f} "
        f"on key {key} {tokens[key]!r}"
    )
    return w, wrap_summary(summary)


# --- Episode 02: attention by hand --------------------------------------------------


@dataclass
class QueryAttention:
    """One query scored against every key; each field is (T_k,).

    scores = q . k, scaled = scores / sqrt(d_k), weights = softmax(scaled / temperature).
    """

    scores: torch.Tensor
    scaled: torch.Tensor
    weights: torch.Tensor
    temperature: float


def query_attention(
    query: torch.Tensor, keys: torch.Tensor, temperature: float = 1.0
) -> QueryAttention:
    """Score one query (d_k,) against keys (T_k, d_k): raw, scaled by sqrt(d_k), softmax weights.

    temperature divides the scaled scores before the softmax: above 1 flattens the
    weights towards uniform, below 1 sharpens them towards the best-matching key.
    """
    if query.dim() != 1:
        raise ValueError(f"query must be one vector (d_k,), got shape {tuple(query.shape)}")
    if keys.dim() != 2 or keys.shape[-1] != query.shape[0]:
        raise ValueError(
            f"keys must be (T_k, {query.shape[0]}) to match the query's width, "
            f"got {tuple(keys.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    q = query.detach().float()[None, :]  # (1, d_k): one row vector
    k = keys.detach().float()  # (T_k, d_k)
    scores = attention_scores(q, k, scale=False)[0]  # (T_k,)
    scaled = scores / math.sqrt(q.shape[-1])  # (T_k,)
    weights = torch.softmax(scaled / temperature, dim=-1)  # (T_k,)
    return QueryAttention(scores, scaled, weights, float(temperature))


def query_attention_summary(qa: QueryAttention, tokens: Sequence[str], query_token: str) -> str:
    """One line naming the key that gets the largest weight, e.g. "query 'cat' ... on 'sat'"."""
    if len(tokens) != len(qa.weights):
        raise ValueError(f"{len(tokens)} tokens for {len(qa.weights)} keys")
    best = int(qa.weights.argmax())
    return wrap_summary(
        f"query '{query_token}' (temperature {qa.temperature:.2f}): largest weight "
        f"{qa.weights[best]:.2f} on '{tokens[best]}' (score {qa.scores[best]:.2f}, "
        f"scaled {qa.scaled[best]:.2f})"
    )


def plot_query_attention(
    qa: QueryAttention, tokens: Sequence[str], query_token: str, title: str = ""
) -> Figure:
    """Two panels for one query: its raw and scaled score per key, and its weight per key."""
    if len(tokens) != len(qa.weights):
        raise ValueError(f"{len(tokens)} tokens for {len(qa.weights)} keys")
    import matplotlib.pyplot as plt  # local: another section binds plt at module level

    T = len(tokens)
    xs = list(range(T))  # bar positions, one per key
    scores, scaled, weights = qa.scores.tolist(), qa.scaled.tolist(), qa.weights.tolist()
    fig, (ax_s, ax_w) = plt.subplots(1, 2, figsize=(10, 3.6))
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
                fontsize=7,
            )
    ax_s.axhline(0, color="grey", linewidth=0.8)
    ax_s.margins(y=0.15)
    ax_s.set_xticks(range(T), [str(t) for t in tokens])
    ax_s.set_xlabel("key")
    ax_s.set_ylabel("score")
    ax_s.set_title(f"scores of query '{query_token}'")
    ax_s.legend(fontsize=8, loc="best")
    ax_s.grid(axis="y", alpha=0.3)
    ax_w.bar(xs, weights, 0.6, color="C2")
    for x, w in zip(xs, weights, strict=True):
        ax_w.text(x, w + 0.02, f"{w:.2f}", ha="center", va="bottom", fontsize=9)
    ax_w.set_ylim(0, 1.1)
    ax_w.set_xticks(range(T), [str(t) for t in tokens])
    ax_w.set_xlabel("key")
    ax_w.set_ylabel("attention weight")
    ax_w.set_title(f"softmax weights (temperature {qa.temperature:.2f}), sum = 1")
    ax_w.grid(axis="y", alpha=0.3)
    fig.suptitle(title or f"What '{query_token}' attends to")
    fig.tight_layout()
    return fig


# --- Episode 03: multi-head attention and masks -------------------------------------


MASK_KINDS = ("none", "padding", "causal", "padding + causal")


def build_mask(kind: str, length: int, T: int) -> torch.Tensor | None:
    """The (T, T) boolean mask ``kind`` for one sequence of ``length`` real tokens padded to T.

    True = the query (row) may attend to the key (column). 'none' gives None.
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
    return mask


def head_view(
    attn: MultiHeadAttention,
    x: torch.Tensor,
    tokens: Sequence[str],
    length: int,
    head: int,
    mask_kind: str,
    query: int,
) -> tuple[torch.Tensor, str]:
    """One head's weights (T, T) on one sequence x (T, C) under a named mask, and a summary line.

    The summary says where row ``query`` puts its largest weight and how many keys it may
    not see, e.g. "head 1, causal: query 4 'd' puts 0.97 on key 0 'a'; 7 of 12 keys masked".
    """
    if x.dim() != 2 or x.shape[-1] != attn.d_model:
        raise ValueError(f"x must be one sequence (T, {attn.d_model}), got {tuple(x.shape)}")
    T = x.shape[0]
    if len(tokens) != T:
        raise ValueError(f"{len(tokens)} tokens for a sequence of length {T}")
    if not 0 <= head < attn.n_head:
        raise ValueError(f"head must be in 0..{attn.n_head - 1}, got {head}")
    if not 0 <= query < T:
        raise ValueError(f"query must be in 0..{T - 1}, got {query}")
    mask = build_mask(mask_kind, length, T)
    with torch.no_grad():
        _, weights = attn(x[None], mask=mask, need_weights=True)  # (1, n_head, T, T)
    w = weights[0, head]  # (T, T)
    key = int(w[query].argmax())
    hidden = 0 if mask is None else int((~mask[query]).sum())
    summary = (
        f"head {head}, {mask_kind}: query {query} '{tokens[query]}' puts {w[query, key]:.2f} "
        f"on key {key} '{tokens[key]}'; {hidden} of {T} keys masked"
    )
    return w, wrap_summary(summary)


def plot_head_view(
    weights: torch.Tensor, tokens: Sequence[str], query: int, title: str, ax: plt.Axes | None = None
) -> Figure:
    """``plot_attention`` of one head's (T, T) weights with the ``query`` row outlined in red."""
    fig = plot_attention(weights, tokens, title=title, ax=ax)
    T_k = weights.shape[-1]
    fig.axes[0].add_patch(
        Rectangle((-0.5, query - 0.5), T_k, 1, fill=False, edgecolor="red", linewidth=2)
    )
    return fig


# --- Episode 04: positional encoding ------------------------------------------------


@dataclass
class PositionView:
    """The sinusoidal encoding seen from one position and one dimension.

    encoding (T, d_model); wave (T,) is column ``dim`` of it; cosine (T,) is the cosine
    similarity of ``position``'s vector to every position's; weights (T,) are
    softmax(PE[position] . PE[j] / sqrt(d_model)): where a query at ``position`` would
    attend if its scores came from the positions alone.
    """

    position: int
    dim: int
    d_model: int
    encoding: torch.Tensor
    wave: torch.Tensor
    cosine: torch.Tensor
    weights: torch.Tensor
    wavelength: float

    def summary(self) -> str:
        """A summary: the chosen value, its wavelength, two similarities and the self-attention."""
        p, T = self.position, len(self.wave)
        near = p + 1 if p + 1 < T else p - 1  # a neighbour (both give the same cosine)
        far = p + 10 if p + 10 < T else p - 10
        far_text = f", {self.cosine[far]:.3f} at distance 10" if 0 <= far < T else ""
        return wrap_summary(
            f"position {p}, dimension {self.dim} of {self.d_model}: value "
            f"{self.wave[p]:+.3f} (wavelength {self.wavelength:.1f} positions); cosine "
            f"similarity {self.cosine[near]:.3f} to a neighbour{far_text}; position-only "
            f"attention puts {self.weights[p]:.2f} on itself"
        )


def position_view(
    position: int, dim: int, d_model: int, n_positions: int = 64, base: float = 10000.0
) -> PositionView:
    """Compute what the explorer shows for ``position`` and dimension ``dim`` of a d_model-wide encoding."""
    if not isinstance(n_positions, int) or n_positions < 2:
        raise ValueError(f"n_positions must be an int >= 2, got {n_positions!r}")
    if not isinstance(d_model, int) or d_model < 2:
        raise ValueError(f"d_model must be an int >= 2, got {d_model!r}")
    if not 0 <= position < n_positions:
        raise ValueError(f"position must be in 0..{n_positions - 1}, got {position}")
    if not 0 <= dim < d_model:
        raise ValueError(f"dim must be in 0..{d_model - 1} (d_model is {d_model}), got {dim}")
    pe = sinusoidal_encoding(n_positions, d_model, base=base)  # (T, C)
    dots = pe @ pe[position]  # (T,): PE[j] . PE[position] for every j
    cosine = dots / (pe.norm(dim=-1) * pe[position].norm())  # (T,)
    weights = torch.softmax(dots / math.sqrt(d_model), dim=-1)  # (T,)
    wavelength = 2 * math.pi * base ** ((dim - dim % 2) / d_model)  # the pair 2i, 2i+1 share it
    return PositionView(position, dim, d_model, pe, pe[:, dim], cosine, weights, wavelength)


def plot_position_view(view: PositionView) -> Figure:
    """Four panels: the encoding with the chosen row and column, the wave, the similarity, attention."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    (ax_pe, ax_wave), (ax_cos, ax_w) = axes
    T, p = len(view.wave), view.position
    plot_heatmap(
        view.encoding,
        title=f"Sinusoidal encoding, d_model = {view.d_model}",
        xlabel="embedding dimension",
        ylabel="position",
        cbar_label="encoding value",
        ax=ax_pe,
        vmin=-1.0,
        vmax=1.0,
        cmap="RdBu_r",
    )
    ax_pe.axhline(p, color="black", linewidth=1.5)  # the chosen position's row
    ax_pe.axvline(view.dim, color="limegreen", linewidth=2)  # the chosen dimension's column
    kind = "sin" if view.dim % 2 == 0 else "cos"
    ax_wave.plot(range(T), view.wave.tolist(), color="C0", marker=".", markersize=3)
    ax_wave.plot([p], [float(view.wave[p])], "o", color="C3", label=f"position {p}")
    ax_wave.set_ylim(-1.1, 1.45)  # headroom for the legend
    ax_wave.set_title(f"dimension {view.dim} ({kind}): wavelength {view.wavelength:.1f} positions")
    ax_wave.set_xlabel("position")
    ax_wave.set_ylabel("encoding value")
    ax_wave.legend(loc="upper right", fontsize=8)
    ax_wave.grid(alpha=0.3)
    ax_cos.plot(range(T), view.cosine.tolist(), color="C2", marker=".", markersize=3)
    ax_cos.axvline(p, color="C3", linestyle=":", linewidth=1)
    ax_cos.set_ylim(-1.05, 1.05)
    ax_cos.set_title(f"cosine similarity of position {p} to every position")
    ax_cos.set_xlabel("position")
    ax_cos.set_ylabel("cosine similarity")
    ax_cos.grid(alpha=0.3)
    ax_w.bar(range(T), view.weights.tolist(), color="C1", width=0.9)
    ax_w.axvline(p, color="C3", linestyle=":", linewidth=1)
    ax_w.set_title(f"position-only attention of a query at {p}: softmax(PE·PE/√d)")
    ax_w.set_xlabel("key position")
    ax_w.set_ylabel("attention weight")
    ax_w.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


@dataclass
class ReversalView:
    """One head of a trained GPT on one reversal example.

    tokens (T,) label the input; weights (T, T) are the head's attention; predicted is the
    model's answer (argmax at each answer position); mirror_weight is the mean weight the
    answer positions put on the letter each must copy (answer position t copies 2n - 1 - t).
    """

    tokens: list[str]
    weights: torch.Tensor
    letters: str
    predicted: str
    mirror_weight: float
    layer: int
    head: int

    def summary(self) -> str:
        """A summary: the input, the answer and how much this head looks at the letters to copy."""
        right = sum(a == b for a, b in zip(self.predicted, self.letters[::-1], strict=True))
        return wrap_summary(
            f"'{self.letters}' -> '{self.predicted}' ({right}/{len(self.letters)} right); "
            f"layer {self.layer}, head {self.head}: answers put {self.mirror_weight:.2f} of "
            f"their attention on the letter they copy"
        )


@torch.no_grad()
def reversal_view(
    model: GPT, task: CausalReverseTask, example: int, layer: int, head: int
) -> ReversalView:
    """Run ``model`` on validation example ``example`` of ``task``; keep one head's attention."""
    if not 0 <= example < task.n_val:
        raise ValueError(f"example must be in 0..{task.n_val - 1}, got {example}")
    n_layer, n_head = model.config.n_layer, model.config.n_head
    if not 0 <= layer < n_layer or not 0 <= head < n_head:
        raise ValueError(
            f"layer must be in 0..{n_layer - 1} and head in 0..{n_head - 1}, got {layer}, {head}"
        )
    was_training = model.training
    model.eval()
    idx, _ = task.make(task.val_letters[example : example + 1])  # (1, T)
    logits, _ = model(idx)  # (1, T, V)
    weights = model.attention_maps(idx)[0, layer, head]  # (T, T)
    model.train(was_training)
    n = task.n_letters
    tokens = task.decode(idx[0])
    answers = logits[0, n:].argmax(dim=-1)  # (n,): the model's reversed letters
    mirror = weights[torch.arange(n, 2 * n), torch.arange(n - 1, -1, -1)]  # (n,)
    return ReversalView(
        tokens=tokens,
        weights=weights,
        letters="".join(tokens[:n]),
        predicted="".join(task.decode(answers)),
        mirror_weight=float(mirror.mean()),
        layer=layer,
        head=head,
    )


def plot_reversal_view(view: ReversalView, title: str, ax: plt.Axes | None = None) -> Figure:
    """``plot_attention`` of the view's head with the letters each answer must copy outlined."""
    fig = plot_attention(view.weights, view.tokens, title=title, ax=ax)
    n = len(view.letters)
    for t in range(n, 2 * n):  # answer position t copies the letter at 2n - 1 - t
        fig.axes[0].add_patch(
            Rectangle(
                (2 * n - 1 - t - 0.5, t - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5
            )
        )
    return fig


# --- Episode 05: the transformer block ----------------------------------------------


@dataclass
class StackTrace:
    """What one input sequence does inside a stack of transformer blocks."""

    weights: torch.Tensor  # (L, n_head, T, T): every layer's attention weights
    stream_size: torch.Tensor  # (L + 1, T): each token's ||x|| at the input and after each block

    @property
    def n_layer(self) -> int:
        return self.weights.shape[0]

    @property
    def n_head(self) -> int:
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


def _check_layer_head(trace: StackTrace, layer: int, head: int) -> None:
    """Raise a ValueError naming the valid range if layer or head is out of it."""
    if not 0 <= layer < trace.n_layer:
        raise ValueError(f"layer must be in 0..{trace.n_layer - 1}, got {layer}")
    if not 0 <= head < trace.n_head:
        raise ValueError(f"head must be in 0..{trace.n_head - 1}, got {head}")


def stack_summary(
    trace: StackTrace, layer: int, head: int, tokens: Sequence[str], variant: str = ""
) -> str:
    """A summary: the head's strongest query -> key link and the residual stream's size there."""
    _check_layer_head(trace, layer, head)
    w = trace.weights[layer, head]  # (T, T)
    if len(tokens) != w.shape[0]:
        raise ValueError(f"{len(tokens)} tokens for a sequence of {w.shape[0]}")
    q, k = divmod(int(w.argmax()), w.shape[1])
    size = trace.stream_size[layer + 1].mean().item()
    size_in = trace.stream_size[0].mean().item()
    name = f" ({variant})" if variant else ""
    return wrap_summary(
        f"layer {layer}, head {head}{name}: query {q} '{tokens[q]}' looks most at key {k} "
        f"'{tokens[k]}' ({w[q, k].item():.2f}); stream size {size:.2f}, "
        f"{size / size_in:.1f}x the input"
    )


def plot_stack_view(
    traces: Mapping[str, StackTrace], variant: str, layer: int, head: int, tokens: Sequence[str]
) -> Figure:
    """Left: one head's attention in one layer of ``variant``. Right: every variant's stream size.

    The right panel draws the mean residual-stream norm at the input and after each
    block for all variants (log scale), the chosen one bold, the chosen layer circled.
    """
    if variant not in traces:
        raise ValueError(f"variant must be one of {list(traces)}, got {variant!r}")
    trace = traces[variant]
    _check_layer_head(trace, layer, head)
    fig, (ax_att, ax_size) = plt.subplots(
        1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.1, 1]}
    )
    plot_attention(
        trace.weights[layer, head],
        tokens,
        title=f"{variant}: layer {layer}, head {head}",
        ax=ax_att,
        annotate=False,
    )
    depth = list(range(trace.n_layer + 1))
    for i, (name, t) in enumerate(traces.items()):
        chosen = name == variant
        ax_size.plot(
            depth,
            t.stream_size.mean(dim=1).tolist(),
            marker="o",
            markersize=3,
            color=f"C{i}",
            linewidth=2.5 if chosen else 1.0,
            alpha=1.0 if chosen else 0.45,
            label=name,
        )
    ax_size.plot(
        [layer + 1],
        [trace.stream_size[layer + 1].mean().item()],
        "o",
        markersize=12,
        markerfacecolor="none",
        markeredgecolor="black",
        markeredgewidth=2,
        label="chosen layer",
    )
    ax_size.set_yscale("log")
    ax_size.set_xticks(depth, ["in"] + [str(i) for i in range(trace.n_layer)])
    ax_size.set_xlabel("residual stream after layer")
    ax_size.set_ylabel("mean token norm ||x|| (log scale)")
    ax_size.set_title("Size of the residual stream through the stack")
    ax_size.grid(alpha=0.3)
    ax_size.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- Episode 06: the GPT on One Piece -----------------------------------------------


def visible_chars(text: str) -> list[str]:
    """One label per character (``helpers.plots.token_label``: space '␣', newline '↵')."""
    return [token_label(c) for c in text]


@dataclass
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


def next_char_summary(view: NextCharView) -> str:
    """A summary: the settings, the likeliest next character and how spread the choice is."""
    best = int(view.probs.argmax())
    k = "all" if view.top_k is None else str(view.top_k)
    tail = view.prompt[-20:].replace("\n", VISIBLE_NEWLINE)
    return wrap_summary(
        f"after '{tail}' (temperature {view.temperature:.2f}, top-k {k}): "
        f"'{visible_chars(view.chars[best])[0]}' {view.probs[best]:.2f} "
        f"(model alone {view.raw_probs[best]:.2f}); {view.kept} characters possible, "
        f"entropy {view.entropy:.2f} nats"
    )


def plot_next_char(view: NextCharView, title: str = "") -> Figure:
    """Bars of the likeliest next characters: the model's own probabilities and the adjusted ones."""
    import matplotlib.pyplot as plt  # local: keeps this section's names to itself

    n = len(view.chars)
    xs = list(range(n))
    width = 0.4
    fig, ax = plt.subplots(figsize=(8, 3.6))
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
    ax.set_xticks(xs, visible_chars("".join(view.chars)))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("next character (the model's likeliest first)")
    ax.set_ylabel("probability")
    tail = view.prompt[-30:].replace("\n", VISIBLE_NEWLINE)
    ax.set_title(title or f"What comes after '{tail}'?")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def gpt_head_view(
    maps: torch.Tensor, tokens: Sequence[str], layer: int, head: int
) -> tuple[torch.Tensor, str]:
    """One head's weights (T, T) from a GPT's attention maps (n_layer, n_head, T, T), and a summary.

    The summary says where the head's weight goes on average over the queries after the
    first: to the previous character, to the query's own position, to the first
    character, and how far back it looks, e.g. "layer 0, head 2: previous 0.81, ...".
    """
    w = _one_head(maps, tokens, layer, head).detach().float().cpu()  # (T, T)
    T = w.shape[-1]
    if T < 2:
        raise ValueError("need at least 2 tokens to say where a head looks")
    rows = torch.arange(1, T)  # the queries that have a previous character
    previous = float(w[rows, rows - 1].mean())
    itself = float(w[rows, rows].mean())
    first = float(w[rows, 0].mean())
    distance = (rows[:, None] - torch.arange(T)[None, :]).clamp(min=0).float()  # (T-1, T)
    mean_back = float((w[1:] * distance).sum(-1).mean())
    summary = (
        f"layer {layer}, head {head}: mean weight on the previous character {previous:.2f}, "
        f"on itself {itself:.2f}, on the first {first:.2f}; "
        f"looks back {mean_back:.1f} characters on average"
    )
    return w, wrap_summary(summary)


def plot_gpt_head(
    weights: torch.Tensor, tokens: Sequence[str], layer: int, head: int, ax=None
) -> Figure:
    """``plot_attention`` of one GPT head, with spaces and newlines made visible on the axes."""
    import matplotlib.pyplot as plt  # local: keeps this section's names to itself

    labels = [visible_chars(t)[0] if len(t) == 1 else t for t in tokens]
    if ax is None:  # a square-ish figure that fits a notebook column for ~30 characters
        T = len(labels)
        _, ax = plt.subplots(figsize=(min(9.0, 0.25 * T + 2.0), min(7.5, 0.22 * T + 1.5)))
    return plot_attention(
        weights, labels, title=f"Layer {layer}, head {head}: who attends to whom", ax=ax
    )
