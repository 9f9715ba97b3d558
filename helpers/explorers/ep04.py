"""Explorers of episode 04, ``04_positional_encoding.ipynb``.

Section 3 ("What the encoding gives attention", "Explore the encoding") uses
``position_view`` and ``plot_position_view``; section 6 ("What the models look at",
"Explore the trained models") uses ``reversal_view`` and ``plot_reversal_view``. The
contract is in ``helpers/explorers/__init__.py``.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from helpers.explorers.common import check_index, wrap_summary
from helpers.gpt import GPT
from helpers.plots import plot_attention, plot_heatmap
from helpers.positional import SINUSOID_BASE, sinusoid_wavelength, sinusoidal_encoding
from helpers.tasks import CausalReverseTask


@dataclass(frozen=True)
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
        """The chosen value, its wavelength, two similarities and the self-attention."""
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
    position: int, dim: int, d_model: int, n_positions: int = 64, base: float = SINUSOID_BASE
) -> PositionView:
    """What the explorer shows for ``position`` and dimension ``dim`` of a d_model-wide encoding."""
    if not isinstance(n_positions, int) or n_positions < 2:
        raise ValueError(f"n_positions must be an int >= 2, got {n_positions!r}")
    if not isinstance(d_model, int) or d_model < 2:
        raise ValueError(f"d_model must be an int >= 2, got {d_model!r}")
    check_index("position", position, n_positions)
    if not 0 <= dim < d_model:
        raise ValueError(f"dim must be in 0..{d_model - 1} (d_model is {d_model}), got {dim}")
    pe = sinusoidal_encoding(n_positions, d_model, base=base)  # (T, C)
    dots = pe @ pe[position]  # (T,): PE[j] . PE[position] for every j
    cosine = dots / (pe.norm(dim=-1) * pe[position].norm())  # (T,)
    weights = torch.softmax(dots / math.sqrt(d_model), dim=-1)  # (T,)
    wavelength = sinusoid_wavelength(dim, d_model, base)  # the pair 2i, 2i+1 share it
    return PositionView(position, dim, d_model, pe, pe[:, dim], cosine, weights, wavelength)


def plot_position_view(view: PositionView, axes: Sequence[plt.Axes] | None = None) -> Figure:
    """Four panels: the encoding with the chosen row and column, the wave, the similarity, attention.

    axes: the four Axes to draw on, in that order; None makes a 2 x 2 figure.
    """
    if axes is None:
        _, grid = plt.subplots(2, 2, figsize=(11, 7.5))
        axes = grid.ravel()
    if len(axes) != 4:
        raise ValueError(
            f"axes must be four Axes (encoding, wave, similarity, attention), got {len(axes)}"
        )
    ax_pe, ax_wave, ax_cos, ax_w = axes
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
    ax_pe.figure.tight_layout()
    return ax_pe.figure


@dataclass(frozen=True)
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

    @property
    def mirror_cells(self) -> list[tuple[int, int]]:
        """(answer position t, the position of the letter it copies) for every answer."""
        n = len(self.letters)
        return [(t, 2 * n - 1 - t) for t in range(n, 2 * n)]

    def summary(self) -> str:
        """The input, the answer and how much this head looks at the letters to copy."""
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
    check_index("example", example, task.n_val)
    check_index("layer", layer, model.config.n_layer)
    check_index("head", head, model.config.n_head)
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


def plot_reversal_view(
    view: ReversalView, ax: plt.Axes | None = None, *, title: str | None = None
) -> Figure:
    """The view's head with the letter each answer must copy outlined in red, on ``ax``."""
    return plot_attention(
        view.weights,
        view.tokens,
        title=title or f"layer {view.layer}, head {view.head}",
        ax=ax,
        outline_cells=view.mirror_cells,
    )
