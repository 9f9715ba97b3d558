"""helpers.widgets: each episode's section tests its own functions."""

import math

import pytest
import torch
from matplotlib.patches import Rectangle

import helpers.gpt
from helpers import gpt as gpt_lib
from helpers.attention import causal_mask, scaled_dot_product_attention
from helpers.blocks import TransformerBlock
from helpers.data import CharTokenizer
from helpers.gpt import GPT, GPTConfig
from helpers.multihead import MultiHeadAttention
from helpers.sample import sample_text
from helpers.tasks import CausalReverseTask
from helpers.widgets import (
    MASK_KINDS,
    SEQUENCE_LAYERS,
    SUMMARY_WIDTH,
    SequenceLayer,
    StackTrace,
    build_mask,
    gpt_attention_view,
    gpt_head_view,
    head_view,
    influence_view,
    last_output_influence,
    next_char_summary,
    next_char_view,
    plot_gpt_head,
    plot_head_view,
    plot_influence,
    plot_next_char,
    plot_position_view,
    plot_query_attention,
    plot_reversal_view,
    plot_stack_view,
    position_view,
    query_attention,
    query_attention_summary,
    reversal_view,
    stack_summary,
    trace_stack,
    visible_chars,
    wrap_summary,
)


def one_line(summary: str) -> str:
    """A wrapped summary as the single line it was written as."""
    return " ".join(summary.split())


def test_wrap_summary_breaks_long_summaries_between_words_only():
    text = "layer 0, head 0: " + "; ".join(f"weight {i} on key {i} 'x'" for i in range(12))
    wrapped = wrap_summary(text)
    assert len(text) > SUMMARY_WIDTH and "\n" in wrapped
    assert all(len(line) <= SUMMARY_WIDTH for line in wrapped.splitlines())
    assert one_line(wrapped) == text  # nothing lost, no word split
    assert wrap_summary("short summary") == "short summary"


# --- Episode 01 ---------------------------------------------------------------------


TINY_SEQUENCE = torch.tensor([[0, 1, 2, 3, 4, 0]])  # (B, T) = (1, 6) token ids for a tiny GPT


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
    rnn, _ = influence_view("RNN", 32)
    lstm, _ = influence_view("LSTM", 32)
    attention, _ = influence_view("attention", 32)
    assert rnn[0] < 1e-6 * rnn[-2] and lstm[0] < 1e-4 * lstm[-2]  # distance 31 vs distance 1
    assert rnn[:8].max() < rnn[-9:-1].min()  # the far past counts less than the near past
    assert attention[0] > 0.2 * attention[-2]  # one step away, however far back
    assert attention[:-1].min() > 0.05 * attention[:-1].max()


def test_influence_view_is_reproducible_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    a, summary_a = influence_view("LSTM", 10, seed=3)
    b, summary_b = influence_view("LSTM", 10, seed=3)
    assert torch.equal(a, b) and summary_a == summary_b
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(a, influence_view("LSTM", 10, seed=4)[0])


def test_influence_view_summary_names_the_layer_the_length_and_the_ratio():
    influence, summary = influence_view("RNN", 16)
    ratio = f"{float(influence[0] / influence[-2]):.1e}"
    assert one_line(summary) == (
        f"RNN, T=16: the first token moves the last output {ratio} times as much as the "
        "previous token does"
    )
    _, gone = influence_view("RNN", 200)
    assert one_line(gone) == (
        "RNN, T=200: the first token does not move the last output at all "
        "(its gradient underflowed to 0)"
    )


def test_influence_view_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        influence_view("GRU", 8)
    with pytest.raises(ValueError, match="T must be"):
        influence_view("RNN", 1)


def test_plot_influence_draws_one_log_scaled_line_with_a_vanished_zero_kept_visible():
    fig = plot_influence(torch.tensor([0.0, 1e-3, 1.0]), title="t", label="RNN")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 1
    assert ax.get_title() == "t" and ax.get_xlabel() and ax.get_ylabel()
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1e-30)
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match="1-D"):
        plot_influence(torch.ones(2, 2), "t")


def _tiny_gpt_maps() -> torch.Tensor:
    config = helpers.gpt.GPTConfig(vocab_size=5, block_size=8, n_layer=2, n_head=2, n_embd=8)
    gpt = helpers.gpt.GPT(config).eval()
    with torch.no_grad():
        return gpt.attention_maps(TINY_SEQUENCE)  # (1, n_layer, n_head, T, T)


def test_gpt_attention_view_is_one_head_of_the_maps_and_causal():
    maps = _tiny_gpt_maps()
    tokens = list("abcdea")
    w, summary = gpt_attention_view(maps, tokens, layer=1, head=0, query=0)
    assert torch.equal(w, maps[0, 1, 0])
    assert torch.allclose(w.sum(-1), torch.ones(6)) and (w.triu(diagonal=1) == 0).all()
    assert summary == "layer 1, head 0: query 0 'a' puts 1.00 on key 0 'a'"  # sees only itself
    _, other = gpt_attention_view(maps[0], tokens, layer=0, head=1, query=5)
    key = int(maps[0, 0, 1, 5].argmax())
    assert other.startswith("layer 0, head 1: query 5 'a' puts ")
    assert other.endswith(f"on key {key} {tokens[key]!r}")


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
    with pytest.raises(ValueError, match="one sequence"):
        gpt_attention_view(maps[0, 0], tokens, 0, 0, 0)


# --- Episode 02 ---------------------------------------------------------------------


def test_query_attention_gives_scores_scaled_scores_and_weights_by_hand():
    qa = query_attention(torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    assert qa.scores.tolist() == [0.0, 2.0]  # q . k
    assert torch.allclose(qa.scaled, torch.tensor([0.0, 2.0 / math.sqrt(2)]))  # / sqrt(d_k=2)
    e = math.exp(2.0 / math.sqrt(2))
    assert torch.allclose(qa.weights, torch.tensor([1 / (1 + e), e / (1 + e)]))


def test_query_attention_is_one_row_of_helpers_attention():
    q, k, v = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    _, weights = scaled_dot_product_attention(q, k, v)  # (5, 5)
    for i in range(5):
        qa = query_attention(q[i], k)
        assert torch.allclose(qa.weights, weights[i], atol=1e-6)
        assert torch.allclose(qa.weights.sum(), torch.tensor(1.0))


def test_temperature_flattens_or_sharpens_the_weights_but_keeps_their_order():
    q, k = torch.randn(4), torch.randn(6, 4)
    base = query_attention(q, k)
    hot, cold = query_attention(q, k, temperature=100.0), query_attention(q, k, temperature=0.01)
    assert torch.allclose(hot.weights, torch.full((6,), 1 / 6), atol=0.01)  # nearly uniform
    assert cold.weights.max() > 0.99 and cold.weights.argmax() == base.weights.argmax()
    assert torch.equal(hot.weights.argsort(), base.weights.argsort())
    assert torch.equal(hot.scaled, base.scaled)  # temperature acts after the scaling


@pytest.mark.parametrize(
    "query, keys, temperature, message",
    [
        (torch.randn(2, 3), torch.randn(4, 3), 1.0, "one vector"),
        (torch.randn(3), torch.randn(4, 2), 1.0, r"\(T_k, 3\)"),
        (torch.randn(3), torch.randn(4, 3), 0.0, "temperature must be > 0"),
    ],
)
def test_query_attention_rejects_bad_input_with_a_clear_message(query, keys, temperature, message):
    with pytest.raises(ValueError, match=message):
        query_attention(query, keys, temperature)


def test_query_attention_summary_names_the_key_with_the_largest_weight():
    qa = query_attention(torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    line = query_attention_summary(qa, ["a", "b"], "q")
    assert line == (
        "query 'q' (temperature 1.00): largest weight 0.80 on 'b' (score 2.00, scaled 1.41)"
    )
    with pytest.raises(ValueError, match="3 tokens for 2 keys"):
        query_attention_summary(qa, ["a", "b", "c"], "q")


def test_plot_query_attention_draws_scores_and_weights_per_key():
    qa = query_attention(torch.tensor([1.0, 1.0, 1.0]), torch.randn(4, 3))
    tokens = ["the", "cat", "sat", "down"]
    fig = plot_query_attention(qa, tokens, "cat")
    ax_s, ax_w = fig.axes
    assert "cat" in ax_s.get_title() and ax_w.get_ylabel() == "attention weight"
    assert [t.get_text() for t in ax_w.get_xticklabels()] == tokens
    heights = [bar.get_height() for bar in ax_w.patches]
    assert heights == pytest.approx(qa.weights.tolist())
    score_heights = [bar.get_height() for bar in ax_s.patches]
    assert score_heights == pytest.approx(qa.scores.tolist() + qa.scaled.tolist())
    with pytest.raises(ValueError, match="3 tokens for 4 keys"):
        plot_query_attention(qa, tokens[:3], "cat")


# --- Episode 03 ---------------------------------------------------------------------


def test_build_mask_hides_padding_keys_and_future_keys():
    assert build_mask("none", 3, 5) is None
    pad = build_mask("padding", 3, 5)
    assert pad.shape == (5, 5) and pad.dtype == torch.bool
    assert pad[:, :3].all() and not pad[:, 3:].any()  # every query, real keys only
    assert torch.equal(build_mask("causal", 3, 5), causal_mask(5))
    assert torch.equal(build_mask("padding + causal", 3, 5), pad & causal_mask(5))


def test_build_mask_rejects_unknown_kinds_and_lengths():
    with pytest.raises(ValueError, match="mask kind"):
        build_mask("future", 3, 5)
    with pytest.raises(ValueError, match="length"):
        build_mask("padding", 6, 5)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_head_view_gives_masked_keys_zero_weight_and_rows_summing_to_one(kind):
    attn = MultiHeadAttention(8, 2).eval()
    x = torch.randn(5, 8)
    w, summary = head_view(attn, x, list("abcde"), length=3, head=1, mask_kind=kind, query=4)
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
    w, summary = head_view(attn, x, list("abcde"), 5, 0, "causal", query=0)
    assert w[0, 0] == 1.0  # the first query sees only itself
    assert summary == "head 0, causal: query 0 'a' puts 1.00 on key 0 'a'; 4 of 5 keys masked"
    _, other = head_view(attn, x, list("abcde"), 2, 0, "padding", query=4)
    assert other.endswith("3 of 5 keys masked") and other != summary


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
    fig = plot_head_view(w, list("abcd"), query=2, title="t")
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == 1 and boxes[0].get_y() == 1.5
    assert ax.get_title() == "t" and len(fig.axes) == 2  # heatmap and colour bar


# --- Episode 04 ---------------------------------------------------------------------


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


def test_position_view_summary_changes_with_each_control():
    base = position_view(10, 6, 64).summary()
    assert base.startswith("position 10, dimension 6 of 64: value ")
    for other in (position_view(11, 6, 64), position_view(10, 7, 64), position_view(10, 6, 32)):
        assert other.summary() != base


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


def test_reversal_view_reads_the_mirror_positions():
    task = CausalReverseTask(n_letters=4, n_val=8)
    torch.manual_seed(0)
    config = gpt_lib.GPTConfig(
        vocab_size=task.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=16
    )
    model = gpt_lib.GPT(config)
    view = reversal_view(model, task, example=3, layer=1, head=1)
    T = task.seq_len
    assert view.weights.shape == (T, T) and len(view.tokens) == T
    assert torch.allclose(view.weights.sum(-1), torch.ones(T))
    expected = sum(float(view.weights[t, 7 - t]) for t in range(4, 8)) / 4
    assert view.mirror_weight == pytest.approx(expected)
    assert view.letters == "".join(task.decode(task.val_letters[3]))
    assert len(view.predicted) == 4
    assert view.summary().startswith(f"'{view.letters}' -> '{view.predicted}' (")
    with pytest.raises(ValueError, match="layer must be in 0..1"):
        reversal_view(model, task, example=0, layer=2, head=0)
    fig = plot_reversal_view(view, "t")
    outlined = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(outlined) == 4  # one per answer, on the letter it copies


# --- Episode 05 ---------------------------------------------------------------------


def _ep05_traces() -> dict[str, StackTrace]:
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


def test_stack_summary_names_the_strongest_link_and_changes_with_the_controls():
    traces = _ep05_traces()
    tokens = list("abcde")
    trace = traces["residual"]
    w = trace.weights[1, 0]
    q, k = divmod(int(w.argmax()), 5)
    line = stack_summary(trace, 1, 0, tokens, "residual")
    assert (
        f"query {q} '{tokens[q]}' looks most at key {k} '{tokens[k]}' ({w[q, k].item():.2f})"
        in line
    )
    assert f"{trace.stream_size[2].mean().item():.2f}" in line
    lines = {stack_summary(t, layer, 0, tokens, n) for n, t in traces.items() for layer in range(3)}
    assert len(lines) == 6, "every (variant, layer) gives a different line"
    with pytest.raises(ValueError, match="layer"):
        stack_summary(trace, 3, 0, tokens)
    with pytest.raises(ValueError, match="head"):
        stack_summary(trace, 0, 2, tokens)


def test_plot_stack_view_draws_the_chosen_head_and_every_variant():
    traces = _ep05_traces()
    fig = plot_stack_view(traces, "no residual", 2, 1, list("abcde"))
    ax_att, ax_size = fig.axes[0], fig.axes[1]
    shown = ax_att.images[0].get_array()
    assert torch.allclose(torch.as_tensor(shown.data).float(), traces["no residual"].weights[2, 1])
    assert "layer 2, head 1" in ax_att.get_title()
    lines = {line.get_label(): line for line in ax_size.get_lines()}
    assert {"residual", "no residual", "chosen layer"} <= set(lines)
    assert lines["no residual"].get_linewidth() > lines["residual"].get_linewidth()
    assert lines["chosen layer"].get_xdata()[0] == 3
    with pytest.raises(ValueError, match="variant"):
        plot_stack_view(traces, "neither", 0, 0, list("abcde"))


# --- Episode 06 ---------------------------------------------------------------------


def _tiny_gpt() -> tuple[GPT, CharTokenizer]:
    tok = CharTokenizer.fit("abcdefgh \n")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16))
    with (
        torch.no_grad()
    ):  # sharper logits than the 0.02 init, so settings make a visible difference
        model.tok_emb.weight.mul_(40)
    return model.eval(), tok


def test_visible_chars_shows_spaces_and_newlines():
    assert visible_chars("a b\n") == ["a", "\u2423", "b", "\u21b5"]


def test_next_char_view_at_temperature_1_is_the_models_softmax():
    model, tok = _tiny_gpt()
    view = next_char_view(model, tok, "abc", temperature=1.0, top_k=None, n_show=tok.vocab_size)
    logits, _ = model(torch.tensor([tok.encode("abc")]))
    expected = torch.softmax(logits[0, -1], -1)  # (V,)
    order = expected.argsort(descending=True)
    assert view.chars == [tok.chars[i] for i in order.tolist()]
    assert torch.allclose(view.raw_probs, expected[order], atol=1e-6)
    assert torch.allclose(view.probs, view.raw_probs, atol=1e-6)
    assert view.kept == tok.vocab_size and abs(float(view.probs.sum()) - 1) < 1e-5
    assert view.raw_probs.tolist() == sorted(view.raw_probs.tolist(), reverse=True)


def test_top_k_keeps_k_characters_and_temperature_sharpens_or_flattens():
    model, tok = _tiny_gpt()
    base = next_char_view(model, tok, "abc", 1.0, None, n_show=tok.vocab_size)
    top3 = next_char_view(model, tok, "abc", 1.0, 3, n_show=tok.vocab_size)
    assert top3.kept == 3 and (top3.probs[3:] == 0).all()
    assert torch.allclose(top3.probs[:3], base.raw_probs[:3] / base.raw_probs[:3].sum(), atol=1e-6)
    cold = next_char_view(model, tok, "abc", 0.3, None, n_show=tok.vocab_size)
    hot = next_char_view(model, tok, "abc", 3.0, None, n_show=tok.vocab_size)
    assert cold.probs[0] > base.probs[0] > hot.probs[0]
    assert cold.entropy < base.entropy < hot.entropy
    assert cold.chars == base.chars == hot.chars  # the order is the model's own


def test_next_char_view_sample_is_seeded_and_matches_sample_text():
    model, tok = _tiny_gpt()
    a = next_char_view(model, tok, "ab", 0.8, 5, n_new=20, seed=1)
    b = next_char_view(model, tok, "ab", 0.8, 5, n_new=20, seed=1)
    assert a.sample == b.sample and len(a.sample) == 20
    assert "ab" + a.sample == sample_text(model, tok, "ab", 20, 0.8, 5, seed=1)


def test_next_char_view_crops_long_prompts_to_the_block_size():
    model, tok = _tiny_gpt()
    long = "abcdefgh" * 5  # 40 characters, block_size 16
    view = next_char_view(model, tok, long, n_new=5)
    assert torch.allclose(view.raw_probs, next_char_view(model, tok, long[-16:], n_new=5).raw_probs)


@pytest.mark.parametrize(
    "prompt, temperature, top_k, message",
    [
        ("", 1.0, None, "must not be empty"),
        ("abz", 1.0, None, "character 'z' at position 2"),
        ("ab", 0.0, None, "temperature must be > 0"),
        ("ab", 1.0, 0, "top_k must be a positive int"),
    ],
)
def test_next_char_view_rejects_bad_input(prompt, temperature, top_k, message):
    model, tok = _tiny_gpt()
    with pytest.raises(ValueError, match=message):
        next_char_view(model, tok, prompt, temperature, top_k)


def test_next_char_summary_changes_with_the_settings():
    model, tok = _tiny_gpt()
    a = one_line(next_char_summary(next_char_view(model, tok, "a b", 1.0, None, n_new=5)))
    b = one_line(next_char_summary(next_char_view(model, tok, "a b", 0.5, 2, n_new=5)))
    assert a.startswith("after 'a b' (temperature 1.00, top-k all): ")
    assert (
        b.startswith("after 'a b' (temperature 0.50, top-k 2): ") and "2 characters possible" in b
    )
    assert a != b


def test_plot_next_char_draws_both_distributions_per_character():
    model, tok = _tiny_gpt()
    view = next_char_view(model, tok, "ab", 0.7, 4, n_show=6, n_new=5)
    fig = plot_next_char(view)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx(view.raw_probs.tolist() + view.probs.tolist())
    assert [t.get_text() for t in ax.get_xticklabels()] == visible_chars("".join(view.chars))
    assert ax.get_ylabel() == "probability" and "ab" in ax.get_title()


def test_gpt_head_view_summarises_a_previous_character_head():
    T = 5
    prev = torch.zeros(T, T)
    prev[0, 0] = 1.0
    prev[torch.arange(1, T), torch.arange(0, T - 1)] = 1.0  # every query looks one back
    maps = torch.stack([torch.stack([prev, torch.eye(T)])])  # (1 layer, 2 heads, T, T)
    w, summary = gpt_head_view(maps, list("abcde"), layer=0, head=0)
    assert torch.equal(w, prev)
    assert one_line(summary) == (
        "layer 0, head 0: mean weight on the previous character 1.00, on itself 0.00, "
        "on the first 0.25; looks back 1.0 characters on average"
    )
    other = one_line(gpt_head_view(maps, list("abcde"), layer=0, head=1)[1])
    assert "on itself 1.00" in other and "looks back 0.0" in other


def test_gpt_head_view_on_a_real_gpt_gives_causal_rows_summing_to_one():
    model, tok = _tiny_gpt()
    idx = torch.tensor([tok.encode("abc defg")])
    maps = model.attention_maps(idx)[0]  # (n_layer, n_head, T, T)
    w, _ = gpt_head_view(maps, list("abc defg"), layer=1, head=1)
    assert torch.allclose(w.sum(-1), torch.ones(8), atol=1e-5)
    assert (w.triu(diagonal=1) == 0).all()  # causal: nothing from the future


def test_gpt_head_view_rejects_bad_arguments():
    maps = torch.softmax(torch.randn(2, 2, 4, 4), -1)
    with pytest.raises(ValueError, match="layer must be in 0..1"):
        gpt_head_view(maps, list("abcd"), 2, 0)
    with pytest.raises(ValueError, match="head must be in 0..1"):
        gpt_head_view(maps, list("abcd"), 0, -1)
    with pytest.raises(ValueError, match="3 tokens"):
        gpt_head_view(maps, list("abc"), 0, 0)
    with pytest.raises(ValueError, match=r"\(n_layer, n_head, T, T\)"):
        gpt_head_view(maps[0], list("abcd"), 0, 0)


def test_plot_gpt_head_labels_the_axes_with_visible_characters():
    w = torch.softmax(torch.randn(4, 4), -1)
    fig = plot_gpt_head(w, list("a b\n"), layer=1, head=3)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "\u2423", "b", "\u21b5"]
    assert ax.get_title() == "Layer 1, head 3: who attends to whom" and len(fig.axes) == 2
