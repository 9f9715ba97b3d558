"""helpers.train.cli: ``python -m helpers.train``, its files, presets, resume and errors."""

import json
import subprocess
import sys

import pytest

from helpers.data import PROJECT_ROOT, CharTokenizer, load_corpus
from helpers.train import load_checkpoint
from helpers.train.cli import build_parser, main, run, settings
from helpers.train.presets import PRESETS

TINY = ["--preset", "cpu-small", "--n-layer", "1", "--n-embd", "16", "--block-size", "16"]
TINY += ["--batch-size", "4", "--eval-interval", "5", "--eval-iters", "1", "--no-progress"]


def test_flags_override_the_preset_and_the_rest_comes_from_it():
    args = build_parser().parse_args(["--preset", "reference", "--n-layer", "2", "--lr", "0.01"])
    model, train_cfg, snapshots = settings(args)
    assert model["n_layer"] == 2 and model["n_embd"] == PRESETS["reference"]["n_embd"]
    assert train_cfg["lr"] == 0.01 and train_cfg["max_steps"] == 2500
    assert snapshots == (200, 1000)
    args = build_parser().parse_args(["--preset", "reference", "--snapshot-steps", "5,9"])
    assert settings(args)[2] == (5, 9)


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


def test_attention_flag_builds_the_chosen_path(tmp_path, corpus_file):
    base = ["--corpus", str(corpus_file), "--out-dir", str(tmp_path / "r"), "--max-steps", "1"]
    written = run(base + TINY + ["--attention", "written"]).model
    assert written.config.attention == "written"
    assert not any(block.attn.fused for block in written.blocks)
    fused = run(base + TINY).model
    assert fused.config.attention == "fused" and all(block.attn.fused for block in fused.blocks)


def test_cli_snapshots_carry_the_vocabulary(tmp_path, corpus_file):
    out, ship = tmp_path / "run", tmp_path / "ship"
    argv = ["--corpus", str(corpus_file), "--out-dir", str(out), "--max-steps", "4", *TINY]
    assert main(argv + ["--snapshot-steps", "2", "--ship-to", str(ship)]) == 0
    for name in ("step_2.pt", "step_4.pt"):
        assert "chars" in load_checkpoint(ship / name)["extra"], name
    assert {"history.json", "loss.png", "settings.json"} <= {p.name for p in ship.iterdir()}
    assert json.loads((ship / "settings.json").read_text())["snapshots"] == [2]


def test_cli_ship_history_only_ships_no_model(tmp_path, corpus_file):
    out, ship = tmp_path / "run", tmp_path / "ship"
    argv = ["--corpus", str(corpus_file), "--out-dir", str(out), "--max-steps", "4", *TINY]
    assert (
        main(argv + ["--snapshot-steps", "2", "--ship-to", str(ship), "--ship-history-only"]) == 0
    )
    assert {p.name for p in ship.iterdir()} == {"history.json", "loss.png", "settings.json"}
    assert (out / "step_2.pt").is_file(), "the run itself still saves its snapshot"


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
    argv = ["--corpus", str(corpus_file), "--out-dir", str(out), "--max-steps", "2", *TINY]
    assert main(argv) == 0
    other = tmp_path / "other.txt"
    other.write_text("\n\n".join(["completely different text! " * 5] * 20), encoding="utf-8")
    assert main(["--corpus", str(other), "--out-dir", str(out), "--resume", *TINY]) == 2
    assert "another vocabulary" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "helpers.train", "--preset", "huge"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 2 and "unknown preset 'huge'" in done.stderr
