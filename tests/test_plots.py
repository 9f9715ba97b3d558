"""helpers.plots: the figures return Figures with titles, labels and colour bars."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import Rectangle

from helpers.plots import plot_attention, plot_heatmap, plot_losses, token_label
from helpers.train import History


def outlines(ax) -> list[Rectangle]:
    """The outline rectangles drawn on one axes."""
    return [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]


def test_single_attention_matrix_has_token_labels_and_colorbar():
    w = torch.softmax(torch.randn(3, 3), -1)
    fig = plot_attention(w, ["a", "b", "c"], title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert ax.get_title() == "t" and ax.get_xlabel() and ax.get_ylabel()
    assert len(fig.axes) == 2  # the heatmap and its colour bar


def test_grid_shares_one_colour_scale():
    w = torch.softmax(torch.randn(2, 3, 4, 4), -1)
    fig = plot_attention(w, list("abcd"))
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 6
    assert len({im.get_clim() for im in images}) == 1


def test_grid_tick_labels_are_readable():
    fig = plot_attention(torch.rand(1, 2, 5, 5).softmax(-1), list("abcde"))
    sizes = [t.get_fontsize() for ax in fig.axes[:2] for t in ax.get_xticklabels()]
    sizes += [t.get_fontsize() for t in fig.axes[0].get_yticklabels()]
    assert sizes and min(sizes) >= 8  # points
    plt.close(fig)


def test_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        plot_attention(torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="labels"):
        plot_heatmap(torch.rand(2, 3), x_labels=["a"])


def test_spaces_and_newlines_get_visible_labels():
    assert [token_label(t) for t in ("a", " ", "\n", "ab")] == ["a", "\u2423", "\u21b5", "ab"]
    fig = plot_attention(torch.softmax(torch.randn(3, 3), -1), ["a", " ", "\n"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "\u2423", "\u21b5"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "\u2423", "\u21b5"]


def test_outlined_rows_span_the_keys_and_outlined_cells_cover_one_weight():
    w = torch.softmax(torch.randn(4, 5), -1)  # 4 queries, 5 keys (cross-attention shape)
    fig = plot_attention(w, list("abcde"), list("wxyz"), outline_rows=[2], outline_cells=[(3, 1)])
    row, cell = outlines(fig.axes[0])
    assert (row.get_x(), row.get_y(), row.get_width(), row.get_height()) == (-0.5, 1.5, 5, 1)
    assert (cell.get_x(), cell.get_y(), cell.get_width(), cell.get_height()) == (0.5, 2.5, 1, 1)
    assert row.get_edgecolor() == cell.get_edgecolor() != row.get_facecolor()


def test_outlines_land_on_the_panel_each_matrix_is_drawn_on():
    fig, axes = plt.subplots(1, 3)
    w = torch.softmax(torch.randn(4, 4), -1)
    for n, ax in enumerate(axes):  # panel n gets n outlined cells
        plot_attention(w, list("abcd"), ax=ax, outline_cells=[(i, i) for i in range(n)])
    assert [len(outlines(ax)) for ax in axes] == [0, 1, 2]
    assert len(fig.axes) == 6  # three heatmaps, three colour bars, nothing else


def test_outlines_outside_the_matrix_or_on_a_grid_are_refused():
    w = torch.softmax(torch.randn(3, 3), -1)
    with pytest.raises(ValueError, match="query 3 is outside 0..2"):
        plot_attention(w, outline_rows=[3])
    with pytest.raises(ValueError, match=r"\(0, 5\) is outside the 3 x 3 weights"):
        plot_attention(w, outline_cells=[(0, 5)])
    with pytest.raises(ValueError, match="grid"):
        plot_attention(torch.rand(1, 2, 3, 3), outline_rows=[0])


def history(step, train, val, seconds=None):
    """A loss history as plain data: what plot_losses reads."""
    return SimpleNamespace(step=step, train=train, val=val, seconds=seconds or step)


def test_losses_draws_train_and_val_for_each_run():
    h = history([0, 10], [3.0, 2.0], [3.1, 2.2], [0.0, 1.0])
    fig = plot_losses({"a": h, "b": h}, baselines={"uniform": 3.4})
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 5  # 2 runs x (train, val) + one baseline
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "a train",
        "a validation",
        "b train",
        "b validation",
    ]
    assert ax.get_xlabel() == "training step" and ax.get_ylabel()
    with pytest.raises(ValueError, match="no recorded"):
        plot_losses(history([], [], []))


def test_one_history_is_one_unnamed_run_and_all_nan_curves_are_left_out():
    nan = float("nan")
    fig = plot_losses(history([0, 1], [2.0, 1.0], [nan, nan], [0.0, 0.5]), x="seconds")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["train"]
    assert list(ax.get_lines()[0].get_xdata()) == [0.0, 0.5]
    assert ax.get_xlabel() == "training time (s)"
    with pytest.raises(ValueError, match="x must be 'step' or 'seconds'"):
        plot_losses(history([0], [1.0], [1.0]), x="epoch")


def test_losses_read_the_training_loops_own_history():
    h = History(step=[0, 10], train=[3.0, 2.0], val=[3.1, 2.2], seconds=[0.0, 1.0])
    assert len(plot_losses(h).axes[0].get_lines()) == 2
