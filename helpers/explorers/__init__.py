"""The computations behind the notebooks' ipywidgets explorers: one module per episode.

The one contract every explorer follows:

1. A function computes a *view*: ``view = head_view(...)`` returns a small
   ``@dataclass(frozen=True)`` that holds everything the explorer shows, tensors
   included, and has a ``summary() -> str`` method: the line printed under the
   figure, wrapped to 88 characters by ``common.wrap_summary``.
2. A function draws that view: ``plot_<name>(view, ax)`` draws on the matplotlib
   ``ax`` it is given (a view with several panels takes ``axes``, one per panel;
   with none given it makes a figure of its own) and returns the Figure. Every
   attention picture goes through ``helpers.plots.plot_attention``.
3. The notebook's ipywidgets cell only wires controls to these two functions:
   compute the view from the controls' values, draw it, print ``view.summary()``.

So a new episode's explorer goes in a new module ``epNN.py`` (episode 07's in
``ep07.py``) with the same shape, and its tests in ``tests/test_explorers_epNN.py``.
An episode's module imports from ``common`` and ``helpers.plots``, never from another
episode's module.

Modules:

- ``common``  ``wrap_summary``/``SUMMARY_WIDTH``, ``check_index``, ``one_head`` (a GPT head)
- ``ep00``    00_pytorch_primer: word similarities through a softmax with a temperature
- ``ep01``    01_rnn_vs_transformer: gradient influence per position; a trained GPT's head
- ``ep02``    02_attention_by_hand: one query against every key, with a temperature
- ``ep03``    03_multi_head_attention: one head under a padding and/or causal mask
- ``ep04``    04_positional_encoding: the sinusoidal encoding; a reversal model's head
- ``ep05``    05_transformer_block: attention and the residual stream through a stack
- ``ep06``    06_gpt_one_piece: next-character distribution and sampling; what a head does
- ``ep07``    07_pretrained: one head of the attention-only model on a repeated string
"""
