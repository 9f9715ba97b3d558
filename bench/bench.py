"""Benchmarks of the course's GPT: training throughput and MFU, KV-cache generation, attention memory.

Run with ``make bench`` (not part of ``make test``). Prints a table and writes
``runs/bench.json``. On a CUDA machine it also trains at nanoGPT's
"shakespeare_char" size with bf16 and torch.compile.

    python bench/bench.py [--quick] [--skip-compile] [--out runs/bench.json]
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from helpers.device import DEVICE_CHOICES, choose_device
from helpers.gpt import GPT, GPTConfig
from helpers.train.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent


def reference_config(**overrides) -> GPTConfig:
    """The reference model of episode 06 (preset 'reference'), vocabulary of the corpus size."""
    keys = ("n_layer", "n_head", "n_embd", "block_size")
    cfg = {k: PRESETS["reference"][k] for k in keys}
    cfg.update(overrides)
    return GPTConfig(vocab_size=80, **cfg)


def flops_per_token(model: GPT) -> float:
    """Training FLOPs per token: 6N for the weights plus 12 * L * T * d for attention."""
    c = model.config
    return 6 * model.num_params(non_embedding=True) + 12 * c.n_layer * c.block_size * c.n_embd


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(
    device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 10
) -> float:
    """Measured FLOP/s of a square matmul: the machine's practical peak for this dtype."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def _training_step(config, device, batch_size, fused, compile_mode, bf16):
    """A model, its optimiser and a fixed batch; returns (one training step, the model)."""
    torch.manual_seed(0)
    model = GPT(replace(config, attention="fused" if fused else "written")).to(device)
    step_model = model if compile_mode is None else torch.compile(model, mode=compile_mode)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    x = torch.randint(0, config.vocab_size, (batch_size, config.block_size), device=device)
    y = torch.randint(0, config.vocab_size, (batch_size, config.block_size), device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            _, loss = step_model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, model


def train_throughput(
    config: GPTConfig,
    device: torch.device,
    batch_size: int,
    steps: int,
    variants: list[tuple[bool, str | None]],
    bf16: bool = False,
    rounds: int = 3,
) -> list[dict]:
    """Tokens per second of full training steps (forward, backward, AdamW) after warm-up.

    variants: (fused attention?, torch.compile mode or None for eager). Compile mode
    "reduce-overhead" also records the compiled step as a CUDA graph, so the GPU no
    longer waits for Python to launch each of its small kernels. The variants take
    turns: each runs ``steps`` steps per round and its fastest round counts. Other load
    on the machine can only slow a round down, so the fastest is the best estimate of
    the code's own speed (the advice of Python's ``timeit``), and taking turns keeps a
    long burst of load from landing on one variant alone.
    """
    prepared, warmups = [], []
    for fused, mode in variants:
        step, model = _training_step(config, device, batch_size, fused, mode, bf16)
        model_flops = flops_per_token(model)  # (the same config for every variant)
        t0 = time.perf_counter()
        for _ in range(5):  # warm-up (compilation; a CUDA graph is recorded on a later call)
            step()
        sync(device)
        prepared.append(step)
        warmups.append(time.perf_counter() - t0)
    seconds: list[list[float]] = [[] for _ in variants]
    for _ in range(rounds):
        for step, times in zip(prepared, seconds, strict=True):
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            sync(device)
            times.append(time.perf_counter() - t0)
    rows = []
    for (fused, mode), times, warmup_s in zip(variants, seconds, warmups, strict=True):
        fastest = min(times)
        rows.append(
            {
                "attention": "fused" if fused else "written",
                "compile": mode or False,
                "bf16": bf16,
                "tokens_per_s": round(steps * batch_size * config.block_size / fastest, 1),
                "ms_per_step": round(1000 * fastest / steps, 2),
                "warmup_s": round(warmup_s, 2),
                "model_flops_per_token": model_flops,
            }
        )
    return rows


@torch.no_grad()
def generation_speed(device: torch.device, lengths: tuple[int, ...], rounds: int = 3) -> list[dict]:
    """Tokens per second generating n new tokens after an 8-token prompt (greedy, batch 1).

    For each length, with and without the KV cache in turn, ``rounds`` times; the
    fastest round counts (as in train_throughput).
    """
    config = reference_config(block_size=max(lengths) + 8)  # room for the longest: no cropping
    torch.manual_seed(0)
    model = GPT(config).to(device).eval()
    prompt = torch.zeros(1, 8, dtype=torch.long, device=device)
    rows = []
    for n in lengths:
        seconds: dict[bool, list[float]] = {True: [], False: []}
        for use_cache in (True, False):
            model.generate(prompt, 4, temperature=0, use_cache=use_cache)  # warm-up
        for _ in range(rounds):
            for use_cache in (True, False):
                sync(device)
                t0 = time.perf_counter()
                model.generate(prompt, n, temperature=0, use_cache=use_cache)
                sync(device)
                seconds[use_cache].append(time.perf_counter() - t0)
        for use_cache in (True, False):
            fastest = min(seconds[use_cache])
            rows.append(
                {"new_tokens": n, "kv_cache": use_cache, "tokens_per_s": round(n / fastest, 1)}
            )
    return rows


MEMORY_PROBE = """
import sys, torch
from helpers.attention import scaled_dot_product_attention
T, path, device = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def rss(field):
    # VmRSS: resident memory now; VmHWM: its peak since the last reset
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

q, k, v = (torch.randn(1, 4, T, 32, device=device) for _ in range(3))
if device == "cuda":
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
else:
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current size
    base = rss("VmRSS:")
with torch.no_grad():
    if path == "written":
        out, w = scaled_dot_product_attention(q, k, v)
    else:
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
if device == "cuda":
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
else:
    peak = rss("VmHWM:") - base
print(peak)
"""


def attention_memory(T: int, path: str, device: torch.device) -> dict:
    """Peak extra memory of one attention call (batch 1, 4 heads of 32), in a fresh process.

    On CPU: growth of the process's peak resident memory (Linux /proc); on CUDA: peak
    allocated bytes.
    """
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(T), path, device.type],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    peak = int(done.stdout.strip().splitlines()[-1])
    return {
        "T": T,
        "attention": path,
        "peak_mib": round(peak / 2**20, 1),
        "weights_matrix_mib": round(4 * T * T * 4 / 2**20, 1),
    }


def table(rows: list[dict], title: str) -> str:
    """A plain-text table of dicts with the same keys."""
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    line = "  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))
    body = ["  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)) for r in rows]
    return "\n".join([f"\n{title}", line, "-" * len(line), *body])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and lengths (a smoke run)")
    p.add_argument("--skip-compile", action="store_true", help="leave out torch.compile runs")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench.json"))
    args = p.parse_args(argv)
    device = choose_device(args.device)
    steps = 2 if args.quick else 5  # per round; three rounds
    results: dict = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        results["gpu"] = torch.cuda.get_device_name()

    # 1. training throughput of the reference model
    peak = matmul_peak(device, torch.float32)
    results["matmul_peak_fp32_tflops"] = round(peak / 1e12, 4)
    config = reference_config(block_size=256)  # the comparison is at context 256
    variants: list[tuple[bool, str | None]] = [(True, None), (False, None)]
    if not args.skip_compile:
        variants += [(True, "default"), (False, "default")]
    rows = train_throughput(config, device, batch_size=16, steps=steps, variants=variants)
    for r in rows:
        r["mfu_percent"] = round(100 * r["tokens_per_s"] * r["model_flops_per_token"] / peak, 2)
    results["training"] = rows
    eager = {r["attention"]: r["tokens_per_s"] for r in rows if not r["compile"]}
    results["fused_speedup_at_256"] = round(eager["fused"] / eager["written"], 2)
    print(table(rows, f"Training throughput, reference model at context 256, batch 16 on {device}"))
    print(f"fused / written-out attention (eager): {results['fused_speedup_at_256']}x")

    # 2. generation with and without the KV cache
    lengths = (128, 512) if args.quick else (128, 512, 1024)
    gen_rows = generation_speed(device, lengths, rounds=1 if args.quick else 3)
    results["generation"] = gen_rows
    by = {(r["new_tokens"], r["kv_cache"]): r["tokens_per_s"] for r in gen_rows}
    results["kv_cache_speedup_at_512"] = round(by[(512, True)] / by[(512, False)], 2)
    print(table(gen_rows, "Generation (greedy, batch 1)"))
    print(f"KV cache speed-up at 512 new tokens: {results['kv_cache_speedup_at_512']}x")

    # 3. attention memory against sequence length
    Ts = (256, 1024, 2048) if args.quick else (256, 512, 1024, 2048, 4096)
    mem_rows = [attention_memory(T, path, device) for T in Ts for path in ("written", "fused")]
    results["attention_memory"] = mem_rows
    print(table(mem_rows, "Peak memory of one attention call (1 x 4 heads x 32)"))

    # 4. on a GPU: nanoGPT's shakespeare_char size with bf16 and compile
    if device.type == "cuda":
        bf16_peak = matmul_peak(device, torch.bfloat16, n=8192, repeats=20)
        results["matmul_peak_bf16_tflops"] = round(bf16_peak / 1e12, 1)
        s = PRESETS["shakespeare-char"]
        big = GPTConfig(
            vocab_size=65,
            n_layer=s["n_layer"],
            n_head=s["n_head"],
            n_embd=s["n_embd"],
            block_size=s["block_size"],
            dropout=0.0,
        )
        gpu_variants: list[tuple[bool, str | None]] = [(True, None)]
        if not args.skip_compile:
            gpu_variants += [(True, "default"), (True, "reduce-overhead")]
        gpu_rows = train_throughput(
            big, device, batch_size=s["batch_size"], steps=50, variants=gpu_variants, bf16=True
        )
        for r in gpu_rows:
            r["mfu_percent"] = round(
                100 * r["tokens_per_s"] * r["model_flops_per_token"] / bf16_peak, 2
            )
        results["gpu_shakespeare_char"] = gpu_rows
        print(table(gpu_rows, f"nanoGPT shakespeare_char size, bf16, on {results['gpu']}"))

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
