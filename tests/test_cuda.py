"""The CUDA path: the same model on a GPU, bf16 autocast, torch.compile, checkpoints, sampling.

Every test here needs an NVIDIA GPU and is skipped (with that reason) on a machine
without one, such as CI. On a GPU machine, ``make unit`` runs them with the rest.
"""

import math
import subprocess
import sys
from functools import partial

import pytest
import torch

from helpers.attention import scaled_dot_product_attention
from helpers.data import PROJECT_ROOT
from helpers.positional import SinusoidalPositionalEncoding, sinusoidal_encoding
from helpers.sample import load_gpt, sample_text
from helpers.train import load_checkpoint, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


# conftest's tiny task (a period-7 sequence), with a longer window and a bigger model
@pytest.fixture
def get_batch(periodic_batch):
    return partial(periodic_batch, window=16)


@pytest.fixture
def small_gpt(tiny_gpt):
    return lambda seed=0, **kw: tiny_gpt(
        seed, **{"block_size": 16, "n_layer": 2, "n_embd": 32, **kw}
    )


@pytest.fixture
def train_cfg(quick_config):
    return lambda **kw: quick_config(
        **{"max_steps": 60, "batch_size": 16, "eval_interval": 20, "device": "cuda", **kw}
    )


def test_the_gpu_computes_what_the_cpu_computes(small_gpt):
    model = small_gpt().eval()
    x = torch.randint(0, 7, (4, 16))
    with torch.no_grad():
        on_cpu, _ = model(x)
        on_gpu, _ = model.to(CUDA)(x.to(CUDA))
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-4, rtol=1e-4)


def test_written_out_and_fused_attention_agree_on_the_gpu():
    q, k, v = (torch.randn(2, 4, 64, 32, device=CUDA) for _ in range(3))
    mask = torch.ones(64, 64, dtype=torch.bool, device=CUDA).tril()
    written, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(written, fused, atol=1e-4, rtol=1e-4)
    assert torch.all(weights.triu(1) == 0)


def test_bf16_training_on_the_gpu_learns_and_keeps_float32_weights(
    tmp_path, small_gpt, get_batch, train_cfg
):
    result = train(small_gpt(), get_batch, train_cfg(checkpoint_path=str(tmp_path / "c.pt")))
    h = result.history
    assert next(result.model.parameters()).device.type == "cuda"
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert h.val[0] > 0.8 * math.log(7)  # starts near chance
    assert h.val[-1] < 0.2  # the period-7 sequence is learned
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 60


def test_a_gpu_run_stopped_early_resumes_into_the_same_curve(
    tmp_path, small_gpt, get_batch, train_cfg
):
    full = train(small_gpt(), get_batch, train_cfg(bf16=False))
    path = str(tmp_path / "c.pt")
    train(small_gpt(), get_batch, train_cfg(bf16=False, checkpoint_path=path, stop_at=30))
    resumed = train(
        small_gpt(seed=5), get_batch, train_cfg(bf16=False, checkpoint_path=path), resume_from=path
    )
    # the same batches and schedule; GPU kernels may differ in the last bits between runs
    assert resumed.history.step == full.history.step
    torch.testing.assert_close(
        torch.tensor(resumed.history.batch_loss),
        torch.tensor(full.history.batch_loss),
        atol=1e-3,
        rtol=1e-3,
    )


def test_kv_cache_generates_what_recomputation_generates_on_the_gpu(small_gpt):
    torch.manual_seed(0)
    model = small_gpt(vocab_size=50, block_size=64).to(CUDA).eval()
    prompt = torch.randint(0, 50, (2, 5), device=CUDA)
    with torch.no_grad():
        cached = model.generate(prompt, 40, temperature=0, use_cache=True)
        recomputed = model.generate(prompt, 40, temperature=0, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_compiled_model_matches_eager_on_the_gpu(small_gpt):
    model = small_gpt().to(CUDA).eval()
    x = torch.randint(0, 7, (4, 16), device=CUDA)
    with torch.no_grad():
        eager, _ = model(x)
        compiled, _ = torch.compile(model)(x)
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)


def test_the_reference_checkpoint_samples_on_the_gpu():
    model, tokenizer, _ = load_gpt(
        str(PROJECT_ROOT / "data/checkpoints/step_2500.pt"), device="cuda"
    )
    assert next(model.parameters()).device.type == "cuda"
    text = sample_text(model, tokenizer, "Luffy", max_new_tokens=60, temperature=0.8, seed=1)
    assert text.startswith("Luffy") and len(text) == len("Luffy") + 60


@pytest.mark.skipif(
    torch.cuda.is_available() and torch.cuda.device_count() > 1, reason="needs exactly one GPU"
)
def test_more_processes_than_gpus_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        + ["-m", "helpers.train", "--out-dir", str(tmp_path), "--max-steps", "2"]
        + ["--device", "cuda", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode != 0
    assert "process 1 has no GPU of its own" in done.stderr


def test_both_attention_paths_of_a_gpt_agree_on_the_gpu(small_gpt):
    fused = small_gpt().to(CUDA).eval()
    written = small_gpt(attention="written").to(CUDA).eval()
    written.load_state_dict(fused.state_dict())
    x = torch.randint(0, 7, (4, 16), device=CUDA)
    with torch.no_grad():
        torch.testing.assert_close(written(x)[0], fused(x)[0], atol=1e-4, rtol=1e-4)


def test_the_sinusoidal_module_on_the_gpu_gives_the_formulas_numbers():
    on_gpu = SinusoidalPositionalEncoding(64)(torch.arange(128, device=CUDA))
    torch.testing.assert_close(on_gpu.cpu(), sinusoidal_encoding(128, 64), atol=1e-6, rtol=0)
