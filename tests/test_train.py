"""helpers.train: the loop, the schedule, checkpoints, resume and a clean Ctrl-C."""

import json
import os
import subprocess
import sys

import pytest
import torch

from helpers.data import Batches, CharTokenizer, load_corpus
from helpers.gpt import GPT, GPTConfig
from helpers.train import (
    History,
    TrainConfig,
    load_checkpoint,
    lr_at,
    main,
    save_checkpoint,
    train,
)

TEXT = torch.tensor([i % 7 for i in range(400)])


def get_batch(split, batch_size, gen, window=8):
    start = torch.randint(0, len(TEXT) - window - 1, (batch_size,), generator=gen)
    x = torch.stack([TEXT[s : s + window] for s in start])
    y = torch.stack([TEXT[s + 1 : s + window + 1] for s in start])
    return x, y


def model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg))


def cfg(**kw):
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
    base.update(kw)
    return TrainConfig(**base)


def test_schedule_warms_up_then_decays_to_min_lr():
    c = cfg(max_steps=100, warmup_steps=10, lr=1.0, min_lr=0.1)
    lrs = [lr_at(s, c) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)


def test_training_lowers_the_loss_and_records_history():
    result = train(model(), get_batch, cfg(max_steps=60))
    h = result.history
    assert h.step == [0, 10, 20, 30, 40, 50, 60]
    assert len(h.batch_loss) == 60
    assert h.val[-1] < h.val[0] - 1.0, h.val


def test_checkpoint_round_trip(tmp_path):
    m = model()
    h = History(step=[0], train=[1.0], val=[2.0], lr=[0.1], seconds=[0.0])
    save_checkpoint(tmp_path / "c.pt", m, step=5, history=h)
    m2 = model(seed=1)
    ckpt = load_checkpoint(tmp_path / "c.pt", m2)
    assert ckpt["step"] == 5 and History.from_dict(ckpt["history"]) == h
    assert all(
        torch.equal(a, b)
        for a, b in zip(m.state_dict().values(), m2.state_dict().values(), strict=True)
    )
    assert not (tmp_path / "c.pt.tmp").exists()


def test_missing_and_mismatched_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    save_checkpoint(tmp_path / "c.pt", model())
    with pytest.raises(ValueError, match="n_embd: checkpoint 16 vs model 32"):
        load_checkpoint(tmp_path / "c.pt", model(n_embd=32))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


class Interrupt:
    """A get_batch that raises KeyboardInterrupt (as Ctrl-C would) before training step n."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, split, batch_size, gen):
        if split == "train" and torch.is_grad_enabled():  # a training batch, not an estimate
            if self.calls == self.at:
                raise KeyboardInterrupt
            self.calls += 1
        return get_batch(split, batch_size, gen)


def test_ctrl_c_keeps_the_model_and_history(tmp_path):
    result = train(model(), Interrupt(at=13), cfg(checkpoint_path=str(tmp_path / "c.pt")))
    assert result.interrupted and result.step == 13
    assert len(result.history.batch_loss) == 13 and result.history.step == [0, 10]
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 13


def test_resume_continues_the_same_loss_curve(tmp_path):
    full = train(model(), get_batch, cfg())
    path = str(tmp_path / "c.pt")
    first = train(model(), Interrupt(at=17), cfg(checkpoint_path=path))
    assert first.interrupted
    resumed = train(model(seed=5), get_batch, cfg(checkpoint_path=path), resume_from=path)
    assert resumed.history.batch_loss == full.history.batch_loss
    assert resumed.history.step == full.history.step
    assert resumed.history.val == full.history.val


def test_a_run_stopped_early_resumes_into_the_same_curve(tmp_path):
    full = train(model(), get_batch, cfg())
    path = str(tmp_path / "c.pt")
    first = train(model(), get_batch, cfg(checkpoint_path=path, stop_at=17))
    assert first.step == 17 and not first.interrupted
    resumed = train(model(seed=5), get_batch, cfg(checkpoint_path=path), resume_from=path)
    assert resumed.history.batch_loss == full.history.batch_loss
    assert resumed.history.step == full.history.step


def test_snapshots_hold_the_model_at_those_steps(tmp_path):
    train(model(), get_batch, cfg(max_steps=20), snapshot_steps=(10, 20), snapshot_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path / "step_10.pt", model())
    assert ckpt["step"] == 10 and "optimizer" not in ckpt


def test_bad_train_config():
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="stop_at"):
        TrainConfig(max_steps=10, stop_at=11)


# --- the command line: python -m helpers.train --------------------------------------------


TINY = [
    "--preset",
    "cpu-small",
    "--n-layer",
    "1",
    "--n-embd",
    "16",
    "--block-size",
    "16",
    "--batch-size",
    "4",
    "--eval-interval",
    "5",
    "--eval-iters",
    "1",
    "--no-progress",
]


@pytest.fixture
def corpus_file(tmp_path):
    records = [
        f"Episode {i}: the crew sails to island number {i} and finds a new friend."
        for i in range(30)
    ]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(records), encoding="utf-8")
    return path


def test_cli_writes_checkpoint_history_and_plot(tmp_path, corpus_file, capsys):
    out = tmp_path / "run"
    argv = ["--corpus", str(corpus_file), "--out-dir", str(out), "--max-steps", "10", *TINY]
    assert main(argv + ["--history-format", "csv"]) == 0
    assert {"ckpt.pt", "history.csv", "loss.png", "tokenizer.json"} <= {
        p.name for p in out.iterdir()
    }
    assert "step 10: train loss" in capsys.readouterr().out
    snapshot = load_checkpoint(out / "ckpt.pt")
    assert snapshot["extra"]["chars"] == CharTokenizer.fit(load_corpus(corpus_file).text).chars


def test_cli_snapshots_carry_the_vocabulary(tmp_path, corpus_file):
    out, ship = tmp_path / "run", tmp_path / "ship"
    argv = ["--corpus", str(corpus_file), "--out-dir", str(out), "--max-steps", "4", *TINY]
    assert main(argv + ["--snapshot-steps", "2", "--ship-to", str(ship)]) == 0
    for name in ("step_2.pt", "step_4.pt"):
        assert "chars" in load_checkpoint(ship / name)["extra"], name
    assert {"history.json", "loss.png", "settings.json"} <= {p.name for p in ship.iterdir()}


def test_cli_resume_continues_the_curve(tmp_path, corpus_file):
    out = tmp_path / "run"
    base = ["--corpus", str(corpus_file), "--out-dir", str(out), *TINY]
    assert main(base + ["--max-steps", "10"]) == 0
    assert main(base + ["--max-steps", "20", "--resume"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert history["step"] == [0, 5, 10, 15, 20]
    assert len(history["batch_loss"]) == 20


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--corpus", "missing.txt"], "missing.txt: no such file"),
        (["--n-embd", "30", "--n-head", "4"], "divisible"),
        (["--resume"], "no checkpoint at"),
    ],
)
def test_cli_bad_arguments_give_one_line_and_exit_2(tmp_path, corpus_file, capsys, argv, message):
    base = ["--corpus", str(corpus_file), "--out-dir", str(tmp_path / "r"), "--no-progress"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_resume_refuses_another_vocabulary(tmp_path, corpus_file, capsys):
    out = tmp_path / "run"
    assert (
        main(["--corpus", str(corpus_file), "--out-dir", str(out), "--max-steps", "2", *TINY]) == 0
    )
    other = tmp_path / "other.txt"
    other.write_text("\n\n".join(["completely different text! " * 5] * 20), encoding="utf-8")
    assert main(["--corpus", str(other), "--out-dir", str(out), "--resume", *TINY]) == 2
    assert "another vocabulary" in capsys.readouterr().err


def test_two_processes_agree_with_one_that_sees_the_global_batch(tmp_path, corpus_file):
    """torchrun, 2 CPU processes (gloo): each draws its own batches; DDP averages gradients.

    The run stops at step 2 and is resumed to step 4, so it also checks that each process
    gets its own batch generator back from the checkpoint.
    """
    out = tmp_path / "ddp"
    steps = ["--max-steps", "4", "--warmup-steps", "1", "--eval-interval", "4"]
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "helpers.train",
        "--corpus",
        str(corpus_file),
        "--out-dir",
        str(out),
        *TINY,
        *steps,
        "--threads",
        "1",
        "--device",
        "cpu",  # gloo, also on a machine with a GPU
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for more in (["--stop-at", "2"], ["--resume"]):
        done = subprocess.run(torchrun + more, capture_output=True, text=True, timeout=180, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert load_checkpoint(out / "ckpt.pt")["step"] == (2 if "--stop-at" in more else 4)
    ddp = load_checkpoint(out / "ckpt.pt")
    assert len(ddp["rng_batches_by_rank"]) == 2

    # one process, same model init, whose every training batch is rank 0's and rank 1's together
    corpus = load_corpus(corpus_file)
    tok = CharTokenizer.fit(corpus.text)
    batches = Batches.from_corpus(corpus, tok, block_size=16)
    gens = [torch.Generator().manual_seed(0), torch.Generator().manual_seed(0 + 7919)]

    def global_batch(split, batch_size, gen):
        if not torch.is_grad_enabled():
            return batches.get(split, batch_size, gen)  # evaluation: as in each rank
        parts = [batches.get(split, batch_size, g) for g in gens]
        return tuple(torch.cat(ts) for ts in zip(*parts, strict=True))

    from helpers.gpt import GPT, GPTConfig

    config = GPTConfig.from_dict(ddp["model_config"])
    torch.manual_seed(0)
    single = GPT(config)
    train(
        single,
        global_batch,
        cfg(max_steps=4, batch_size=4, lr=3e-3, warmup_steps=1, eval_interval=4, eval_iters=1),
    )
    for name, value in single.state_dict().items():
        assert torch.allclose(value, ddp["model"][name], atol=1e-5), name
