"""A learning-rate sweep: ``python -m helpers.train.sweep`` (``make lr-sweep``).

Episode 06, section 7 ("training longer") chooses the reference run's peak learning
rate with it. The same model, from the same initial weights and on the same batches,
trains for a few hundred steps at each of several peak learning rates (warm-up, then a
cosine decay to a tenth, the reference recipe shrunk to the sweep's length); every
run's loss history goes into one JSON file, with the rate whose last validation
estimate is lowest. A few hundred steps are cheap, and they tell a rate that is too
small (slow) or too large (unstable) from one that suits the model. They favour large
rates a little: a long run has more time to profit from small careful steps.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from helpers.data import DEFAULT_CORPUS, Batches, CharTokenizer, CorpusError, load_corpus
from helpers.gpt import GPT, GPTConfig
from helpers.train.loop import TrainConfig, train
from helpers.train.presets import PRESETS, split_settings

DEFAULT_LRS = (0.002, 0.004, 0.008, 0.016, 0.032)


def sweep_settings(preset: str, steps: int, warmup_steps: int) -> tuple[dict, dict]:
    """The preset's model settings, and its training settings (but the rate) shortened to ``steps``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not 0 <= warmup_steps < steps:
        raise ValueError(f"warmup_steps must be in [0, steps={steps}), got {warmup_steps}")
    model, run, _ = split_settings(PRESETS[preset])  # the preset's snapshots are not needed
    run.pop("lr", None)  # each run gets its own
    run.update(max_steps=steps, warmup_steps=warmup_steps, min_lr=None)  # min_lr: lr / 10
    run["eval_interval"] = min(run.get("eval_interval", 50), 50)
    return model, run


def lr_sweep(
    lrs: tuple[float, ...],
    preset: str = "reference",
    steps: int = 300,
    warmup_steps: int = 50,
    corpus_path: str | Path = DEFAULT_CORPUS,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """Train the preset's model at each peak rate in ``lrs``; return every history, and the best.

    Each run starts from the same weights (``seed``) and draws the same batches.
    """
    if not lrs or any(lr <= 0 for lr in lrs):
        raise ValueError(f"give one or more positive learning rates, got {list(lrs)}")
    model_kw, run_kw = sweep_settings(preset, steps, warmup_steps)
    corpus = load_corpus(corpus_path)
    tokenizer = CharTokenizer.fit(corpus.text)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, **model_kw)
    batches = Batches.from_corpus(corpus, tokenizer, config.block_size)
    runs = {}
    for lr in lrs:
        torch.manual_seed(seed)
        model = GPT(config)
        cfg = TrainConfig(lr=lr, seed=seed, device=device, progress=False, **run_kw)
        started = time.perf_counter()
        history = train(model, batches.get, cfg).history
        runs[repr(lr)] = history.to_dict()
        print(
            f"lr {lr:g}: val loss {history.last('val'):.3f} after {steps} steps "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    best = min(runs, key=lambda lr: runs[lr]["val"][-1])
    return {
        "preset": preset,
        "model": config.to_dict(),
        "train": {k: v for k, v in vars(cfg).items() if k != "lr"},
        "lrs": [float(lr) for lr in runs],
        "best_lr": float(best),
        "runs": runs,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line: rates, steps, preset and where the JSON goes."""
    p = argparse.ArgumentParser(
        prog="python -m helpers.train.sweep",
        description="Train a preset's model briefly at several peak learning rates.",
    )
    p.add_argument("--lrs", type=float, nargs="+", default=list(DEFAULT_LRS))
    p.add_argument("--preset", default="reference", help=f"one of {', '.join(PRESETS)}")
    p.add_argument("--steps", type=int, default=300, help="optimiser steps per rate")
    p.add_argument("--warmup-steps", type=int, default=50)
    p.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default="runs/lr_sweep.json", help="the JSON file to write")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and write the JSON; 2 with a one-line error on bad input."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = lr_sweep(tuple(args.lrs), args.preset, args.steps, args.warmup_steps, args.corpus)
    except (CorpusError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["command"] = "python -m helpers.train.sweep " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    result["threads"] = torch.get_num_threads()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result) + "\n")
    print(f"best peak learning rate: {result['best_lr']:g} (written to {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
