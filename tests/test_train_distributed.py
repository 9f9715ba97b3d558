"""helpers.train.distributed: one process behaves as rank 0 of 1; two processes train as one.

The two-process test runs ``torchrun`` with gloo on the CPU, so it runs everywhere.
"""

import os
import subprocess
import sys

import torch

from helpers.data import Batches, CharTokenizer, load_corpus
from helpers.gpt import GPT, GPTConfig
from helpers.train import distributed, load_checkpoint, train


def test_a_single_process_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched_by_torchrun() and not distributed.is_distributed()
    assert distributed.rank_and_world() == (0, 1) and distributed.is_main_process()
    assert distributed.gather_generator_states(torch.Generator()) is None
    distributed.stop()  # nothing to leave: no error
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.launched_by_torchrun()


def test_each_rank_draws_its_own_batches_and_rank_0_keeps_the_seed():
    seeds = [distributed.rank_seed(5, r) for r in range(8)]
    assert seeds[0] == 5 and len(set(seeds)) == 8


def test_two_processes_agree_with_one_that_sees_the_global_batch(tmp_path, quick_config):
    """torchrun, 2 CPU processes (gloo): each draws its own batches; DDP averages gradients.

    The run stops at step 2 and is resumed to step 4, so it also checks that each process
    gets its own batch generator back from the checkpoint.
    """
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text(
        "\n\n".join(f"Episode {i}: the crew sails to island {i}." for i in range(30)),
        encoding="utf-8",
    )
    out = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    torchrun += ["--nproc_per_node=2", "-m", "helpers.train", "--corpus", str(corpus_file)]
    torchrun += ["--out-dir", str(out), "--n-layer", "1", "--n-embd", "16", "--block-size", "16"]
    torchrun += ["--batch-size", "4", "--eval-iters", "1", "--no-progress", "--max-steps", "4"]
    torchrun += ["--warmup-steps", "1", "--eval-interval", "4", "--threads", "1"]
    torchrun += ["--device", "cpu"]  # gloo, also on a machine with a GPU
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for more in (["--stop-at", "2"], ["--resume"]):
        done = subprocess.run(torchrun + more, capture_output=True, text=True, timeout=180, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert load_checkpoint(out / "ckpt.pt")["step"] == (2 if "--stop-at" in more else 4)
    ddp = load_checkpoint(out / "ckpt.pt")
    assert len(ddp["rng_batches_by_rank"]) == 2

    # one process, same model init, whose every training batch is rank 0's and rank 1's together
    corpus = load_corpus(corpus_file)
    batches = Batches.from_corpus(corpus, CharTokenizer.fit(corpus.text), block_size=16)
    cfg = quick_config(
        max_steps=4, batch_size=4, lr=3e-3, warmup_steps=1, eval_interval=4, eval_iters=1
    )

    def one_process(rank_seeds):
        gens = [torch.Generator().manual_seed(distributed.rank_seed(0, r)) for r in rank_seeds]

        def global_batch(split, batch_size, gen):
            if not torch.is_grad_enabled():
                return batches.get(split, batch_size, gen)  # evaluation: as in each rank
            parts = [batches.get(split, batch_size, g) for g in gens]
            return tuple(torch.cat(ts) for ts in zip(*parts, strict=True))

        torch.manual_seed(0)
        single = GPT(GPTConfig.from_dict(ddp["model_config"]))
        train(single, global_batch, cfg)
        return max((v - ddp["model"][k]).abs().max().item() for k, v in single.state_dict().items())

    # the all-reduce sums gradients in another order, and AdamW divides by sqrt(v), so a
    # weight may move ~1e-5 apart; two ranks drawing the same batches move them far more
    assert one_process((0, 1)) < 1e-4
    assert one_process((0, 0)) > 1e-3, "the check tells apart ranks that share their batches"
