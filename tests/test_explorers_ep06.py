"""helpers.explorers.ep06: the next-character distribution under temperature and top-k; a GPT head."""

import pytest
import torch

from helpers.data import CharTokenizer
from helpers.explorers.ep06 import (
    GPTHeadView,
    gpt_head_view,
    next_char_view,
    plot_gpt_head,
    plot_next_char,
)
from helpers.gpt import GPT, GPTConfig
from helpers.sample import sample_text


def one_line(summary: str) -> str:
    """A wrapped summary as the single line it was written as."""
    return " ".join(summary.split())


def _tiny_gpt() -> tuple[GPT, CharTokenizer]:
    tok = CharTokenizer.fit("abcdefgh \n")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16))
    with torch.no_grad():  # sharper logits than the 0.02 init, so settings make a difference
        model.tok_emb.weight.mul_(40)
    return model.eval(), tok


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


def test_summary_states_the_settings_the_best_character_and_the_entropy():
    model, tok = _tiny_gpt()
    view = next_char_view(model, tok, "a b\n", 1.0, None, n_new=5)
    best = int(view.probs.argmax())
    label = {" ": "\u2423", "\n": "\u21b5"}.get(view.chars[best], view.chars[best])
    assert one_line(view.summary()) == (
        f"after 'a b\u21b5' (temperature 1.00, top-k all): '{label}' {view.probs[best]:.2f} "
        f"(model alone {view.raw_probs[best]:.2f}); {tok.vocab_size} characters possible, "
        f"entropy {view.entropy:.2f} nats"
    )


def test_a_lower_temperature_and_top_k_narrow_the_choice_in_the_summary():
    model, tok = _tiny_gpt()
    wide = next_char_view(model, tok, "a b", 1.0, None, n_new=5)
    narrow = next_char_view(model, tok, "a b", 0.5, 2, n_new=5)
    assert one_line(narrow.summary()).startswith("after 'a b' (temperature 0.50, top-k 2): ")
    assert "; 2 characters possible, " in one_line(narrow.summary())
    assert narrow.probs[0] > wide.probs[0] and narrow.entropy < wide.entropy


def test_plot_next_char_draws_both_distributions_per_character():
    model, tok = _tiny_gpt()
    view = next_char_view(model, tok, "ab", 0.7, 4, n_show=6, n_new=5)
    fig = plot_next_char(view)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx(view.raw_probs.tolist() + view.probs.tolist())
    labels = [{" ": "\u2423", "\n": "\u21b5"}.get(c, c) for c in view.chars]
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert ax.get_ylabel() == "probability" and "ab" in ax.get_title()


def _previous_and_self_maps(T: int = 5) -> torch.Tensor:
    prev = torch.zeros(T, T)
    prev[0, 0] = 1.0
    prev[torch.arange(1, T), torch.arange(0, T - 1)] = 1.0  # every query looks one back
    return torch.stack([torch.stack([prev, torch.eye(T)])])  # (1 layer, 2 heads, T, T)


def test_gpt_head_view_summarises_a_previous_character_head_and_a_self_head():
    maps = _previous_and_self_maps()
    prev = gpt_head_view(maps, list("abcde"), layer=0, head=0)
    assert torch.equal(prev.weights, maps[0, 0])
    assert one_line(prev.summary()) == (
        "layer 0, head 0: mean weight on the previous character 1.00, on itself 0.00, "
        "on the first 0.25; looks back 1.0 characters on average"
    )
    itself = gpt_head_view(maps, list("abcde"), layer=0, head=1)
    assert one_line(itself.summary()) == (
        "layer 0, head 1: mean weight on the previous character 0.00, on itself 1.00, "
        "on the first 0.00; looks back 0.0 characters on average"
    )


def test_a_head_that_reads_the_first_character_looks_back_further():
    T = 6
    first = torch.zeros(T, T)
    first[:, 0] = 1.0  # every query reads position 0: distance t for query t
    view = gpt_head_view(first[None, None], list("abcdef"), 0, 0)
    assert view.first == 1.0 and view.mean_back == pytest.approx(sum(range(1, T)) / (T - 1))
    assert (
        view.mean_back > gpt_head_view(_previous_and_self_maps(T), list("abcdef"), 0, 0).mean_back
    )


def test_gpt_head_view_on_a_real_gpt_gives_causal_rows_summing_to_one():
    model, tok = _tiny_gpt()
    idx = torch.tensor([tok.encode("abc defg")])
    maps = model.attention_maps(idx)[0]  # (n_layer, n_head, T, T)
    w = gpt_head_view(maps, list("abc defg"), layer=1, head=1).weights
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
    with pytest.raises(ValueError, match="at least 2 tokens"):
        gpt_head_view(maps[:, :, :1, :1], list("a"), 0, 0)


def test_plot_gpt_head_labels_the_axes_with_visible_characters():
    w = torch.softmax(torch.randn(4, 4), -1)
    view = GPTHeadView(list("a b\n"), w, 1, 3, previous=0.0, itself=0.0, first=0.0, mean_back=0.0)
    fig = plot_gpt_head(view)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "\u2423", "b", "\u21b5"]
    assert ax.get_title() == "Layer 1, head 3: who attends to whom" and len(fig.axes) == 2


def test_plot_gpt_head_outlines_the_cells_it_is_given():
    w = torch.softmax(torch.randn(4, 4), -1)
    view = GPTHeadView(list("ab c"), w, 1, 0, previous=0.0, itself=0.0, first=0.0, mean_back=0.0)
    ax = plot_gpt_head(view, outline_cells=[(3, 2), (2, 2)], title="word starts").axes[0]
    corners = sorted(p.get_xy() for p in ax.patches)
    assert corners == [(1.5, 1.5), (1.5, 2.5)] and ax.get_title() == "word starts"
