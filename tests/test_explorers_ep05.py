"""helpers.explorers.ep05: attention and the residual stream's size through a stack of blocks."""

import matplotlib.pyplot as plt
import pytest
import torch

from helpers.blocks import TransformerBlock
from helpers.explorers.ep05 import StackTrace, plot_stack_view, stack_view, trace_stack

TOKENS = list("abcde")


def _traces() -> dict[str, StackTrace]:
    x = torch.randn(1, 5, 8)
    traces = {}
    for name, residual in (("residual", True), ("no residual", False)):
        blocks = [TransformerBlock(8, 2, residual=residual).eval() for _ in range(3)]
        traces[name] = trace_stack(blocks, x)
    return traces


def test_trace_stack_records_every_layer_by_hand():
    blocks = [TransformerBlock(8, 2).eval() for _ in range(3)]
    x = torch.randn(1, 5, 8)
    trace = trace_stack(blocks, x)
    assert trace.weights.shape == (3, 2, 5, 5) and trace.stream_size.shape == (4, 5)
    assert (trace.n_layer, trace.n_head) == (3, 2)
    assert torch.allclose(trace.weights.sum(-1), torch.ones(3, 2, 5))
    h = x
    for i, block in enumerate(blocks):
        h, w = block(h, need_weights=True)
        assert torch.allclose(trace.weights[i], w[0])
        assert torch.allclose(trace.stream_size[i + 1], h[0].norm(dim=-1))
    assert torch.allclose(trace.stream_size[0], x[0].norm(dim=-1))


def test_trace_stack_rejects_a_batch_and_an_empty_stack():
    with pytest.raises(ValueError, match=r"\(1, T, C\)"):
        trace_stack([TransformerBlock(8, 2)], torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="empty"):
        trace_stack([], torch.randn(1, 5, 8))


def test_stack_view_keeps_the_chosen_head_and_every_variants_mean_stream_size():
    traces = _traces()
    view = stack_view(traces, "no residual", 2, 1, TOKENS)
    assert torch.equal(view.weights, traces["no residual"].weights[2, 1])
    assert list(view.sizes) == ["residual", "no residual"]
    for name, trace in traces.items():
        assert torch.allclose(view.sizes[name], trace.stream_size.mean(dim=1))


def test_summary_names_the_strongest_link_and_the_stream_size_at_that_layer():
    traces = _traces()
    view = stack_view(traces, "residual", 1, 0, TOKENS)
    w, size = traces["residual"].weights[1, 0], traces["residual"].stream_size.mean(dim=1)
    q, k = divmod(int(w.argmax()), 5)
    assert " ".join(view.summary().split()) == (
        f"layer 1, head 0 (residual): query {q} '{TOKENS[q]}' looks most at key {k} "
        f"'{TOKENS[k]}' ({w[q, k]:.2f}); stream size {size[2]:.2f}, "
        f"{size[2] / size[0]:.1f}x the input"
    )


class Scale(torch.nn.Module):
    """A stand-in block: multiplies the stream by ``factor``, attends uniformly with 2 heads."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x, need_weights=False):
        T = x.shape[1]
        return self.factor * x, torch.full((1, 2, T, T), 1.0 / T)


def test_summary_reports_the_stream_growing_by_each_blocks_factor():
    x = torch.ones(1, 5, 4)  # every token's norm is 2
    traces = {"doubling": trace_stack([Scale(2.0), Scale(2.0), Scale(0.5)], x)}
    lines = [
        " ".join(stack_view(traces, "doubling", i, 1, TOKENS).summary().split()) for i in range(3)
    ]
    assert lines[0].startswith("layer 0, head 1 (doubling): query 0 'a' looks most at key 0 'a'")
    assert [line.split("; ")[1] for line in lines] == [
        "stream size 4.00, 2.0x the input",
        "stream size 8.00, 4.0x the input",
        "stream size 4.00, 2.0x the input",
    ]


def test_stack_view_rejects_unknown_variants_layers_heads_and_token_counts():
    traces = _traces()
    with pytest.raises(ValueError, match="variant"):
        stack_view(traces, "neither", 0, 0, TOKENS)
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.2"):
        stack_view(traces, "residual", 3, 0, TOKENS)
    with pytest.raises(ValueError, match=r"head must be in 0\.\.1"):
        stack_view(traces, "residual", 0, 2, TOKENS)
    with pytest.raises(ValueError, match="4 tokens"):
        stack_view(traces, "residual", 0, 0, TOKENS[:4])


def test_plot_stack_view_draws_the_chosen_head_and_every_variant():
    traces = _traces()
    fig = plot_stack_view(stack_view(traces, "no residual", 2, 1, TOKENS))
    ax_att, ax_size = fig.axes[0], fig.axes[1]
    shown = ax_att.images[0].get_array()
    assert torch.allclose(torch.as_tensor(shown.data).float(), traces["no residual"].weights[2, 1])
    assert "layer 2, head 1" in ax_att.get_title()
    lines = {line.get_label(): line for line in ax_size.get_lines()}
    assert {"residual", "no residual", "chosen layer"} <= set(lines)
    assert lines["no residual"].get_linewidth() > lines["residual"].get_linewidth()
    assert lines["chosen layer"].get_xdata()[0] == 3


def test_plot_stack_view_draws_on_the_axes_it_is_given():
    view = stack_view(_traces(), "residual", 0, 0, TOKENS)
    fig, axes = plt.subplots(1, 3)
    assert plot_stack_view(view, axes[1:]) is fig
    assert not axes[0].images and axes[1].images and axes[2].get_lines()
    with pytest.raises(ValueError, match="two Axes"):
        plot_stack_view(view, axes)
