"""Shared fixtures: a fixed random start, no figure left open, and the tiny model and task
that the training, sampling, command-line and CUDA tests all use."""

import matplotlib

matplotlib.use("Agg")  # tests draw figures without a screen

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers.data import CharTokenizer  # noqa: E402
from helpers.gpt import GPT, GPTConfig  # noqa: E402
from helpers.train import TrainConfig, save_checkpoint  # noqa: E402

PERIOD = 7  # the toy task: the sequence 0 1 2 ... 6 0 1 2 ..., learnable to a loss near 0
PERIODIC_TEXT = torch.tensor([i % PERIOD for i in range(400)])


@pytest.fixture(autouse=True)
def _seed_and_close_figures():
    """Every test starts from the same random state and leaves no figure open."""
    torch.manual_seed(0)
    yield
    plt.close("all")


def _periodic_batch(split, batch_size, gen, window=8):
    """Windows of the period-7 sequence and the same windows shifted by one: (B, window) each."""
    start = torch.randint(0, len(PERIODIC_TEXT) - window - 1, (batch_size,), generator=gen)
    x = torch.stack([PERIODIC_TEXT[s : s + window] for s in start])
    y = torch.stack([PERIODIC_TEXT[s + 1 : s + window + 1] for s in start])
    return x, y


def _tiny_gpt(seed=0, **kw):
    """A 1-layer, 2-head, 16-wide GPT over the 7 symbols (keyword arguments override)."""
    torch.manual_seed(seed)
    return GPT(
        GPTConfig(**{**dict(vocab_size=PERIOD, block_size=8, n_layer=1, n_head=2, n_embd=16), **kw})
    )


def _quick_train_config(**kw):
    """A TrainConfig of 30 steps on the CPU, an estimate every 10, no progress bar."""
    base = dict(
        max_steps=30,
        batch_size=8,
        lr=1e-2,
        warmup_steps=5,
        eval_interval=10,
        eval_iters=2,
        device="cpu",
        progress=False,
    )
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def periodic_batch():
    """``get_batch(split, batch_size, generator, window=8)`` for the period-7 task."""
    return _periodic_batch


@pytest.fixture
def tiny_gpt():
    """``tiny_gpt(seed=0, **config)``: a seeded tiny GPT for the period-7 task."""
    return _tiny_gpt


@pytest.fixture
def quick_config():
    """``quick_config(**fields)``: a TrainConfig that trains the tiny GPT in a second."""
    return _quick_train_config


@pytest.fixture
def sample_checkpoint(tmp_path):
    """A checkpoint of an untrained tiny GPT over the characters "abcdefgh " (with its vocabulary)."""
    tok = CharTokenizer.fit("abcdefgh ")
    path = tmp_path / "c.pt"
    model = _tiny_gpt(vocab_size=tok.vocab_size, block_size=16)
    save_checkpoint(path, model, extra={"chars": tok.chars})
    return path


@pytest.fixture
def corpus_file(tmp_path):
    """A small .txt corpus of 30 records, for the command-line tests."""
    records = [
        f"Episode {i}: the crew sails to island number {i} and finds a new friend."
        for i in range(30)
    ]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(records), encoding="utf-8")
    return path
