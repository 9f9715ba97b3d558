"""helpers.rnn: the character RNN/LSTM baseline."""

import math

import pytest
import torch

from helpers.rnn import CharRNN


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_shapes_and_initial_loss(cell):
    model = CharRNN(vocab_size=20, d_model=16, cell=cell)
    x = torch.randint(0, 20, (3, 7))
    logits, loss = model(x, torch.randint(0, 20, (3, 7)))
    assert logits.shape == (3, 7, 20)
    assert abs(loss.item() - math.log(20)) < 0.5


def test_rnn_is_causal():
    model = CharRNN(vocab_size=10, d_model=8).eval()
    x = torch.randint(0, 10, (1, 6))
    y = x.clone()
    y[0, 5] = (y[0, 5] + 1) % 10
    assert torch.allclose(model(x)[0][:, :5], model(y)[0][:, :5])


def test_bad_cell():
    with pytest.raises(ValueError, match="'gru'"):
        CharRNN(10, cell="gru")
