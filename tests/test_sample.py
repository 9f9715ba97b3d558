"""helpers.sample: a GPT back from its checkpoint, text from it, and the shipped checkpoints."""

import pytest
import torch

from helpers.attention import scaled_dot_product_attention
from helpers.sample import REFERENCE_CHECKPOINT, load_gpt, sample_text
from helpers.train import save_checkpoint


def test_sample_is_reproducible_and_the_cache_changes_nothing(sample_checkpoint):
    model, tok, _ = load_gpt(str(sample_checkpoint))
    a = sample_text(model, tok, "abc", 30, temperature=0, use_cache=True)
    b = sample_text(model, tok, "abc", 30, temperature=0, use_cache=False)
    assert a == b and a.startswith("abc") and len(a) == 33
    assert sample_text(model, tok, "a", 20, seed=3) == sample_text(model, tok, "a", 20, seed=3)


def test_the_seed_offset_moves_the_sample_like_a_seed(sample_checkpoint, monkeypatch):
    model, tok, _ = load_gpt(str(sample_checkpoint))
    monkeypatch.setenv("HELPERS_SEED_OFFSET", "0")
    plain, shifted = (sample_text(model, tok, "a", 20, temperature=3.0, seed=s) for s in (3, 5))
    assert plain != shifted
    monkeypatch.setenv("HELPERS_SEED_OFFSET", "2")
    assert sample_text(model, tok, "a", 20, temperature=3.0, seed=3) == shifted


def test_an_empty_prompt_is_refused(sample_checkpoint):
    model, tok, _ = load_gpt(str(sample_checkpoint))
    with pytest.raises(ValueError, match="prompt must not be empty"):
        sample_text(model, tok, "")


def test_a_checkpoint_without_vocabulary_is_named(tmp_path, tiny_gpt):
    path = tmp_path / "novocab.pt"
    save_checkpoint(path, tiny_gpt())
    with pytest.raises(ValueError, match="no vocabulary"):
        load_gpt(str(path))


def test_a_given_attention_function_runs_inside_the_trained_model(sample_checkpoint):
    calls = []

    def my_attention(q, k, v, mask):
        calls.append(tuple(q.shape))
        return scaled_dot_product_attention(q, k, v, mask)

    model, tok, _ = load_gpt(str(sample_checkpoint))
    mine, _, _ = load_gpt(str(sample_checkpoint), attention_fn=my_attention)
    assert mine.config.attention == "written"
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), mine.parameters(), strict=True)
    )
    a = sample_text(model, tok, "abc", 10, temperature=0)
    assert sample_text(mine, tok, "abc", 10, temperature=0) == a
    assert len(calls) == 10, "one call per generated character (one layer)"


# --- the shipped reference checkpoints (data/checkpoints, made by make checkpoints) -------

SHIPPED = ["step_200.pt", "step_1000.pt", "step_2500.pt"]
BIGRAM_VAL_LOSS = 2.439  # data/README.md


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_load_and_are_small(name):
    path = REFERENCE_CHECKPOINT.parent / name
    assert path.stat().st_size <= 4 * 2**20, f"{name} is over 4 MB"
    model, tok, ckpt = load_gpt(str(path), device="cpu")
    assert ckpt["step"] == int(name[5:-3])
    assert tok.vocab_size == model.config.vocab_size == 73


def test_shipped_run_improves_with_steps_and_beats_the_bigram():
    vals = []
    for name in SHIPPED:
        _, _, ckpt = load_gpt(str(REFERENCE_CHECKPOINT.parent / name), device="cpu")
        vals.append(ckpt["history"]["val"][-1])
    assert vals[0] > vals[1] > vals[2], vals
    assert vals[2] < BIGRAM_VAL_LOSS - 0.8, vals
