"""helpers.train.presets: every preset names valid model and training settings."""

import json
from dataclasses import fields

import pytest

from helpers.data import DATA_DIR
from helpers.gpt import GPTConfig
from helpers.train import TrainConfig
from helpers.train.presets import PRESETS, split_settings


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


def test_split_settings_separates_model_training_and_snapshots():
    model, train, snapshots = split_settings(PRESETS["reference"])
    assert set(model) == {"n_layer", "n_head", "n_embd", "block_size", "dropout"}
    assert train["lr"] == PRESETS["reference"]["lr"] and "snapshot_steps" not in train
    assert snapshots == (200, 1000)
    assert split_settings({"n_layer": 2, "lr": 0.1})[2] == (), "no snapshots unless asked"
    assert "snapshot_steps" in PRESETS["reference"], "the preset itself is left as it was"


SHIPPED = DATA_DIR / "checkpoints"


def test_the_reference_preset_is_episode_06s_shipped_model():
    """data/checkpoints was trained with it; changing it would orphan the shipped files."""
    ref = PRESETS["reference"]
    assert (ref["n_layer"], ref["n_head"], ref["n_embd"], ref["block_size"]) == (4, 4, 128, 128)
    assert ref["max_steps"] == 2500 and ref["snapshot_steps"] == (200, 1000)
    shipped = json.loads((SHIPPED / "settings.json").read_text())
    assert shipped["command"].endswith(
        "--preset reference --threads 2 --no-progress "
        "--out-dir runs/reference --ship-to data/checkpoints"
    )
    ran_with = {
        **shipped["model"],
        **shipped["train"],
        "snapshot_steps": tuple(shipped["snapshots"]),
    }
    differs = {k: (v, ran_with.get(k)) for k, v in ref.items() if ran_with.get(k) != v}
    assert not differs, f"the preset and the shipped run's settings differ: {differs}"


def test_the_reference_rate_is_the_shipped_sweeps_best():
    """Episode 06, section 7: the peak rate was chosen by make lr-sweep, not by hand."""
    sweep = json.loads((SHIPPED / "lr_sweep.json").read_text())
    assert PRESETS["reference"]["lr"] == sweep["best_lr"]
    assert min(sweep["lrs"]) < sweep["best_lr"] < max(sweep["lrs"]), "the best is inside the range"
    assert sweep["model"] == json.loads((SHIPPED / "settings.json").read_text())["model"]


def test_the_larger_run_is_larger_and_shipped_without_weights():
    ref, big = PRESETS["reference"], PRESETS["larger"]
    assert big["n_layer"] * big["n_embd"] ** 2 > 3 * ref["n_layer"] * ref["n_embd"] ** 2
    shipped = SHIPPED / "larger"
    assert {p.name for p in shipped.iterdir()} == {"history.json", "loss.png", "settings.json"}
    ran_with = json.loads((shipped / "settings.json").read_text())
    assert ran_with["model"]["n_embd"] == big["n_embd"] and ran_with["train"]["lr"] == big["lr"]
