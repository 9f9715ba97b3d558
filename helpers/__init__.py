"""Transformers from scratch: the model code the course's episodes build.

Code that several episodes reuse is named by concept; code that belongs to one
notebook (its explorers, its exercises) is named by episode. Each module's docstring
names the episode and section that teaches it.

By concept, in the order the course builds them:

- ``seed``         ``set_seed``: every random step of every episode goes through it
- ``device``       ``choose_device`` (cuda > mps > cpu) and ``DEVICE_CHOICES``
- ``rnn``          the character-level RNN/LSTM baseline (episode 01)
- ``attention``    scaled dot-product attention, causal and padding masks (episode 02)
- ``multihead``    multi-head attention, a fused Q/K/V projection, the KV cache (episode 03)
- ``positional``   sinusoidal and learned positional encodings (episode 04)
- ``blocks``       feed-forward, transformer blocks, a tiny encoder-decoder (episode 05)
- ``gpt``          ``GPTConfig`` and ``GPT`` (episode 06)
- ``data``         the corpus loader, ``CharTokenizer``, batches (episode 06)
- ``tasks``        the toy tasks episodes 02-05 train on, ``IGNORE_INDEX``
- ``train/``       the training loop (``loop``), ``history``, ``checkpoints``, ``distributed``,
                   ``presets`` and the ``python -m helpers.train`` command line (``cli``)
- ``sample/``      ``load_gpt`` and ``sample_text``; ``python -m helpers.sample`` (``cli``)
- ``pretrained``   GPT-2's weights in the course's ``GPT`` (episode 07)
- ``induction``    repeated random tokens and induction heads (episode 07)
- ``plots``        ``plot_attention``, ``plot_losses``, ``plot_heatmap``: every figure's style
- ``diagrams``     data-flow diagrams: ``plot_qkv_flow``, one head's Q/K/V flow (episode 02);
                   ``plot_dependencies``, an RNN's chain vs attention's direct reads (episode 01);
                   ``plot_head_split``, (B, T, C) cut into heads by view + transpose (episode 03)
- ``profiling``    what a computation costs: ``critical_path`` (longest chain of operations),
                   ``best_time``, ``interleaved_best_times``, ``peak_bytes`` (episode 01)

By episode:

- ``explorers/``   the views behind the notebooks' ipywidgets explorers: ``ep00`` ... ``ep07``
                   and ``common`` (the contract is at the top of ``explorers/__init__.py``)
- ``exercises/``   the "Your turn" exercises and ``check(name, fn)``: ``ep00`` ... ``ep07``
                   and ``core`` (the machinery)

The library never imports a command line, and ``plots`` imports no training code.
"""

from helpers.device import choose_device
from helpers.seed import set_seed

__all__ = ["choose_device", "set_seed"]
