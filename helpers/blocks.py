"""The transformer block and what it is made of (episode 05).

Episode 05 builds it: the feed-forward network (section 3), the whole block (section
4), residuals and LayerNorm in a deep stack (section 5), the decoder block,
cross-attention and the tiny encoder-decoder (section 7).

Pre-LayerNorm: ``x = x + attn(ln1(x)); x = x + ffn(ln2(x))``. Switches turn the
residual connections and the LayerNorms off, for the experiment that shows why
deep stacks need them. A decoder block adds cross-attention, whose queries come
from the decoder and whose keys and values come from the encoder's output.
"""

import torch
from torch import nn

from helpers.multihead import AttentionFn, KVCache, MultiHeadAttention
from helpers.positional import positional_module


class FeedForward(nn.Module):
    """Position-wise MLP: the same two layers applied to every token on its own."""

    def __init__(
        self,
        d_model: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        gelu: str = "exact",
    ):
        super().__init__()
        if gelu not in ("exact", "tanh"):
            raise ValueError(f"gelu must be 'exact' or 'tanh' (GPT-2's), got {gelu!r}")
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.act = nn.GELU(approximate="none" if gelu == "exact" else "tanh")
        self.down = nn.Linear(d_ff, d_model, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C)."""
        return self.drop(self.down(self.act(self.up(x))))  # (B, T, d_ff) in between


class TransformerBlock(nn.Module):
    """Pre-LN block: self-attention then feed-forward, each with a residual add.

    post_ln=True gives the 2017 paper's post-LN block instead, ``x = ln1(x + attn(x));
    x = ln2(x + ffn(x))``, for episode 05's comparison (section 5).
    fused, attention_fn: the attention path, as in ``MultiHeadAttention``.
    """

    def __init__(
        self,
        d_model: int,
        n_head: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        causal: bool = False,
        residual: bool = True,
        norm: bool = True,
        bias: bool = True,
        gelu: str = "exact",
        fused: bool = True,
        attention_fn: AttentionFn | None = None,
        post_ln: bool = False,
    ):
        super().__init__()
        if post_ln and not norm:
            raise ValueError("post_ln=True places the LayerNorms; it needs norm=True")
        self.causal, self.residual, self.post_ln = causal, residual, post_ln
        self.ln1 = nn.LayerNorm(d_model, bias=bias) if norm else nn.Identity()
        self.attn = MultiHeadAttention(
            d_model, n_head, dropout=dropout, bias=bias, fused=fused, attention_fn=attention_fn
        )
        self.ln2 = nn.LayerNorm(d_model, bias=bias) if norm else nn.Identity()
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout, bias=bias, gelu=gelu)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, C) -> (B, T, C), and the attention weights (B, n_head, T, T_k) on request."""
        if self.post_ln:  # LayerNorm after each residual add: the stream itself is normalised
            a, weights = self.attn(
                x, mask=mask, causal=self.causal, need_weights=need_weights, cache=cache
            )
            x = self.ln1(x + self.drop(a) if self.residual else self.drop(a))
            f = self.ffn(x)
            return self.ln2(x + f if self.residual else f), weights
        a, weights = self.attn(
            self.ln1(x), mask=mask, causal=self.causal, need_weights=need_weights, cache=cache
        )
        x = x + self.drop(a) if self.residual else self.drop(a)
        f = self.ffn(self.ln2(x))
        x = x + f if self.residual else f
        return x, weights


class DecoderBlock(nn.Module):
    """Causal self-attention, then cross-attention to the encoder, then feed-forward (pre-LN)."""

    def __init__(self, d_model: int, n_head: int, d_ff: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, n_head, dropout=dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.cross_attn = MultiHeadAttention(d_model, n_head, dropout=dropout)
        self.ln3 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: decoder states (B, T, C); memory: encoder output (B, S, C).

        Returns (B, T, C) and, on request, the cross-attention weights (B, n_head, T, S).
        memory_mask: boolean (B, 1, S) or broadcastable, True where a source position is real.
        """
        a, _ = self.self_attn(self.ln1(x), causal=True)
        x = x + a
        c, cross = self.cross_attn(
            self.ln2(x), memory=memory, mask=memory_mask, need_weights=need_weights
        )
        x = x + c
        return x + self.ffn(self.ln3(x)), cross


class EncoderDecoder(nn.Module):
    """A tiny encoder-decoder transformer for toy sequence-to-sequence tasks."""

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 32,
        n_head: int = 2,
        n_layer: int = 1,
        max_len: int = 32,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, d_model)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model)
        self.pos = positional_module("learned", d_model, max_len)
        self.encoder = nn.ModuleList(
            TransformerBlock(d_model, n_head, dropout=dropout) for _ in range(n_layer)
        )
        self.enc_ln = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(
            DecoderBlock(d_model, n_head, dropout=dropout) for _ in range(n_layer)
        )
        self.dec_ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, tgt_vocab)

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """Source tokens (B, S) -> encoder output (B, S, C); no mask: every token sees all."""
        x = self.src_emb(src) + self.pos(torch.arange(src.shape[1], device=src.device))
        for block in self.encoder:
            x, _ = block(x)
        return self.enc_ln(x)

    def decode(
        self, tgt: torch.Tensor, memory: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Target tokens so far (B, T) -> logits (B, T, V) and each layer's cross-attention."""
        x = self.tgt_emb(tgt) + self.pos(torch.arange(tgt.shape[1], device=tgt.device))
        cross = []
        for block in self.decoder:
            x, w = block(x, memory, need_weights=need_weights)
            cross.append(w)
        return self.head(self.dec_ln(x)), cross

    def forward(
        self, src: torch.Tensor, tgt_in: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) for the next target token, and the loss when targets are given."""
        logits, _ = self.decode(tgt_in, self.encode(src))
        loss = None
        if targets is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, bos: int, steps: int) -> torch.Tensor:
        """Generate ``steps`` target tokens after ``bos`` by taking the likeliest each time."""
        memory = self.encode(src)
        out = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
        for _ in range(steps):
            logits, _ = self.decode(out, memory)
            out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return out[:, 1:]
