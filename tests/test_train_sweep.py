"""helpers.train.sweep: the learning-rate sweep behind episode 06's reference recipe."""

import json

import pytest

from helpers.train import sweep
from helpers.train.presets import PRESETS

TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, eval_iters=1)


@pytest.fixture
def tiny_preset(monkeypatch):
    monkeypatch.setitem(
        PRESETS, "tiny-test", dict(TINY, max_steps=999, lr=1.0, snapshot_steps=(5,))
    )
    return "tiny-test"


def test_the_sweep_shrinks_the_preset_and_leaves_the_rate_to_each_run():
    model, run = sweep.sweep_settings("reference", steps=300, warmup_steps=50)
    assert model["n_embd"] == PRESETS["reference"]["n_embd"] and "max_steps" not in model
    assert run["max_steps"] == 300 and run["warmup_steps"] == 50
    assert "lr" not in run and "snapshot_steps" not in run
    assert run["min_lr"] is None, "each run decays to a tenth of its own peak"
    assert run["eval_interval"] <= 50, "enough points for a curve in a few hundred steps"


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: sweep.sweep_settings("nope", 300, 50), "unknown preset 'nope'"),
        (lambda: sweep.sweep_settings("reference", 300, 300), "warmup_steps"),
        (lambda: sweep.lr_sweep(()), "learning rates"),
        (lambda: sweep.lr_sweep((0.01, -1.0)), "positive"),
    ],
)
def test_bad_settings_name_the_problem(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_every_rate_starts_from_the_same_model_and_the_best_is_the_lowest(tiny_preset, corpus_file):
    result = sweep.lr_sweep(
        (0.003, 0.03), tiny_preset, steps=6, warmup_steps=1, corpus_path=corpus_file
    )
    runs = result["runs"]
    assert result["lrs"] == [0.003, 0.03] and set(runs) == {"0.003", "0.03"}
    first = {lr: run["val"][0] for lr, run in runs.items()}
    assert first["0.003"] == first["0.03"], "the same initial weights and evaluation batches"
    assert all(run["step"][-1] == 6 for run in runs.values())
    last = {float(lr): run["val"][-1] for lr, run in runs.items()}
    assert result["best_lr"] == min(last, key=last.get)
    assert max(runs["0.03"]["lr"]) > max(runs["0.003"]["lr"]), "each run used its own rate"


def test_main_writes_one_json_and_bad_input_is_one_line(tiny_preset, corpus_file, tmp_path, capsys):
    out = tmp_path / "sweep" / "lr_sweep.json"
    argv = [
        "--preset",
        tiny_preset,
        "--steps",
        "4",
        "--warmup-steps",
        "1",
        "--lrs",
        "0.01",
        "--corpus",
        str(corpus_file),
        "--out",
        str(out),
    ]
    assert sweep.main(argv) == 0
    written = json.loads(out.read_text())
    assert written["best_lr"] == 0.01 and written["command"].startswith(
        "python -m helpers.train.sweep"
    )
    assert "best peak learning rate: 0.01" in capsys.readouterr().out
    assert sweep.main(argv[:-2] + ["--out", str(out), "--steps", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert sweep.main(argv + ["--corpus", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
