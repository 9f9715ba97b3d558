"""The pure functions behind the notebooks' ipywidgets explorers.

A widget in a notebook only wires sliders and dropdowns to one of these
functions, so what it shows is computed by code that ``tests/test_widgets.py``
checks. Each episode's functions sit in their own section below.
"""

# --- Episode 01: RNN vs transformer -------------------------------------------------

# --- Episode 02: attention by hand --------------------------------------------------

# --- Episode 03: multi-head attention and masks -------------------------------------

# --- Episode 04: positional encoding ------------------------------------------------

# --- Episode 05: the transformer block ----------------------------------------------

# --- Episode 06: the GPT on One Piece -----------------------------------------------
