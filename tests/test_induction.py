"""helpers.induction: the repeated-strings task, the attention-only model, the head scores."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.induction import (
    AttentionOnlyTransformer,
    RepeatedTokensTask,
    copy_positions,
    induction_scores,
    per_position_loss,
    previous_token_scores,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- the task ----------------------------------------------------------------------------


def test_rows_are_a_string_repeated_with_lengths_that_vary():
    task = RepeatedTokensTask(vocab_size=32, min_length=4, max_length=10, n_tokens=24)
    rows = task.sequences(200, gen())
    assert rows.shape == (200, 24) and rows.dtype == torch.long
    assert rows.min() >= 0 and rows.max() < 32
    lengths = []
    for row in rows:
        # the shortest period of the row is its string's length (random strings rarely have a
        # shorter one; the set of lengths found must still cover the range)
        period = next(L for L in range(1, 25) if torch.equal(row[L:], row[:-L]))
        lengths.append(period)
    assert min(lengths) >= 1 and max(lengths) <= 10
    assert set(range(4, 11)) <= set(lengths), "every length from min to max occurs"


def test_a_fixed_length_repeats_from_position_zero():
    task = RepeatedTokensTask(vocab_size=16, min_length=3, max_length=6, n_tokens=14)
    x, y = task.fixed(5, 4, gen(1))
    assert x.shape == y.shape == (5, 13)
    assert torch.equal(x[:, 4:], x[:, :-4]), "x[t] = x[t - L]"
    assert torch.equal(x[:, 1:], y[:, :-1]), "y is x shifted by one"
    # a length training never draws is allowed, as long as both copies fit in x
    x, _ = task.fixed(2, 2, gen(1))
    assert torch.equal(x[:, 2:], x[:, :-2])
    with pytest.raises(ValueError, match=r"length must be an int in 2\.\.6"):
        task.fixed(2, 7)


def test_batches_follow_the_generator_and_fit_train():
    task = RepeatedTokensTask()
    a, b = task("train", 4, gen(3)), task("val", 4, gen(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(task("train", 4, gen(4))[0], a[0])
    assert a[0].shape == (4, task.seq_len)
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        task("test", 4, gen())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(vocab_size=1), "vocab_size must be an int >= 2"),
        (dict(min_length=8, max_length=6), r"min_length \(8\) must not exceed max_length \(6\)"),
        (dict(max_length=12, n_tokens=20), r"n_tokens \(20\) must be at least twice max_length"),
        (dict(n_tokens=24.0), "n_tokens must be an int"),
    ],
)
def test_bad_task_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RepeatedTokensTask(**kwargs)


def test_copy_positions():
    first, second = copy_positions(5)
    assert (first.start, first.stop, second.start, second.stop) == (0, 4, 5, 10)
    with pytest.raises(ValueError, match="length must be an int >= 2"):
        copy_positions(1)


# --- the model ------------------------------------------------------------------------------


def test_model_shapes_loss_and_maps():
    torch.manual_seed(0)
    model = AttentionOnlyTransformer(vocab_size=16, block_size=12, n_layer=2, n_head=2, d_model=16)
    x = torch.randint(16, (3, 12))
    logits, loss = model(x, x)
    assert logits.shape == (3, 12, 16)
    assert abs(loss.item() - math.log(16)) < 0.1, "an untrained model guesses uniformly"
    maps = model.attention_maps(x)
    assert maps.shape == (3, 2, 2, 12, 12)
    assert torch.allclose(maps.sum(-1), torch.ones(3, 2, 2, 12), atol=1e-6)
    assert maps.triu(1).abs().max() == 0, "causal: no weight on later tokens"
    assert not any(
        isinstance(m, torch.nn.Linear) and m.out_features == 4 * 16 for m in model.modules()
    )


def test_model_has_no_feed_forward_and_checks_its_input():
    model = AttentionOnlyTransformer(vocab_size=8, block_size=6, d_model=8, n_head=2)
    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    assert "ffn" not in names and "attn" in names
    with pytest.raises(ValueError, match=r"idx must have shape \(B, T\)"):
        model(torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="7 tokens is longer than block_size 6"):
        model(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="n_head must be a positive int"):
        AttentionOnlyTransformer(8, 6, n_head=0)


def test_a_later_token_changes_no_earlier_logit():
    torch.manual_seed(1)
    model = AttentionOnlyTransformer(vocab_size=8, block_size=10, d_model=8, n_head=2)
    x = torch.randint(8, (1, 10))
    changed = x.clone()
    changed[0, -1] = (x[0, -1] + 1) % 8
    with torch.no_grad():
        a, b = model(x)[0], model(changed)[0]
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6)


def test_per_position_loss_is_the_batch_mean_at_each_position():
    torch.manual_seed(2)
    model = AttentionOnlyTransformer(vocab_size=8, block_size=6, d_model=8, n_head=2)
    x, y = torch.randint(8, (4, 6)), torch.randint(8, (4, 6))
    got = per_position_loss(model, x, y)
    with torch.no_grad():
        logits, loss = model(x, y)
    by_hand = torch.stack([F.cross_entropy(logits[:, t], y[:, t]) for t in range(6)])
    assert got.shape == (6,) and torch.allclose(got, by_hand, atol=1e-6)
    assert torch.allclose(got.mean(), loss, atol=1e-6)


# --- the scores -----------------------------------------------------------------------------


def _head_that_looks(offset_fn, T):
    w = torch.zeros(T, T)
    for t in range(T):
        w[t, offset_fn(t)] = 1.0
    return w


def test_scores_of_ideal_heads():
    L, T = 4, 11
    induction = _head_that_looks(lambda t: t - L + 1 if t >= L else 0, T)
    previous = _head_that_looks(lambda t: max(t - 1, 0), T)
    duplicate = _head_that_looks(lambda t: t - L if t >= L else t, T)
    assert induction_scores(induction, L).item() == 1.0
    assert induction_scores(previous, L).item() == 0.0
    assert induction_scores(duplicate, L).item() == 0.0
    assert previous_token_scores(previous).item() == 1.0
    stacked = torch.stack([induction, previous])[None]  # (1, 2, T, T)
    assert torch.equal(induction_scores(stacked, L), torch.tensor([[1.0, 0.0]]))
    # uniform causal attention: position t gives 1 / (t + 1) to every key
    uniform = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    expected = sum(1 / (t + 1) for t in range(L, 2 * L)) / L
    assert induction_scores(uniform, L).item() == pytest.approx(expected)


def test_scores_check_their_input():
    with pytest.raises(ValueError, match=r"weights must be \(\.\.\., T, T\)"):
        induction_scores(torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="cannot hold a string of length 5"):
        induction_scores(torch.zeros(9, 9), 5)
    with pytest.raises(ValueError, match="at least 2 positions"):
        previous_token_scores(torch.ones(1, 1))
