"""Scaled dot-product attention, written out, and the masks that shape it (episode 02).

Episode 02 builds it step by step (section 3) and checks it against PyTorch (section 5);
the causal mask is section 6; the online softmax (one query, keys read block by block)
is section 7; episode 03 adds the padding mask and the sliding-window
mask (section 5).

Convention everywhere in the course: row vectors. A sequence of T tokens with C
features is a (T, C) matrix (or (B, T, C) for a batch), and a projection is
``x @ W``. Masks are boolean with ``True`` where a query MAY look at a key, the
same meaning as a boolean ``attn_mask`` in ``F.scaled_dot_product_attention``.
"""

import math

import torch


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise a ValueError naming the shapes if q, k and v cannot be attended together."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"queries and keys must have the same width d_k: q is {tuple(q.shape)}, "
            f"k is {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"keys and values must have the same length T_k: k is {tuple(k.shape)}, "
            f"v is {tuple(v.shape)}"
        )


def attention_scores(q: torch.Tensor, k: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Return ``q @ k^T``, divided by sqrt(d_k) when ``scale``: (..., T_q, T_k)."""
    scores = q @ k.transpose(-2, -1)  # (..., T_q, d_k) @ (..., d_k, T_k) -> (..., T_q, T_k)
    if scale:
        scores = scores / math.sqrt(q.shape[-1])
    return scores


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    scale: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``softmax(q @ k^T / sqrt(d_k) + mask) @ v`` and the weights.

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v);
    mask: boolean, broadcastable to (..., T_q, T_k), True where attending is allowed.
    Returns out (..., T_q, d_v) and weights (..., T_q, T_k), each row summing to 1.
    Every query needs at least one allowed key (a row with none has no softmax).
    """
    _check_qkv(q, k, v)
    scores = attention_scores(q, k, scale=scale)  # (..., T_q, T_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a boolean tensor (True = may attend), got {mask.dtype}")
        try:
            torch.broadcast_shapes(mask.shape, scores.shape)
        except RuntimeError:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores "
                f"{tuple(scores.shape)} (..., T_q, T_k)"
            ) from None
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., T_q, T_k)
    return weights @ v, weights  # (..., T_q, d_v), (..., T_q, T_k)


def online_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int
) -> torch.Tensor:
    """Return one query's attention output, reading the keys ``block_size`` at a time.

    Episode 02, section 7 ("Your turn 3"): the online softmax inside fused attention
    kernels. q: (d_k,), k: (T_k, d_k), v: (T_k, d_v) -> (d_v,), equal to
    softmax(k @ q / sqrt(d_k)) @ v. Only a running maximum m of the scores, a running
    total of exp(score - m) and a running sum of exp(score - m) * value are kept between
    blocks, so no score is ever exponentiated above 0.
    """
    if q.dim() != 1 or k.dim() != 2 or v.dim() != 2 or k.shape[-1] != q.shape[0]:
        raise ValueError(
            f"expected q (d_k,), k (T_k, d_k), v (T_k, d_v); got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    m = torch.tensor(float("-inf"), dtype=q.dtype)  # running maximum of the scores seen
    total = torch.zeros((), dtype=q.dtype)  # running sum of exp(score - m)
    acc = torch.zeros(v.shape[-1], dtype=v.dtype)  # (d_v,): running sum of exp(score - m) * v
    for start in range(0, k.shape[0], block_size):
        s = k[start : start + block_size] @ q / math.sqrt(q.shape[0])  # (b,) this block's scores
        m_new = torch.maximum(m, s.max())
        rescale = torch.exp(m - m_new)  # the old sums were measured against m, not m_new
        p = torch.exp(s - m_new)  # (b,): every exponent <= 0
        total = total * rescale + p.sum()
        acc = acc * rescale + p @ v[start : start + block_size]  # (b,) @ (b, d_v) -> (d_v,)
        m = m_new
    return acc / total  # (d_v,)


def causal_mask(
    T: int, T_k: int | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Return a (T, T_k) boolean mask where query i may see keys up to its own position.

    With ``T_k > T`` (queries are the last T of T_k positions, as with a KV cache)
    the diagonal is aligned to the bottom right: query i is position ``T_k - T + i``.
    """
    T_k = T if T_k is None else T_k
    if T < 1 or T_k < T:
        raise ValueError(f"causal_mask needs 1 <= T <= T_k, got T={T}, T_k={T_k}")
    return torch.ones(T, T_k, dtype=torch.bool, device=device).tril(diagonal=T_k - T)


def padding_mask(lengths: torch.Tensor | list[int], T: int) -> torch.Tensor:
    """Return a (B, 1, T) boolean mask that hides the padding after each sequence's length.

    Broadcasts against (B, T_q, T) weights; every query may see the real tokens only.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(
            f"lengths must be 1-D (one length per sequence), got {tuple(lengths.shape)}"
        )
    if (lengths < 1).any() or (lengths > T).any():
        raise ValueError(f"every length must be in 1..{T}, got {lengths.tolist()}")
    positions = torch.arange(T)  # (T,)
    return (positions[None, :] < lengths[:, None])[:, None, :]  # (B, 1, T)


def sliding_window_mask(
    T: int, window: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Return a (T, T) boolean mask where query i may see keys i - window + 1 .. i only.

    A causal mask cut to a band of ``window`` keys (the query's own included): local,
    or sliding-window, attention. Each row allows min(i + 1, window) keys, so the mask
    allows T * window - window * (window - 1) / 2 pairs once T >= window, not T(T + 1) / 2.
    """
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be a positive int (keys per query), got {window!r}")
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    # on the diagonal and up to window - 1 below it
    return causal_mask(T, device=device).triu(diagonal=-(window - 1))
