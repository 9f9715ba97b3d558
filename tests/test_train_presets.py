"""helpers.train.presets: every preset names valid model and training settings."""

from dataclasses import fields

import pytest

from helpers.gpt import GPTConfig
from helpers.train import TrainConfig
from helpers.train.presets import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_a_model_and_a_training_config(name):
    settings = dict(PRESETS[name])
    snapshots = settings.pop("snapshot_steps", ())
    model_keys = {f.name for f in fields(GPTConfig)}
    train_keys = {f.name for f in fields(TrainConfig)}
    assert set(settings) <= model_keys | train_keys, set(settings) - model_keys - train_keys
    GPTConfig(**{k: v for k, v in settings.items() if k in model_keys})
    cfg = TrainConfig(**{k: v for k, v in settings.items() if k in train_keys})
    assert all(0 < s < cfg.max_steps for s in snapshots), snapshots


def test_the_reference_preset_is_episode_06s_shipped_model():
    """data/checkpoints was trained with it; changing it would orphan the shipped files."""
    ref = PRESETS["reference"]
    assert (ref["n_layer"], ref["n_head"], ref["n_embd"], ref["block_size"]) == (4, 4, 128, 128)
    assert ref["max_steps"] == 2500 and ref["snapshot_steps"] == (200, 1000)
