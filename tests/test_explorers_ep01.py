"""helpers.explorers.ep01: influence of each position on the last output; one GPT head."""

import dataclasses

import pytest
import torch
from matplotlib.patches import Rectangle

from helpers.explorers.ep01 import (
    SEQUENCE_LAYERS,
    GPTAttentionView,
    InfluenceView,
    SequenceLayer,
    gpt_attention_view,
    influence_view,
    last_output_influence,
    plot_gpt_attention_view,
    plot_influence,
)
from helpers.gpt import GPT, GPTConfig

TINY_SEQUENCE = torch.tensor([[0, 1, 2, 3, 4, 0]])  # (B, T) = (1, 6) token ids for a tiny GPT


def one_line(summary: str) -> str:
    """A wrapped summary as the single line it was written as."""
    return " ".join(summary.split())


@pytest.mark.parametrize("kind", SEQUENCE_LAYERS)
def test_sequence_layer_keeps_the_shape_and_never_looks_ahead(kind):
    layer = SequenceLayer(kind, d_model=8)
    x = torch.randn(2, 5, 8)  # (B, T, C)
    y = layer(x)
    assert y.shape == (2, 5, 8)
    later = x.clone()
    later[:, 3] += 1.0  # change position 3 only
    assert torch.allclose(layer(later)[:, :3], y[:, :3])  # positions 0..2 do not see it
    assert not torch.allclose(layer(later)[:, 3], y[:, 3])


def test_sequence_layer_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="'GRU'"):
        SequenceLayer("GRU")


def test_influence_through_an_identity_is_the_last_position_only():
    x = torch.randn(4, 3)  # (T, C)
    readout = torch.tensor([3.0, 4.0, 0.0])  # length 5
    influence = last_output_influence(lambda t: t, x, readout)
    assert torch.allclose(influence, torch.tensor([0.0, 0.0, 0.0, 5.0]))


def test_influence_through_a_running_sum_is_the_same_everywhere():
    x = torch.randn(6, 4)  # (T, C)
    influence = last_output_influence(lambda t: t.cumsum(dim=1), x)  # default readout: norm 1
    assert torch.allclose(influence, torch.ones(6))


def test_influence_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(T, C\)"):
        last_output_influence(lambda t: t, torch.randn(1, 4, 3))
    with pytest.raises(ValueError, match="readout"):
        last_output_influence(lambda t: t, torch.randn(4, 3), torch.ones(4))


def test_rnn_influence_fades_with_distance_and_attention_influence_does_not():
    rnn, lstm, attention = (influence_view(kind, 32).influence for kind in SEQUENCE_LAYERS)
    assert rnn[0] < 1e-6 * rnn[-2] and lstm[0] < 1e-4 * lstm[-2]  # distance 31 vs distance 1
    assert rnn[:8].max() < rnn[-9:-1].min()  # the far past counts less than the near past
    assert attention[0] > 0.2 * attention[-2]  # one step away, however far back
    assert attention[:-1].min() > 0.05 * attention[:-1].max()


def test_influence_view_is_reproducible_frozen_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    a, b = influence_view("LSTM", 10, seed=3), influence_view("LSTM", 10, seed=3)
    assert torch.equal(a.influence, b.influence) and a.summary() == b.summary()
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(a.influence, influence_view("LSTM", 10, seed=4).influence)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.kind = "RNN"


def test_influence_view_summary_names_the_layer_the_length_and_the_ratio():
    view = influence_view("RNN", 16)
    assert view.ratio == pytest.approx(float(view.influence[0] / view.influence[-2]))
    assert one_line(view.summary()) == (
        f"RNN, T=16: the first token moves the last output {view.ratio:.1e} times as much as "
        "the previous token does"
    )
    gone = InfluenceView("RNN", torch.tensor([0.0, 1.0, 1.0]))  # a gradient that underflowed
    assert one_line(gone.summary()) == (
        "RNN, T=3: the first token does not move the last output at all "
        "(its gradient underflowed to 0)"
    )


def test_influence_view_follows_the_seed_offset_like_set_seed(monkeypatch):
    from helpers import set_seed

    monkeypatch.setenv("HELPERS_SEED_OFFSET", "2")
    shifted = influence_view("RNN", 6, seed=1)
    assert not torch.equal(shifted.influence, influence_view("RNN", 6, seed=3).influence)
    set_seed(1)  # seeds with 1 + 2, as influence_view(seed=1) does under this offset
    layer = SequenceLayer("RNN", 32)
    x = torch.randn(6, 32)
    readout = torch.nn.functional.normalize(torch.randn(32), dim=0)
    assert torch.equal(last_output_influence(layer, x, readout), shifted.influence)
    monkeypatch.delenv("HELPERS_SEED_OFFSET")
    assert torch.equal(influence_view("RNN", 6, seed=3).influence, shifted.influence)


def test_a_longer_sequence_leaves_the_lstms_first_token_less_influence():
    assert influence_view("LSTM", 68).ratio < influence_view("LSTM", 64).ratio


def test_influence_view_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        influence_view("GRU", 8)
    with pytest.raises(ValueError, match="T must be"):
        influence_view("RNN", 1)


def test_plot_influence_draws_one_log_scaled_line_with_a_vanished_zero_kept_visible():
    view = InfluenceView("RNN", torch.tensor([0.0, 1e-3, 1.0]))
    fig = plot_influence(view, label="RNN")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 1
    assert ax.get_title() == "Which inputs move the last output? RNN, T = 3"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1e-30)
    assert ax.get_legend() is not None


def test_plot_influence_draws_several_views_on_one_given_ax():
    import matplotlib.pyplot as plt

    fig, (ax_a, ax_b) = plt.subplots(1, 2)
    for kind in SEQUENCE_LAYERS:
        plot_influence(influence_view(kind, 8), ax_b, title="all three", label=kind)
    assert len(ax_a.lines) == 0 and len(ax_b.lines) == 3
    assert [t.get_text() for t in ax_b.get_legend().get_texts()] == list(SEQUENCE_LAYERS)


def _tiny_gpt_maps() -> torch.Tensor:
    config = GPTConfig(vocab_size=5, block_size=8, n_layer=2, n_head=2, n_embd=8)
    gpt = GPT(config).eval()
    with torch.no_grad():
        return gpt.attention_maps(TINY_SEQUENCE)  # (1, n_layer, n_head, T, T)


def test_gpt_attention_view_is_one_head_of_the_maps_and_causal():
    maps = _tiny_gpt_maps()
    tokens = list("abcdea")
    view = gpt_attention_view(maps, tokens, layer=1, head=0, query=0)
    assert torch.equal(view.weights, maps[0, 1, 0])
    assert torch.allclose(view.weights.sum(-1), torch.ones(6))
    assert (view.weights.triu(diagonal=1) == 0).all()
    assert view.summary() == "layer 1, head 0: query 0 'a' puts 1.00 on key 0 'a'"  # only itself
    other = gpt_attention_view(maps[0], tokens, layer=0, head=1, query=5)
    w = maps[0, 0, 1, 5]
    key = int(w.argmax())
    assert other.summary() == (
        f"layer 0, head 1: query 5 'a' puts {w[key]:.2f} on key {key} {tokens[key]!r}"
    )


def test_gpt_attention_view_rejects_bad_arguments():
    maps = _tiny_gpt_maps()
    tokens = list("abcdea")
    for kwargs, word in (
        (dict(layer=2, head=0, query=0), "layer"),
        (dict(layer=0, head=2, query=0), "head"),
        (dict(layer=0, head=0, query=6), "query"),
    ):
        with pytest.raises(ValueError, match=word):
            gpt_attention_view(maps, tokens, **kwargs)
    with pytest.raises(ValueError, match="tokens"):
        gpt_attention_view(maps, list("abc"), 0, 0, 0)


def test_plot_gpt_attention_view_outlines_the_query_row_and_draws_it_as_bars():
    import matplotlib.pyplot as plt

    w = torch.softmax(torch.randn(4, 4).masked_fill(torch.ones(4, 4).triu(1).bool(), -1e9), -1)
    view = GPTAttentionView(list("ab c"), w, layer=1, head=0, query=2)
    fig, (spare, ax_map, ax_row) = plt.subplots(1, 3)
    assert plot_gpt_attention_view(view, (ax_map, ax_row)) is fig
    boxes = [p for p in ax_map.patches if isinstance(p, Rectangle) and not p.get_fill()]
    assert len(boxes) == 1 and boxes[0].get_y() == 1.5 and boxes[0].get_width() == 4
    assert not spare.patches
    assert ax_map.get_title() == "Layer 1, head 0, query 2 ' '"
    assert [t.get_text() for t in ax_map.get_xticklabels()] == ["a", "b", "\u2423", "c"]
    bars = ax_row.patches[:4]
    assert [b.get_height() for b in bars] == pytest.approx(w[2].tolist())
    strongest = int(w[2].argmax())
    assert [b.get_facecolor() == bars[strongest].get_facecolor() for b in bars].count(True) == 1
    assert [t.get_text() for t in ax_row.get_xticklabels()] == ["a", "b", "\u2423", "c"]
    assert min(t.get_fontsize() for t in ax_row.get_xticklabels()) >= 8
    assert ax_row.get_ylabel() == "attention weight" and "Query 2" in ax_row.get_title()
    plt.close(fig)


def test_plot_gpt_attention_view_makes_its_own_figure_and_checks_the_axes():
    import matplotlib.pyplot as plt

    view = GPTAttentionView(list("abc"), torch.eye(3), layer=0, head=1, query=2)
    fig = plot_gpt_attention_view(view)
    assert len(fig.axes) == 3  # heatmap, its colour bar, the row
    plt.close(fig)
    with pytest.raises(ValueError, match="two Axes"):
        plot_gpt_attention_view(view, [plt.gca()])
    plt.close("all")
