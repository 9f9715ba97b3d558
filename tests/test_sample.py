"""helpers.sample: text from a checkpoint, and one-line errors for bad input."""

import pytest

from helpers.data import CharTokenizer
from helpers.gpt import GPT, GPTConfig
from helpers.sample import REFERENCE_CHECKPOINT, load_gpt, main, sample_text
from helpers.train import save_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    tok = CharTokenizer.fit("abcdefgh ")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    path = tmp_path / "c.pt"
    save_checkpoint(path, model, extra={"chars": tok.chars})
    return path


def test_sample_is_reproducible_and_the_cache_changes_nothing(checkpoint):
    model, tok, _ = load_gpt(str(checkpoint))
    a = sample_text(model, tok, "abc", 30, temperature=0, use_cache=True)
    b = sample_text(model, tok, "abc", 30, temperature=0, use_cache=False)
    assert a == b and a.startswith("abc") and len(a) == 33
    assert sample_text(model, tok, "a", 20, seed=3) == sample_text(model, tok, "a", 20, seed=3)


def test_cli_prints_text(checkpoint, capsys):
    assert (
        main(
            [
                "--checkpoint",
                str(checkpoint),
                "--prompt",
                "ab",
                "--max-new-tokens",
                "5",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("ab")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prompt", "xyz"], "character 'x' at position 0 is not in the vocabulary"),
        (["--prompt", "ab", "--max-new-tokens", "-1"], "--max-new-tokens must be >= 0"),
        (["--prompt", "ab", "--temperature", "-1"], "temperature must be >= 0"),
    ],
)
def test_cli_bad_input_one_line_exit_2(checkpoint, capsys, argv, message):
    assert main(["--checkpoint", str(checkpoint), "--device", "cpu", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_checkpoint_and_checkpoint_without_vocabulary(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    path = tmp_path / "novocab.pt"
    save_checkpoint(path, GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8)))
    with pytest.raises(ValueError, match="no vocabulary"):
        load_gpt(str(path))


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
