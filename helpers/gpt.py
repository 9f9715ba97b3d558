"""A GPT: token and position embeddings, a stack of causal blocks, a tied LM head (episode 06).

Episode 06 builds it (section 5, "the model"; generation in section 8, the KV cache in
section 10). Everything here was built in an earlier episode: attention (02), multi-head
attention (03), positional encodings (04), the block (05). This module puts them
together with a validated configuration, a loss, and generation with a KV cache.
"""

import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from helpers.blocks import TransformerBlock
from helpers.multihead import AttentionFn, KVCache
from helpers.positional import positional_module


@dataclass
class GPTConfig:
    """The shape of a GPT. Checked on creation: a bad value fails here, not mid-training."""

    vocab_size: int = 80
    block_size: int = 128  # longest context the model sees
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    position: str = "learned"  # 'learned', 'sinusoidal' or 'none'
    gelu: str = "exact"  # 'exact' or 'tanh' (the approximation GPT-2 uses)
    attention: str = "fused"  # 'fused' (F.scaled_dot_product_attention) or 'written' out

    # fields that choose how to compute, not what: the same weights fit either value
    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = ("attention",)

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.position not in ("learned", "sinusoidal", "none"):
            raise ValueError(
                f"GPTConfig.position must be 'learned', 'sinusoidal' or 'none', got {self.position!r}"
            )
        if self.attention not in ("fused", "written"):
            raise ValueError(
                f"GPTConfig.attention must be 'fused' or 'written', got {self.attention!r}"
            )
        if self.gelu not in ("exact", "tanh"):
            raise ValueError(f"GPTConfig.gelu must be 'exact' or 'tanh', got {self.gelu!r}")

    def to_dict(self) -> dict:
        """The config as a plain dict (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        """Rebuild a config from ``to_dict``'s output; unknown keys are an error.

        Keys missing from ``d`` (fields added after it was written) take their defaults.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields: {sorted(unknown)}")
        return cls(**d)


class GPT(nn.Module):
    """A decoder-only transformer language model.

    attention_fn: run every layer's attention through this function instead of
    ``helpers.attention.scaled_dot_product_attention`` (needs ``config.attention ==
    'written'``; see ``helpers.multihead``), e.g. to try a learner's own in a trained model.
    """

    def __init__(self, config: GPTConfig, attention_fn: AttentionFn | None = None):
        super().__init__()
        self.config = c = config
        if attention_fn is not None and c.attention != "written":
            raise ValueError(
                f"attention_fn is the written-out path; this config's attention is "
                f"{c.attention!r}: use dataclasses.replace(config, attention='written')"
            )
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = positional_module(c.position, c.n_embd, c.block_size)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                c.n_embd,
                c.n_head,
                dropout=c.dropout,
                causal=True,
                bias=c.bias,
                gelu=c.gelu,
                fused=c.attention == "fused",
                attention_fn=attention_fn,
            )
            for _ in range(c.n_layer)
        )
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied: one matrix reads and writes tokens
        self.apply(self._init_weights)
        # the projections that write into the residual stream get a smaller init, so the
        # stream's variance does not grow with depth (GPT-2's scheme)
        for name, p in self.named_parameters():
            if name.endswith("attn.out.weight") or name.endswith("ffn.down.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = False) -> int:
        """Number of parameters (the tied head counted once); optionally without embeddings."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel()
            if self.config.position == "learned":
                n -= self.pos_emb.table.weight.numel()
        return n

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        caches: list[KVCache] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Token ids (B, T) -> logits (B, T, V), and the mean cross-entropy when targets are given.

        caches: one KVCache per layer; positions continue after what they already hold.
        """
        logits, loss, _ = self._run(idx, targets, caches, need_weights=False)
        return logits, loss

    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Attention weights of every layer and head: (B, n_layer, n_head, T, T)."""
        _, _, maps = self._run(idx, None, None, need_weights=True)
        return torch.stack(maps, dim=1)

    def _run(self, idx, targets, caches, need_weights):
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        B, T = idx.shape
        past = len(caches[0]) if caches else 0
        if past + T > self.config.block_size:
            raise ValueError(
                f"sequence of {past + T} tokens is longer than block_size {self.config.block_size}"
            )
        if caches is not None and len(caches) != self.config.n_layer:
            raise ValueError(
                f"need one KVCache per layer ({self.config.n_layer}), got {len(caches)}"
            )
        x = self.tok_emb(idx)  # (B, T, C)
        if self.pos_emb is not None:
            x = x + self.pos_emb(
                torch.arange(past, past + T, device=idx.device)
            )  # (T, C) broadcast
        x = self.drop(x)
        maps = []
        for i, block in enumerate(self.blocks):
            x, w = block(x, need_weights=need_weights, cache=None if caches is None else caches[i])
            maps.append(w)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss, maps

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend idx (B, T) by ``max_new_tokens`` sampled tokens; temperature 0 means greedy.

        The context is cropped to the last block_size tokens. With ``use_cache`` the
        keys and values of earlier positions are kept, so each step runs one token;
        when the context is full the cache is rebuilt from the cropped context, which
        gives exactly the tokens of generation without a cache.
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be a positive int or None, got {top_k}")
        bs = self.config.block_size
        caches = None
        for _ in range(max_new_tokens):
            if use_cache and caches is not None and len(caches[0]) < bs:
                logits, _ = self(idx[:, -1:], caches=caches)  # one new token: (B, 1, V)
            else:
                context = idx[:, -bs:]
                caches = [KVCache() for _ in self.blocks] if use_cache else None
                logits, _ = self(context, caches=caches)
            next_id = sample_next(logits[:, -1, :], temperature, top_k, generator)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)
        return idx


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from logits (B, V): (B, 1). Temperature 0 takes the argmax."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    probs = next_token_probs(logits, temperature, top_k)
    return torch.multinomial(probs, num_samples=1, generator=generator)


def next_token_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None
) -> torch.Tensor:
    """Softmax of logits / temperature, keeping only the top_k largest (the rest get 0)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for a distribution, got {temperature}")
    logits = logits / temperature
    if top_k is not None:
        k = min(top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)
