"""helpers.explorers.ep04: the sinusoidal encoding seen from one position; a reversal model's head."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import Rectangle

from helpers.explorers.ep04 import (
    ReversalView,
    plot_position_view,
    plot_reversal_view,
    position_view,
    reversal_view,
)
from helpers.gpt import GPT, GPTConfig
from helpers.tasks import CausalReverseTask


def test_position_view_numbers_follow_the_formula():
    view = position_view(position=5, dim=0, d_model=16, n_positions=32)
    assert torch.allclose(view.wave, torch.sin(torch.arange(32.0)), atol=1e-6)  # dim 0: sin(pos)
    assert view.cosine[5] == pytest.approx(1.0)
    # similarity depends on the distance only: position 5 sees 4 and 6 alike
    assert view.cosine[4] == pytest.approx(float(view.cosine[6]), abs=1e-6)
    assert view.weights.sum() == pytest.approx(1.0)
    assert int(view.weights.argmax()) == 5
    assert view.wavelength == pytest.approx(2 * math.pi)
    assert position_view(0, 3, 16).wavelength == pytest.approx(2 * math.pi * 10000 ** (2 / 16))


def test_summary_reads_the_view_and_moves_with_each_control_as_the_formula_says():
    view = position_view(10, 6, 64)
    wavelength = 2 * math.pi * 10000 ** (6 / 64)
    assert " ".join(view.summary().split()) == (
        f"position 10, dimension 6 of 64: value {math.sin(10 / 10000 ** (6 / 64)):+.3f} "
        f"(wavelength {wavelength:.1f} positions); cosine similarity {view.cosine[11]:.3f} to a "
        f"neighbour, {view.cosine[20]:.3f} at distance 10; position-only attention puts "
        f"{view.weights[10]:.2f} on itself"
    )
    # the next position: another value, the same similarities (they depend on distance only)
    nxt = position_view(11, 6, 64)
    assert nxt.wave[11] != view.wave[10]
    assert nxt.cosine[12] == pytest.approx(float(view.cosine[11]), abs=1e-5)
    assert nxt.cosine[21] == pytest.approx(float(view.cosine[20]), abs=1e-5)
    # dimension 7 is dimension 6's cosine partner: same wavelength
    assert position_view(10, 7, 64).wavelength == pytest.approx(view.wavelength)
    # a narrower encoding: fewer dimensions, so a less sharp position-only attention
    assert position_view(10, 6, 32).weights[10] < view.weights[10]


def test_position_view_rejects_out_of_range_controls():
    with pytest.raises(ValueError, match="dim must be in 0..15"):
        position_view(0, 16, 16)
    with pytest.raises(ValueError, match="position must be in 0..63"):
        position_view(64, 0, 16)


def test_plot_position_view_has_four_titled_panels_and_a_colour_bar():
    fig = plot_position_view(position_view(3, 2, 16, n_positions=20))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 4 and all(ax.get_xlabel() and ax.get_ylabel() for ax in panels)
    assert len(fig.axes) == 5  # the four panels and the heatmap's colour bar
    with pytest.raises(ValueError, match="four Axes"):
        plot_position_view(position_view(3, 2, 16), axes=fig.axes[:2])


def _reversal_model() -> tuple[GPT, CausalReverseTask]:
    task = CausalReverseTask(n_letters=4, n_val=8)
    config = GPTConfig(vocab_size=task.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=16)
    return GPT(config), task


def test_reversal_view_reads_the_mirror_positions():
    model, task = _reversal_model()
    view = reversal_view(model, task, example=3, layer=1, head=1)
    T = task.seq_len
    assert view.weights.shape == (T, T) and len(view.tokens) == T
    assert torch.allclose(view.weights.sum(-1), torch.ones(T))
    assert view.mirror_cells == [(4, 3), (5, 2), (6, 1), (7, 0)]
    expected = sum(float(view.weights[t, 7 - t]) for t in range(4, 8)) / 4
    assert view.mirror_weight == pytest.approx(expected)
    assert view.letters == "".join(task.decode(task.val_letters[3]))
    assert len(view.predicted) == 4
    with pytest.raises(ValueError, match="layer must be in 0..1"):
        reversal_view(model, task, example=0, layer=2, head=0)
    with pytest.raises(ValueError, match="example must be in 0..7"):
        reversal_view(model, task, example=8, layer=0, head=0)


def test_reversal_summary_counts_the_letters_reversed_right():
    w = torch.eye(8)
    right = ReversalView(list("abcdxxxx"), w, "abcd", "dcba", 0.9, layer=0, head=1)
    wrong = ReversalView(list("abcdxxxx"), w, "abcd", "dcab", 0.4, layer=0, head=1)
    assert " ".join(right.summary().split()) == (
        "'abcd' -> 'dcba' (4/4 right); layer 0, head 1: answers put 0.90 of their attention "
        "on the letter they copy"
    )
    assert wrong.summary().startswith("'abcd' -> 'dcab' (2/4 right); ")


def test_plot_reversal_view_outlines_each_panel_of_a_multi_panel_figure():
    model, task = _reversal_model()
    fig, axes = plt.subplots(1, 3)
    for ax, example in zip(axes, (0, 1, 2), strict=True):
        plot_reversal_view(reversal_view(model, task, example, 0, 0), ax, title=f"string {example}")
    for ax in axes:
        boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(boxes) == 4, "one outline per answer, on the panel the view was drawn on"
        assert {(b.get_y() + 0.5, b.get_x() + 0.5) for b in boxes} == {
            (4, 3),
            (5, 2),
            (6, 1),
            (7, 0),
        }
    assert [ax.get_title() for ax in axes] == ["string 0", "string 1", "string 2"]
