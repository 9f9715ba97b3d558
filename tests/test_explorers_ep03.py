"""helpers.explorers.ep03: one head of multi-head attention under a padding and/or causal mask."""

import pytest
import torch
from matplotlib.patches import Rectangle

from helpers.attention import causal_mask
from helpers.explorers.ep03 import (
    MASK_KINDS,
    WINDOW,
    HeadView,
    build_mask,
    head_view,
    plot_head_view,
)
from helpers.multihead import MultiHeadAttention


def test_build_mask_hides_padding_keys_and_future_keys():
    assert build_mask("none", 3, 5) is None
    pad = build_mask("padding", 3, 5)
    assert pad.shape == (5, 5) and pad.dtype == torch.bool
    assert pad[:, :3].all() and not pad[:, 3:].any()  # every query, real keys only
    assert torch.equal(build_mask("causal", 3, 5), causal_mask(5))
    assert torch.equal(build_mask("padding + causal", 3, 5), pad & causal_mask(5))


def test_build_mask_sliding_window_is_a_causal_band_of_window_keys():
    mask = build_mask("sliding window", 4, 5, window=2)
    assert mask.tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 1, 1],  # a padding query, like under "causal": junk nobody reads
    ]
    assert WINDOW == 3 and (build_mask("sliding window", 6, 8).sum(-1) <= 3).all()
    assert build_mask("sliding window", 6, 8).any(-1).all()  # every query keeps a key


def test_head_view_under_a_sliding_window_masks_every_key_outside_it():
    attn = MultiHeadAttention(8, 2).eval()
    x = torch.randn(8, 8)
    view = head_view(attn, x, list("abcdefgh"), 8, 0, "sliding window", query=6)
    assert view.masked == 8 - WINDOW
    assert (view.weights[6, :4] == 0).all() and view.weights[6, 4:7].sum() > 0.999
    assert view.summary().startswith("head 0, sliding window: query 6 'g'")
    assert view.summary().endswith(f"{8 - WINDOW} of 8 keys masked")


def test_build_mask_rejects_unknown_kinds_and_lengths():
    with pytest.raises(ValueError, match="mask kind"):
        build_mask("future", 3, 5)
    with pytest.raises(ValueError, match="length"):
        build_mask("padding", 6, 5)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_head_view_gives_masked_keys_zero_weight_and_rows_summing_to_one(kind):
    attn = MultiHeadAttention(8, 2).eval()
    x = torch.randn(5, 8)
    view = head_view(attn, x, list("abcde"), length=3, head=1, mask_kind=kind, query=4)
    w = view.weights
    assert w.shape == (5, 5)
    assert torch.allclose(w.sum(-1), torch.ones(5))
    mask = build_mask(kind, 3, 5)
    if mask is not None:
        assert (w[~mask] == 0).all()
    _, expected = attn(x[None], mask=mask, need_weights=True)
    assert torch.allclose(w, expected[0, 1])


def test_head_view_summary_names_the_largest_weight_and_the_masked_keys():
    attn = MultiHeadAttention(8, 2).eval()
    x = torch.randn(5, 8)
    first = head_view(attn, x, list("abcde"), 5, 0, "causal", query=0)
    assert first.weights[0, 0] == 1.0  # the first query sees only itself
    assert (
        first.summary() == "head 0, causal: query 0 'a' puts 1.00 on key 0 'a'; 4 of 5 keys masked"
    )
    padded = head_view(attn, x, list("abcde"), 2, 0, "padding", query=4)
    key = int(padded.weights[4].argmax())
    assert key < 2  # only the two real keys are visible
    assert padded.summary() == (
        f"head 0, padding: query 4 'e' puts {padded.weights[4, key]:.2f} on key {key} "
        f"'{'ab'[key]}'; 3 of 5 keys masked"
    )


def test_removing_the_mask_unmasks_every_key_of_the_same_head():
    attn = MultiHeadAttention(8, 2).eval()
    x = torch.randn(6, 8)
    masked = head_view(attn, x, list("abcdef"), 4, 1, "padding + causal", query=2)
    free = head_view(attn, x, list("abcdef"), 4, 1, "none", query=2)
    assert masked.masked == 3 and free.masked == 0  # keys 3, 4, 5 are later or padding
    assert masked.summary().endswith("3 of 6 keys masked")
    assert free.summary().startswith("head 1, none: query 2 'c'")
    assert free.summary().endswith("0 of 6 keys masked")


def test_head_view_rejects_bad_arguments():
    attn = MultiHeadAttention(8, 2)
    x = torch.randn(5, 8)
    with pytest.raises(ValueError, match="head"):
        head_view(attn, x, list("abcde"), 5, 2, "none", 0)
    with pytest.raises(ValueError, match="query"):
        head_view(attn, x, list("abcde"), 5, 0, "none", 5)
    with pytest.raises(ValueError, match="tokens"):
        head_view(attn, x, list("abc"), 5, 0, "none", 0)
    with pytest.raises(ValueError, match=r"\(T, 8\)"):
        head_view(attn, x[None], list("abcde"), 5, 0, "none", 0)


def test_plot_head_view_outlines_the_query_row():
    w = torch.softmax(torch.randn(4, 4), -1)
    view = HeadView(list("abcd"), w, head=1, mask_kind="causal", query=2, masked=1)
    fig = plot_head_view(view)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == 1 and boxes[0].get_y() == 1.5 and boxes[0].get_width() == 4
    assert ax.get_title() == "head 1, mask: causal" and len(fig.axes) == 2  # heatmap, colour bar
    assert plot_head_view(view, title="t").axes[0].get_title() == "t"
