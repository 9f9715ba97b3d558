"""helpers.train.checkpoints: what a checkpoint holds, what it refuses, and RNG states."""

import warnings

import pytest
import torch

from helpers.train import History, make_optimizer, save_checkpoint
from helpers.train.checkpoints import load_checkpoint, restore_rng_states


def same_weights(a, b) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_round_trip_restores_weights_step_and_history(tmp_path, tiny_gpt):
    m = tiny_gpt()
    h = History(step=[0], train=[1.0], val=[2.0], lr=[0.1], seconds=[0.0])
    save_checkpoint(tmp_path / "c.pt", m, step=5, history=h, extra={"chars": "abc"})
    m2 = tiny_gpt(seed=1)
    assert not same_weights(m, m2)
    ckpt = load_checkpoint(tmp_path / "c.pt", m2)
    assert ckpt["step"] == 5 and History.from_dict(ckpt["history"]) == h
    assert ckpt["extra"] == {"chars": "abc"} and ckpt["model_config"] == m.config.to_dict()
    assert same_weights(m, m2)
    assert not (tmp_path / "c.pt.tmp").exists(), "the temporary file is renamed, not left"


def test_missing_mismatched_and_unreadable_checkpoints_are_named(tmp_path, tiny_gpt):
    with pytest.raises(FileNotFoundError, match="nope.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    save_checkpoint(tmp_path / "c.pt", tiny_gpt())
    with pytest.raises(ValueError, match="n_embd: checkpoint 16 vs model 32"):
        load_checkpoint(tmp_path / "c.pt", tiny_gpt(n_embd=32))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint written by helpers.train"):
        load_checkpoint(tmp_path / "other.pt")


class _NotPlainData:
    """An object that loading with weights_only=True refuses."""


def test_an_unreadable_checkpoint_is_one_line_that_says_why(tmp_path, tiny_gpt):
    save_checkpoint(tmp_path / "c.pt", tiny_gpt())
    whole = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_bytes(b"hello, I am a text file")
    torch.save({"thing": _NotPlainData()}, tmp_path / "object.pt")
    expected = {
        "cut.pt": "cut short or damaged",
        "empty.pt": "the file is empty",
        "text.pt": "not a file written by torch.save",
        "object.pt": "not plain data",
    }
    for name, why in expected.items():
        with pytest.raises(ValueError) as info:
            load_checkpoint(tmp_path / name)
        message = str(info.value)
        assert message.startswith(f"{tmp_path / name} is not a readable checkpoint: "), message
        assert why in message, message
        assert "\n" not in message, f"one line, got: {message!r}"


def test_resuming_needs_the_optimizer_state(tmp_path, tiny_gpt, quick_config):
    m = tiny_gpt()
    save_checkpoint(tmp_path / "c.pt", m)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load_checkpoint(tmp_path / "c.pt", m, make_optimizer(m, quick_config()))


def test_the_attention_path_is_not_part_of_the_fit(tmp_path, tiny_gpt):
    fused = tiny_gpt()
    save_checkpoint(tmp_path / "c.pt", fused)
    written = tiny_gpt(seed=1, attention="written")
    load_checkpoint(tmp_path / "c.pt", written)  # no error: the same weights fit both
    assert same_weights(fused, written)


def test_a_config_field_added_later_takes_its_default(tmp_path, tiny_gpt):
    """A checkpoint written before GPTConfig.attention existed still loads."""
    m = tiny_gpt()
    save_checkpoint(tmp_path / "c.pt", m)
    ckpt = torch.load(tmp_path / "c.pt", weights_only=True)
    del ckpt["model_config"]["attention"]
    torch.save(ckpt, tmp_path / "old.pt")
    load_checkpoint(tmp_path / "old.pt", tiny_gpt(seed=1))
    with pytest.raises(ValueError, match="different model config"):
        load_checkpoint(tmp_path / "old.pt", tiny_gpt(position="none"))


def test_rng_states_come_back(tmp_path, tiny_gpt):
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(11)
    save_checkpoint(tmp_path / "c.pt", tiny_gpt(), batch_generator=gen)
    expected = (torch.rand(3), torch.rand(3, generator=gen))
    ckpt = load_checkpoint(tmp_path / "c.pt")
    fresh = torch.Generator().manual_seed(99)
    restore_rng_states(ckpt, torch.device("cpu"), fresh)
    assert torch.equal(torch.rand(3), expected[0])
    assert torch.equal(torch.rand(3, generator=fresh), expected[1])


def test_another_process_count_keeps_the_seeded_generator_and_warns(tmp_path, tiny_gpt):
    states = [torch.Generator().manual_seed(s).get_state() for s in (1, 2)]
    save_checkpoint(tmp_path / "c.pt", tiny_gpt(), batch_generator_states=states)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    gen = torch.Generator().manual_seed(7)
    with pytest.warns(UserWarning, match="batch generators of 2 process"):
        restore_rng_states(ckpt, torch.device("cpu"), gen, rank=0, world=1)
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(7).get_state())
    mine = torch.Generator()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restore_rng_states(ckpt, torch.device("cpu"), mine, rank=1, world=2)
    assert torch.equal(mine.get_state(), states[1])
