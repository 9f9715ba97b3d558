"""Text from a trained GPT checkpoint (episode 06): ``load_gpt`` and ``sample_text``.

Episode 06 uses it for the shipped reference checkpoints (section 7) and for
generation (section 8, "temperature and top-k"; the KV cache in section 10).
Generation uses the KV cache: each new character runs one position through the
model, reusing the keys and values of the ones before. The command line
``python -m helpers.sample`` lives in ``helpers.sample.cli``.
"""

from dataclasses import replace

import torch

from helpers.data import DATA_DIR, CharTokenizer
from helpers.device import choose_device
from helpers.gpt import GPT, GPTConfig
from helpers.multihead import AttentionFn
from helpers.seed import seed_offset
from helpers.train.checkpoints import load_checkpoint

REFERENCE_CHECKPOINT = DATA_DIR / "checkpoints" / "step_2500.pt"  # made by make checkpoints

__all__ = ["REFERENCE_CHECKPOINT", "load_gpt", "sample_text"]


def load_gpt(
    path: str, device: str = "cpu", attention_fn: AttentionFn | None = None
) -> tuple[GPT, CharTokenizer, dict]:
    """Rebuild the GPT and its tokenizer from a checkpoint written by ``helpers.train``.

    attention_fn: run the trained model's attention through this function (for
    example a learner's own ``fn(q, k, v, mask) -> (out, weights)``) instead of the
    fused kernel; the weights are the checkpoint's either way.
    """
    ckpt = load_checkpoint(path)
    if ckpt.get("model_config") is None:
        raise ValueError(f"{path} holds no GPT config; was it written for another model?")
    chars = ckpt.get("extra", {}).get("chars")
    if chars is None:
        raise ValueError(
            f"{path} holds no vocabulary (extra['chars']); write it with helpers.train"
        )
    config = GPTConfig.from_dict(ckpt["model_config"])
    if attention_fn is not None:
        config = replace(config, attention="written")
    model = GPT(config, attention_fn=attention_fn)
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
    """The prompt followed by ``max_new_tokens`` generated characters.

    The draws come from a generator seeded with ``seed`` plus HELPERS_SEED_OFFSET (as
    ``helpers.set_seed`` does), so ``make test-seeds`` samples other text too.
    """
    if not prompt:
        raise ValueError("the prompt must not be empty (the model needs a first character)")
    device = next(model.parameters()).device
    idx = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)  # (1, T)
    gen = torch.Generator(device=device).manual_seed(seed + seed_offset())
    out = model.generate(
        idx, max_new_tokens, temperature, top_k, use_cache=use_cache, generator=gen
    )
    return tokenizer.decode(out[0])
