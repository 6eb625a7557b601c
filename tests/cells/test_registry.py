"""The registry holds every cell of the notes."""

from __future__ import annotations

import pytest

import rnnkit

# The cells of the notes: the registry must hold each of them.
NOTES_CELLS = [
    "rnn_tanh", "rnn_relu", "irnn",
    "lstm", "peephole_lstm", "cifg_lstm", "lstm_nig", "lstm_nfg", "lstm_nog", "lstm_niaf", "lstm_noaf",
    "gru", "gru_cho", "mut1", "mut2", "mut3", "ln_lstm", "ln_gru",
]


@pytest.mark.parametrize("name", NOTES_CELLS)
def test_every_cell_of_the_notes_is_registered(name):
    assert name in rnnkit.cell_names()


@pytest.mark.parametrize("name", NOTES_CELLS)
def test_every_cell_documents_its_equations(name):
    cls = rnnkit.get_cell_class(name)
    assert cls.summary and cls.__doc__ and cls.name == name


def test_register_cell_refuses_non_cells():
    with pytest.raises(TypeError, match="subclass of rnnkit.cells.Cell"):
        rnnkit.register_cell(int)
