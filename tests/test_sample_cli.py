"""helpers.sample.cli: ``python -m helpers.sample`` prints text, or one line of error."""

import subprocess
import sys

import pytest

from helpers.data import PROJECT_ROOT
from helpers.sample.cli import main


def test_cli_prints_the_prompt_and_the_new_characters(sample_checkpoint, capsys):
    argv = ["--checkpoint", str(sample_checkpoint), "--prompt", "ab", "--max-new-tokens", "5"]
    assert main(argv + ["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ab") and len(out) == len("ab") + 5 + 1  # print adds one newline


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prompt", "xyz"], "character 'x' at position 0 is not in the vocabulary"),
        (["--prompt", "ab", "--max-new-tokens", "-1"], "--max-new-tokens must be >= 0"),
        (["--prompt", "ab", "--temperature", "-1"], "temperature must be >= 0"),
    ],
)
def test_cli_bad_input_one_line_exit_2(sample_checkpoint, capsys, argv, message):
    assert main(["--checkpoint", str(sample_checkpoint), "--device", "cpu", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_dash_m_samples_from_the_reference_checkpoint():
    done = subprocess.run(
        [sys.executable, "-m", "helpers.sample", "--max-new-tokens", "20", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("Luffy") and len(done.stdout) == len("Luffy") + 20 + 1
