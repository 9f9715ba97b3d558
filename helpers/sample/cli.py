"""The command line ``python -m helpers.sample``: print text from a trained checkpoint.

Not a notebook's code: the README's "Training outside the notebooks" documents it
(``make sample``); episode 06 (section 8) calls the same ``sample_text``. Bad input
ends the program with a one-line error and exit code 2.
"""

import argparse
import sys

from helpers.device import DEVICE_CHOICES
from helpers.sample import REFERENCE_CHECKPOINT, load_gpt, sample_text


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m helpers.sample``."""
    p = argparse.ArgumentParser(
        prog="python -m helpers.sample", description="Print text from a trained GPT checkpoint."
    )
    p.add_argument("--checkpoint", default=str(REFERENCE_CHECKPOINT))
    p.add_argument("--prompt", default="Luffy")
    p.add_argument("--max-new-tokens", type=int, default=300)
    p.add_argument("--temperature", type=float, default=0.8, help="0 = always the likeliest")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
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
