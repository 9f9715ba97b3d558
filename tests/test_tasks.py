"""helpers.tasks: each episode's section tests its own functions."""

import pytest
import torch

from helpers.tasks import (
    BERT_MIX,
    IGNORE_INDEX,
    CausalReverseTask,
    KeyValueLookupTask,
    ReverseTask,
    TwoRelationTask,
    answer_accuracy,
    mask_tokens,
)

# --- Episode 01 ---------------------------------------------------------------------

# --- Episode 02 ---------------------------------------------------------------------


def lookup_batch(
    split: str = "train", batch_size: int = 500, seed: int = 0, **sizes: int
) -> tuple[KeyValueLookupTask, tuple[torch.Tensor, ...]]:
    """A task with the given sizes and one of its batches, drawn from a seeded generator."""
    task = KeyValueLookupTask(**sizes)
    return task, task(split, batch_size, torch.Generator().manual_seed(seed))


def test_lookup_batch_shapes_and_types():
    _, (keys, values, query, answer) = lookup_batch(batch_size=7, n_pairs=5)
    assert keys.shape == values.shape == (7, 5)
    assert query.shape == answer.shape == (7,)
    assert all(t.dtype == torch.long for t in (keys, values, query, answer))


@pytest.mark.parametrize("split", ["train", "val"])
def test_lookup_answer_is_the_value_paired_with_the_query_key(split):
    task, (keys, values, query, answer) = lookup_batch(split)
    assert all(len(set(row.tolist())) == task.n_pairs for row in keys)  # keys differ in a row
    assert ((keys == query[:, None]).sum(dim=-1) == 1).all()  # the query key is there once
    where = task.position_of_query(keys, query)
    assert torch.equal(keys[torch.arange(len(keys)), where], query)
    assert torch.equal(values[torch.arange(len(keys)), where], answer)
    assert keys.max() < task.n_keys and values.max() < task.n_values


def test_lookup_answer_can_sit_at_every_position():
    task, (keys, _, query, _) = lookup_batch(batch_size=2000)
    positions = task.position_of_query(keys, query)
    assert positions.bincount(minlength=task.n_pairs).min() > 200  # no position to memorise


def test_lookup_batches_are_reproducible_and_validation_is_a_fixed_bank():
    _, a = lookup_batch("train", seed=3)
    _, b = lookup_batch("train", seed=3)
    _, c = lookup_batch("val", seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    task = KeyValueLookupTask(n_val=16)
    bank = {tuple(k.tolist()) for k in task.val[0]}
    keys = task("val", 100, torch.Generator().manual_seed(0))[0]
    assert {tuple(k.tolist()) for k in keys} <= bank


@pytest.mark.parametrize(
    "sizes, message",
    [
        ({"n_keys": 30}, "n_keys must be in 2..26"),
        ({"n_values": 11}, "n_values must be in 2..10"),
        ({"n_keys": 4, "n_pairs": 5}, "n_pairs must be in 2..n_keys=4"),
        ({"n_val": 0}, "n_val must be positive"),
    ],
)
def test_lookup_task_rejects_bad_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        KeyValueLookupTask(**sizes)


def test_lookup_task_rejects_an_unknown_split_and_labels_pairs():
    task = KeyValueLookupTask()
    with pytest.raises(ValueError, match="split must be 'train' or 'val', got 'test'"):
        task("test", 2, torch.Generator())
    assert task.pair_labels(torch.tensor([2, 0]), torch.tensor([4, 7])) == ["C=4", "A=7"]
    assert task.query_label(torch.tensor(2)) == "?C"


# --- Episode 03 ---------------------------------------------------------------------


def test_two_relation_targets_are_the_previous_and_the_first_letter():
    task = TwoRelationTask(vocab_size=5, seq_len=4)
    idx = torch.tensor([[3, 1, 4, 1]])
    expected = torch.tensor([[[IGNORE_INDEX, 3], [3, 3], [1, 3], [4, 3]]])
    assert torch.equal(task.targets(idx), expected)


@pytest.mark.parametrize("split", ["train", "val"])
def test_two_relation_batches_have_the_documented_shapes_and_range(split):
    task = TwoRelationTask(vocab_size=6, seq_len=7, n_val=20)
    idx, targets = task(split, 9, torch.Generator().manual_seed(0))
    assert idx.shape == (9, 7) and targets.shape == (9, 7, 2)
    assert idx.min() >= 0 and idx.max() < 6  # never the padding id
    assert torch.equal(targets, task.targets(idx))


def test_two_relation_batches_are_reproducible_from_the_generator():
    task = TwoRelationTask()
    a = task("train", 8, torch.Generator().manual_seed(3))[0]
    b = task("train", 8, torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)


def test_two_relation_training_never_shows_a_validation_sequence():
    task = TwoRelationTask(vocab_size=2, seq_len=4, n_val=8)  # 16 sequences exist, 8 held out
    val = {tuple(r) for r in task.val.tolist()}
    idx, _ = task("train", 500, torch.Generator().manual_seed(0))
    assert not val & {tuple(r) for r in idx.tolist()}
    assert {tuple(r) for r in task("val", 500, torch.Generator())[0].tolist()} <= val


def test_two_relation_decode_and_bad_arguments():
    task = TwoRelationTask(vocab_size=3, seq_len=3)
    assert task.decode(torch.tensor([0, 2, task.pad_id])) == ["a", "c", "_"]
    with pytest.raises(ValueError, match="split"):
        task("test", 2, torch.Generator())
    with pytest.raises(ValueError, match="vocab_size"):
        TwoRelationTask(vocab_size=30)
    with pytest.raises(ValueError, match="int64"):
        TwoRelationTask(vocab_size=26, seq_len=20)


# --- Episode 04 ---------------------------------------------------------------------


def test_causal_reverse_layout_is_letters_separator_reversal():
    task = CausalReverseTask(vocab_size=8, n_letters=4)
    idx, targets = task.make(torch.tensor([[2, 0, 5, 3]]))  # c a f d
    assert "".join(task.decode(idx[0])) == "cafd>dfa"  # the full sequence minus its last letter
    assert targets[0, :4].tolist() == [IGNORE_INDEX] * 4  # no answers before the separator
    assert targets[0, 4:].tolist() == [3, 5, 0, 2]  # d f a c: the reversal
    assert idx.shape == targets.shape == (1, task.seq_len) == (1, 8)
    assert task.vocab_size == 9 and task.sep_id == 8


def test_causal_reverse_answer_at_t_sits_at_mirror_position():
    task = CausalReverseTask(n_letters=6)
    idx, targets = task("train", 64, torch.Generator().manual_seed(0))
    n = task.n_letters
    for t in range(n, 2 * n):
        assert torch.equal(targets[:, t], idx[:, 2 * n - 1 - t])


def test_causal_reverse_splits_are_disjoint_and_repeatable():
    task = CausalReverseTask(vocab_size=3, n_letters=4, n_val=40)  # 81 strings: clashes are common
    train_idx, _ = task("train", 500, torch.Generator().manual_seed(1))
    val_codes = set(task._held_out.codes(task.val_letters).tolist())
    assert not set(task._held_out.codes(train_idx[:, :4]).tolist()) & val_codes
    val_a, _ = task("val", 50, torch.Generator().manual_seed(2))
    val_b, _ = task("val", 50, torch.Generator().manual_seed(2))
    assert torch.equal(val_a, val_b)
    assert set(task._held_out.codes(val_a[:, :4]).tolist()) <= val_codes


def test_causal_reverse_rejects_bad_input():
    task = CausalReverseTask(n_letters=3)
    with pytest.raises(ValueError, match="split must be"):
        task("test", 4, torch.Generator())
    with pytest.raises(ValueError, match=r"letters must be \(B, 3\)"):
        task.make(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="vocab_size"):
        CausalReverseTask(vocab_size=30)


def test_answer_accuracy_counts_only_answers():
    targets = torch.tensor([[IGNORE_INDEX, 1, 2], [IGNORE_INDEX, 0, 1]])  # (B=2, T=3)
    logits = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2], [2, 0, 0]]), 3).float()
    per_answer, per_sequence = answer_accuracy(logits, targets)
    assert per_answer == pytest.approx(3 / 4)  # the ignored first column does not count
    assert per_sequence == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="disagree"):
        answer_accuracy(logits[:, :2], targets)
    with pytest.raises(ValueError, match="no answers"):
        answer_accuracy(logits, torch.full((2, 3), IGNORE_INDEX))


# --- Episode 05 ---------------------------------------------------------------------


def test_reverse_task_targets_are_the_string_backwards():
    task = ReverseTask(vocab_size=5, seq_len=4, n_val=8)
    idx, targets = task("train", 16, torch.Generator().manual_seed(0))
    assert idx.shape == targets.shape == (16, 4)
    for t in range(4):
        assert torch.equal(targets[:, t], idx[:, 3 - t])
    assert int(idx.min()) >= 0 and int(idx.max()) < 5


def test_reverse_task_seq2seq_is_teacher_forcing_with_bos():
    task = ReverseTask(vocab_size=5, seq_len=4, n_val=8)
    src, tgt_in, targets = task.seq2seq("val", 6, torch.Generator().manual_seed(1))
    assert torch.equal(targets, src.flip(1))
    assert (tgt_in[:, 0] == task.bos_id).all(), "the decoder starts from BOS"
    assert torch.equal(tgt_in[:, 1:], targets[:, :-1]), "then reads the answer shifted right"
    assert task.decode(tgt_in[0])[0] == "<s>"


def test_reverse_task_validation_is_a_fixed_bank_that_training_never_draws():
    task = ReverseTask(vocab_size=2, seq_len=4, n_val=8)  # half of the 16 strings are val
    a, _ = task("val", 32, torch.Generator().manual_seed(0))
    b, _ = task("val", 32, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    val = {tuple(r) for r in task.val.tolist()}
    train, _ = task("train", 200, torch.Generator().manual_seed(0))
    assert not val & {tuple(r) for r in train.tolist()}


def test_reverse_task_rejects_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size"):
        ReverseTask(vocab_size=30)
    with pytest.raises(ValueError, match="n_val"):
        ReverseTask(vocab_size=2, seq_len=3, n_val=5)
    with pytest.raises(ValueError, match="split"):
        ReverseTask()("test", 2, torch.Generator())


def test_mask_tokens_hides_tokens_and_asks_only_for_them():
    idx = torch.randint(0, 10, (8, 12), generator=torch.Generator().manual_seed(0))
    inputs, targets = mask_tokens(
        idx, mask_id=10, p=0.3, generator=torch.Generator().manual_seed(0)
    )
    hidden = inputs == 10
    assert hidden.any(dim=1).all(), "every sequence has at least one mask"
    assert torch.equal(targets[hidden], idx[hidden]), "targets are the hidden tokens"
    assert (targets[~hidden] == IGNORE_INDEX).all(), "no loss where nothing was hidden"
    assert torch.equal(inputs[~hidden], idx[~hidden]), "other tokens are left alone"
    all_masked, _ = mask_tokens(idx, mask_id=10, p=1.0)
    assert (all_masked == 10).all()


def test_mask_tokens_rejects_a_mask_id_that_is_already_a_token():
    with pytest.raises(ValueError, match="mask_id"):
        mask_tokens(torch.tensor([[1, 2, 3]]), mask_id=2)
    with pytest.raises(ValueError, match="p must"):
        mask_tokens(torch.tensor([[1, 2, 3]]), mask_id=9, p=0.0)


def test_mask_tokens_bert_mix_masks_swaps_and_keeps_80_10_10():
    idx = torch.randint(0, 50, (400, 64), generator=torch.Generator().manual_seed(1))
    inputs, targets = mask_tokens(
        idx,
        mask_id=50,
        p=0.15,
        generator=torch.Generator().manual_seed(2),
        mix=BERT_MIX,
        vocab_size=50,
    )
    chosen = targets != IGNORE_INDEX
    assert torch.equal(targets[chosen], idx[chosen]), "every chosen token is a target"
    assert torch.equal(inputs[~chosen], idx[~chosen]), "the others are left alone"
    n = int(chosen.sum())
    assert abs(n / idx.numel() - 0.15) < 0.01
    masked = (inputs[chosen] == 50).float().mean().item()
    swapped = ((inputs[chosen] != 50) & (inputs[chosen] != idx[chosen])).float().mean().item()
    kept = (inputs[chosen] == idx[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1 - 0.1 / 49) < 0.02
    assert abs(swapped - 0.1 * 48 / 49) < 0.02, "a random swap can land on the token itself"
    assert int(inputs.max()) <= 50 and int(inputs.min()) >= 0


def test_mask_tokens_random_swaps_never_draw_the_mask_id():
    idx = torch.randint(0, 4, (200, 10), generator=torch.Generator().manual_seed(3))
    idx[idx >= 2] += 1  # tokens 0, 1, 3, 4: the mask id 2 sits inside the vocabulary
    inputs, targets = mask_tokens(idx, mask_id=2, p=0.5, mix=(0.0, 1.0, 0.0), vocab_size=5)
    chosen = targets != IGNORE_INDEX
    assert not (inputs == 2).any(), "with mix (0, 1, 0) nothing is masked, and no swap draws 2"
    assert set(inputs[chosen].unique().tolist()) == {0, 1, 3, 4}


def test_mask_tokens_default_is_unchanged_by_the_mix_option():
    idx = torch.randint(0, 10, (8, 12), generator=torch.Generator().manual_seed(0))
    a = mask_tokens(idx, 10, p=0.3, generator=torch.Generator().manual_seed(5))
    b = mask_tokens(idx, 10, p=0.3, generator=torch.Generator().manual_seed(5), mix=(1.0, 0, 0))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_mask_tokens_rejects_a_bad_mix():
    idx = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match="sum to 1"):
        mask_tokens(idx, mask_id=9, mix=(0.8, 0.1, 0.2))
    with pytest.raises(ValueError, match="give vocab_size"):
        mask_tokens(idx, mask_id=9, mix=BERT_MIX)
    with pytest.raises(ValueError, match="not below vocab_size"):
        mask_tokens(idx, mask_id=9, mix=BERT_MIX, vocab_size=3)


# --- shared: HeldOutStrings ------------------------------------------------------------


def test_held_out_strings_never_trains_on_the_validation_bank():
    from helpers.tasks import HeldOutStrings

    bank = HeldOutStrings(vocab_size=2, length=4, n_val=6, seed=0)  # 16 strings, 6 held out
    val_codes = set(bank.codes(bank.val).tolist())
    train = bank.draw("train", 200, torch.Generator().manual_seed(1))
    assert not set(bank.codes(train).tolist()) & val_codes
    assert set(bank.codes(bank.draw("val", 50, torch.Generator())).tolist()) <= val_codes
    with pytest.raises(ValueError, match="split"):
        bank.draw("test", 1, torch.Generator())
