"""Print text from a trained GPT checkpoint: ``python -m helpers.sample`` (episode 06).

Generation uses the KV cache: each new character runs one position through the
model, reusing the keys and values of the ones before.
"""

import argparse
import sys

import torch

from helpers.data import DATA_DIR, CharTokenizer
from helpers.device import choose_device
from helpers.gpt import GPT, GPTConfig
from helpers.train import load_checkpoint

REFERENCE_CHECKPOINT = DATA_DIR / "checkpoints" / "step_2500.pt"  # made by make checkpoints


def load_gpt(path: str, device: str = "cpu") -> tuple[GPT, CharTokenizer, dict]:
    """Rebuild the GPT and its tokenizer from a checkpoint written by ``helpers.train``."""
    ckpt = load_checkpoint(path)
    if ckpt.get("model_config") is None:
        raise ValueError(f"{path} holds no GPT config; was it written for another model?")
    chars = ckpt.get("extra", {}).get("chars")
    if chars is None:
        raise ValueError(
            f"{path} holds no vocabulary (extra['chars']); write it with helpers.train"
        )
    model = GPT(GPTConfig.from_dict(ckpt["model_config"]))
    tokenizer = CharTokenizer(chars)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"{path}: vocabulary of {tokenizer.vocab_size} characters does not match the "
            f"model's vocab_size {model.config.vocab_size}"
        )
    load_checkpoint(path, model)
    return model.to(choose_device(device)).eval(), tokenizer, ckpt


def sample_text(
    model: GPT,
    tokenizer: CharTokenizer,
    prompt: str,
    max_new_tokens: int = 300,
    temperature: float = 0.8,
    top_k: int | None = None,
    seed: int = 0,
    use_cache: bool = True,
) -> str:
    """The prompt followed by ``max_new_tokens`` generated characters."""
    if not prompt:
        raise ValueError("the prompt must not be empty (the model needs a first character)")
    device = next(model.parameters()).device
    idx = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)  # (1, T)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = model.generate(
        idx, max_new_tokens, temperature, top_k, use_cache=use_cache, generator=gen
    )
    return tokenizer.decode(out[0])


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m helpers.sample``."""
    p = argparse.ArgumentParser(
        prog="python -m helpers.sample", description=__doc__.splitlines()[0]
    )
    p.add_argument("--checkpoint", default=str(REFERENCE_CHECKPOINT))
    p.add_argument("--prompt", default="Luffy")
    p.add_argument("--max-new-tokens", type=int, default=300)
    p.add_argument("--temperature", type=float, default=0.8, help="0 = always the likeliest")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument("--no-cache", dest="use_cache", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    """Print a sample; 0 on success, 2 with a one-line error on bad input."""
    args = build_parser().parse_args(argv)
    try:
        if args.max_new_tokens < 0:
            raise ValueError(f"--max-new-tokens must be >= 0, got {args.max_new_tokens}")
        model, tokenizer, _ = load_gpt(args.checkpoint, args.device)
        print(
            sample_text(
                model,
                tokenizer,
                args.prompt,
                args.max_new_tokens,
                args.temperature,
                args.top_k,
                args.seed,
                args.use_cache,
            )
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from helpers.sample import main as _main  # see helpers.train: one copy of the module

    raise SystemExit(_main())
