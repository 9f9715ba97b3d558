"""Named settings for ``python -m helpers.train --preset NAME`` (and for bench/bench.py).

Each preset sets GPTConfig and TrainConfig fields (plus ``snapshot_steps``); flags
given on the command line override them. "reference" is the run behind episode 06's
shipped checkpoints (section 7, "training longer"; ``make checkpoints``).
"""

from dataclasses import fields

from helpers.gpt import GPTConfig

PRESETS: dict[str, dict] = {
    # a couple of minutes on a laptop CPU
    "cpu-small": dict(
        n_layer=2,
        n_head=2,
        n_embd=64,
        block_size=64,
        batch_size=32,
        max_steps=500,
        lr=3e-3,
        warmup_steps=50,
        eval_interval=50,
    ),
    # episode 06's reference run (make checkpoints): 24 minutes on 2 CPU cores.
    # Its peak rate is the best of `make lr-sweep` (data/checkpoints/lr_sweep.json).
    "reference": dict(
        n_layer=4,
        n_head=4,
        n_embd=128,
        block_size=128,
        dropout=0.1,
        batch_size=32,
        max_steps=2500,
        lr=1.6e-2,
        min_lr=1.6e-3,
        warmup_steps=50,
        eval_interval=100,
        eval_iters=10,
        snapshot_steps=(200, 1000),
    ),
    # episode 06's "is the text the limit?" run (make larger-run, 37 minutes on 2 CPU cores
    # busy with other work): a model three times the reference's size, no dropout, half its
    # peak rate (wider models want smaller steps). Only its loss history is shipped (its
    # weights would take 11 MB).
    "larger": dict(
        n_layer=6,
        n_head=6,
        n_embd=192,
        block_size=128,
        dropout=0.0,
        batch_size=32,
        max_steps=1500,
        lr=8e-3,
        min_lr=8e-4,
        warmup_steps=50,
        eval_interval=100,
        eval_iters=10,
    ),
    # nanoGPT's shakespeare_char size, for a GPU
    "shakespeare-char": dict(
        n_layer=6,
        n_head=6,
        n_embd=384,
        block_size=256,
        batch_size=64,
        dropout=0.2,
        max_steps=5000,
        lr=1e-3,
        min_lr=1e-4,
        warmup_steps=100,
        eval_interval=250,
        eval_iters=50,
    ),
}


def split_settings(settings: dict) -> tuple[dict, dict, tuple[int, ...]]:
    """Settings as a preset writes them, split: (GPTConfig fields, the rest, snapshot steps).

    The rest are TrainConfig fields; ``python -m helpers.train`` and the learning-rate
    sweep both read a preset this way.
    """
    model_keys = {f.name for f in fields(GPTConfig)}
    rest = dict(settings)
    snapshots = tuple(rest.pop("snapshot_steps", ()))
    model = {k: v for k, v in rest.items() if k in model_keys}
    train = {k: v for k, v in rest.items() if k not in model_keys}
    return model, train, snapshots
