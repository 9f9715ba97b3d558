"""helpers.plots: the figures return Figures with titles, labels and colour bars."""

import pytest
import torch

from helpers.plots import plot_attention, plot_heatmap, plot_losses
from helpers.train import History


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


def test_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        plot_attention(torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="labels"):
        plot_heatmap(torch.rand(2, 3), x_labels=["a"])


def test_losses_draws_train_and_val_for_each_run():
    h = History(step=[0, 10], train=[3.0, 2.0], val=[3.1, 2.2], seconds=[0.0, 1.0])
    fig = plot_losses({"a": h, "b": h}, baselines={"uniform": 3.4})
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 5  # 2 runs x (train, val) + one baseline
    assert ax.get_xlabel() == "training step" and ax.get_ylabel()
    with pytest.raises(ValueError, match="no recorded"):
        plot_losses(History())


def test_spaces_and_newlines_get_visible_labels():
    fig = plot_attention(torch.softmax(torch.randn(3, 3), -1), ["a", " ", "\n"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "\u2423", "\u21b5"]
