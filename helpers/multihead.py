"""Multi-head attention: one fused Q/K/V projection split into heads by reshape (episode 03).

Episode 03 builds it (section 4, "one matrix, cut into heads by a reshape"; masks in
section 5); episode 06 adds the KV cache (section 10). A layer
has one W_Q, W_K, W_V and W_O, each (d_model, d_model); the heads come from reshaping
the projected (B, T, d_model) into (B, n_head, T, d_model // n_head). That is the same
as n_head separate small heads whose outputs are concatenated.

Two paths compute the attention itself, chosen when the layer is built: ``fused=True``
calls ``F.scaled_dot_product_attention`` (PyTorch's kernel, which on a GPU never stores
the T x T weights) whenever the weights are not asked for; otherwise the layer calls
its ``attention_fn``, by default episode 02's written-out
``helpers.attention.scaled_dot_product_attention``. Any function with that signature,
``fn(q, k, v, mask) -> (out, weights)``, can be given instead, e.g. a learner's own,
to run inside a trained model (``GPT(config, attention_fn=fn)``).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from helpers.attention import causal_mask, scaled_dot_product_attention

# q, k, v (B, nh, T, hs), (B, nh, T_k, hs), (B, nh, T_k, hs); mask broadcastable to
# (B, nh, T, T_k) or None -> out (B, nh, T, hs), weights (B, nh, T, T_k)
AttentionFn = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None],
    tuple[torch.Tensor, torch.Tensor],
]


@dataclass
class KVCache:
    """Keys and values of the positions seen so far, each (B, n_head, T_past, head_size)."""

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new positions' keys and values; return all keys and values so far."""
        if self.k is None:
            self.k, self.v = k, v
        else:
            self.k = torch.cat([self.k, k], dim=-2)  # (B, nh, T_past + T, hs)
            self.v = torch.cat([self.v, v], dim=-2)
        return self.k, self.v


class MultiHeadAttention(nn.Module):
    """Self- or cross-attention with ``n_head`` heads of size ``d_model // n_head``.

    fused: use ``F.scaled_dot_product_attention`` when the weights are not needed.
    attention_fn: the written-out path (default: helpers.attention's); giving one
    requires ``fused=False``, so that it really is the function that runs.
    """

    def __init__(
        self,
        d_model: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = True,
        fused: bool = True,
        attention_fn: AttentionFn | None = None,
    ):
        super().__init__()
        if attention_fn is not None and fused:
            raise ValueError(
                "attention_fn replaces the written-out path, which fused=True skips "
                "whenever the weights are not needed: pass fused=False with it"
            )
        if d_model < 1 or n_head < 1:
            raise ValueError(f"d_model and n_head must be positive, got {d_model} and {n_head}")
        if d_model % n_head != 0:
            raise ValueError(
                f"d_model ({d_model}) must be divisible by n_head ({n_head}) so every head "
                f"gets the same width"
            )
        self.d_model, self.n_head, self.head_size = d_model, n_head, d_model // n_head
        # rows [0:C) are W_Q, [C:2C) W_K, [2C:3C) W_V: the layout of nn.MultiheadAttention's
        # in_proj_weight, so its weights can be copied straight in
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)  # W_O
        self.dropout = dropout
        self.fused = fused
        self.attention_fn = scaled_dot_product_attention if attention_fn is None else attention_fn

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, n_head, T, head_size)."""
        B, T, C = x.shape
        return x.view(B, T, self.n_head, self.head_size).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_head, T, head_size) -> (B, T, C): the heads' outputs side by side."""
        B, nh, T, hs = x.shape
        return x.transpose(1, 2).contiguous().view(B, T, nh * hs)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``x`` (B, T, C) to itself, or to ``memory`` (B, S, C) for cross-attention.

        mask: boolean, broadcastable to (B, n_head, T, T_k), True = may attend; a (B, T, T_k)
        mask is given a head axis. causal: each position sees itself and earlier ones.
        cache: a KVCache that this call extends with x's keys and values (generation).
        Returns the output (B, T, C) and, with ``need_weights``, the weights (B, n_head, T, T_k).
        """
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, T, {self.d_model}), got {tuple(x.shape)}")
        C = self.d_model
        if memory is None:
            q, k, v = self.qkv(x).split(C, dim=-1)  # each (B, T, C)
        else:
            if memory.dim() != 3 or memory.shape[0] != x.shape[0] or memory.shape[-1] != C:
                raise ValueError(
                    f"memory must have shape ({x.shape[0]}, S, {C}) to match x "
                    f"{tuple(x.shape)}, got {tuple(memory.shape)}"
                )
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x, w[:C], None if b is None else b[:C])  # queries from x: (B, T, C)
            k, v = F.linear(memory, w[C:], None if b is None else b[C:]).split(
                C, dim=-1
            )  # (B, S, C)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, nh, T_past + T, hs)
        T, T_k = q.shape[-2], k.shape[-2]

        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (B, T, T_k) -> (B, 1, T, T_k): same for every head
        p = self.dropout if self.training else 0.0
        if causal and T == 1:
            causal = False  # one new query (generation with a cache) may see every key so far
        if self.fused and not need_weights and causal and mask is None and T == T_k:
            # the plain causal case: let the fused kernel skip the masked half itself
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
            return self.out(self.merge_heads(y)), None
        if causal:
            tri = causal_mask(T, T_k, device=x.device)  # (T, T_k)
            mask = tri if mask is None else mask & tri
        if self.fused and not need_weights:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        else:
            y, weights = self.attention_fn(q, k, v, mask)  # (B, nh, T, hs), (B, nh, T, T_k)
            if p > 0:
                y = F.dropout(weights, p) @ v
        return self.out(self.merge_heads(y)), weights  # (B, T, C)
