"""Toy tasks that the episodes train small models on, as ``get_batch`` functions.

Each task returns batches in the form ``helpers.train.train`` expects:
``get_batch(split, batch_size, generator) -> (inputs..., targets)``.
Each episode's tasks sit in their own section below.
"""

# --- Episode 01: RNN vs transformer -------------------------------------------------

# --- Episode 02: attention by hand --------------------------------------------------

# --- Episode 03: multi-head attention and masks -------------------------------------

# --- Episode 04: positional encoding ------------------------------------------------

# --- Episode 05: the transformer block ----------------------------------------------
