"""Transformers from scratch: the model code the course's episodes build.

One module per idea, each named after what it holds and naming the episode
that teaches it:

- ``attention``   scaled dot-product attention, causal and padding masks (episode 02)
- ``multihead``   multi-head attention with a fused Q/K/V projection and a KV cache (episode 03)
- ``positional``  sinusoidal and learned positional encodings (episode 04)
- ``blocks``      feed-forward, transformer blocks, a tiny encoder-decoder (episode 05)
- ``rnn``         the character-level RNN/LSTM baseline (episode 01)
- ``gpt``         ``GPTConfig`` and ``GPT`` (episode 06)
- ``data``        the corpus loader, ``CharTokenizer``, batches (episode 06)
- ``train``       the training loop, checkpoints, the ``python -m helpers.train`` CLI
- ``plots``       ``plot_attention``, ``plot_losses``, ``plot_heatmap``
- ``explorers``   the views behind the notebooks' ipywidgets explorers, one module per episode
- ``seed``        ``set_seed``; ``device`` picks cuda > mps > cpu
"""

from helpers.device import choose_device
from helpers.seed import set_seed

__all__ = ["choose_device", "set_seed"]
